"""Throughput and memory of `xview map` on CPU: tiles/s for a tiny CNN and ResNet-18 at 224 px, and
the memory a run adds for rasters of three sizes, each 4x the area of the one before (memory must not
grow with raster size: the figures should plateau, largest / smallest close to 1).

Usage: python benchmarks/bench_map.py [--size-px 4096] [--batch-size 32]
(runs shorter than ~1000 tiles end before the reader's queue reaches its steady state, so the
memory series is 4096^2, 8192^2 and 16384^2 px; ResNet-18 runs on a 2048^2 raster)
Each measurement runs in a fresh process; besides its peak RSS (VmHWM, dominated by importing torch;
not getrusage's maxrss, which in a child counts the parent's RSS at the fork: the parent made the
raster) it samples the RSS the run itself adds above what the process held before it.
Rasters are synthetic (smooth noise, EPSG:32633, 0.5 m); models are random (speed does not depend
on the weights).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


def make_raster(path: Path, size_px: int, gsd: float = 0.5, height_px: int | None = None) -> Path:
    import rasterio
    from affine import Affine

    import xview_engine.raster.crs  # noqa: F401  (rasterio's PROJ database)

    rng = np.random.default_rng(0)
    height_px = height_px or size_px
    profile = {"driver": "GTiff", "width": size_px, "height": height_px, "count": 3, "dtype": "uint8",
               "crs": "EPSG:32633", "transform": Affine(gsd, 0, 500000, 0, -gsd, 5800000),
               "tiled": True, "blockxsize": 256, "blockysize": 256, "compress": "deflate"}
    coarse = rng.integers(0, 256, (3, height_px // 64 + 2, size_px // 64 + 2)).astype(np.float32)
    with rasterio.open(path, "w", **profile) as ds:
        for row in range(0, height_px, 256):  # written in strips: the benchmark itself stays small
            rows = np.arange(row, min(row + 256, height_px)) / 64
            cols = np.arange(size_px) / 64
            r0, c0 = rows.astype(int), cols.astype(int)
            block = coarse[:, r0][:, :, c0] * 0.7 + rng.integers(0, 77, (3, len(rows), size_px))
            ds.write(block.clip(0, 255).astype(np.uint8), window=((row, row + len(rows)), (0, size_px)))
    return path


def make_model(path: Path, backbone: str, options: dict) -> Path:
    from xview_engine.model.crossview import build_model
    from xview_engine.model.file import save_model
    from xview_engine.model.manifest import BackboneSpec, HeadSpec, InputSpec, Manifest

    manifest = Manifest(kind="distill", backbone=BackboneSpec(backbone, options),
                        input=InputSpec(tile_px=224, gsd_m=0.5),
                        heads=(HeadSpec("scene", "dirichlet", tuple(f"c{i}" for i in range(365))),), hidden=256)
    return save_model(build_model(manifest, seed=0), manifest, path)


def _rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def _peak_rss_mb() -> float:
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmHWM:")) / 1024


def child(raster: str, model: str, out_dir: str, batch_size: int) -> None:
    """One run in this process: tiles, seconds, and the RSS the run added at its peak (sampled every 5 ms)."""
    import threading

    import torch  # noqa: F401  (imports are the baseline, not the mapping)

    from xview_engine.mapping.map import MapParams, run_map

    before, peak, running = _rss_mb(), [0.0], threading.Event()
    running.set()

    def sample() -> None:
        while running.is_set():
            peak[0] = max(peak[0], _rss_mb())
            time.sleep(0.005)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    start = time.perf_counter()
    result = run_map(MapParams(raster=raster, model=model, out_dir=out_dir, device="cpu",
                               batch_size=batch_size, overwrite=True))
    seconds = time.perf_counter() - start
    running.clear()
    sampler.join()
    print(json.dumps({"tiles": result.tiles_total, "seconds": seconds, "added_mb": peak[0] - before,
                      "maxrss_mb": _peak_rss_mb()}))


def measure(raster: Path, model: Path, out_dir: Path, batch_size: int) -> dict:
    out = subprocess.run([sys.executable, __file__, "--child", str(raster), str(model), str(out_dir),
                          str(batch_size)], check=True, capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-px", type=int, default=4096, help="side of the smallest raster of the memory series")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--child", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(*args.child[:3], int(args.child[3]))
        return
    sizes = (args.size_px, 2 * args.size_px, 4 * args.size_px)
    with tempfile.TemporaryDirectory(prefix="xview-bench-map-") as tmp:
        tmp = Path(tmp)
        tiny = make_model(tmp / "tiny.safetensors", "tiny_cnn", {"width": 16, "depth": 3})
        resnet = make_model(tmp / "resnet18.safetensors", "resnet18", {})
        runs = {}
        for size in sizes:  # one raster on disk at a time: the largest is ~0.8 GB
            raster = make_raster(tmp / f"r{size}.tif", size)
            runs[f"tiny_cnn, {size}^2 px"] = measure(raster, tiny, tmp / f"o{size}", args.batch_size)
            raster.unlink()
        quick = make_raster(tmp / "quick.tif", args.size_px // 2)  # ResNet-18 is ~10x slower
        runs["resnet18, quarter"] = measure(quick, resnet, tmp / "o-resnet", args.batch_size)
    _report(runs, sizes, args.batch_size)


def _report(runs: dict[str, dict], sizes: tuple[int, ...], batch_size: int) -> None:
    print(f"xview map on CPU ({os.cpu_count()} CPUs), 224 px tiles at 0.5 m, stride 56 m, batch {batch_size}, "
          f"rasters {', '.join(f'{s}^2' for s in sizes)} px (tiny_cnn) and {sizes[0] // 2}^2 px (resnet18):")
    for name, r in runs.items():
        print(f"  {name:22s} {r['tiles']:6d} tiles {r['seconds']:7.1f} s {r['tiles'] / r['seconds']:8.1f} tiles/s"
              f"  peak RSS {r['maxrss_mb']:6.0f} MB, of which the run added {r['added_mb']:5.0f} MB")
    series = [runs[f"tiny_cnn, {s}^2 px"] for s in sizes]
    small, large = series[0], series[-1]
    added = " -> ".join(f"{r['added_mb']:.0f}" for r in series)
    print(f"  memory the run added, by raster size: {added} MB; "
          f"largest / smallest {large['added_mb'] / max(small['added_mb'], 1):.2f} (target ~1: a plateau; "
          f"peak RSS ratio {large['maxrss_mb'] / small['maxrss_mb']:.2f}; tiles ratio "
          f"{large['tiles'] / small['tiles']:.1f})")
    quick = runs["resnet18, quarter"]
    ratio = (quick["tiles"] / quick["seconds"]) / (small["tiles"] / small["seconds"])
    print(f"  speed ratio resnet18 / tiny_cnn: {ratio:.3f}; "
          f"peak RSS resnet18 / tiny_cnn: {quick['maxrss_mb'] / small['maxrss_mb']:.2f}")


if __name__ == "__main__":
    main()
