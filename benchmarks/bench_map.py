"""Throughput and memory of the default `xview map` on CPU, as ratios measured in one run.

For ResNet-18 and ResNet-50 at 224 px and the shipped default model: the default `xview map`
(runtime auto, default threads) in tiles/s as a fraction of the fastest bare forward on the same
model and batch (torch and onnxruntime, 1 thread and all cores, one batch at a time; random input,
no reading), its peak memory (VmHWM), and both again with another process keeping one core busy
(``python -c 'while 1: pass'``): the ratio must hold within 10 %. After the sweep the map and the
fastest bare forward run in turn ``--pairs`` times and the median of the pairs' ratios is the
figure (this machine's speed drifts by 10-30 % within minutes). Also printed: one-thread runs side
by side on every core from one session, the ceiling of a light model's map (which runs so). Then
the memory series: the RSS a tiny-CNN run adds for rasters of three sizes, each 4x the area of the
one before (a plateau).

Usage: python benchmarks/bench_map.py [--size-px 4096] [--batch-size 32] [--pairs 3] [--quick] [--models resnet18,...]
Targets (issue 12): map >= 0.95 of the fastest bare forward, loaded ratio within 10 % of the quiet one.
Each measurement runs in a fresh process. Rasters are synthetic bytes (smooth noise, 0.5 m, or the
model's GSD) on a transverse Mercator with scale 1 (CRS units = ground metres, so tiles are read at
native resolution); models are random (speed does not depend on the weights). On a machine shared
with other work the figures are noisy: compare ratios from one run, not runs.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np

EXACT_METRES = "+proj=tmerc +lat_0=0 +lon_0=15 +k=1 +x_0=500000 +y_0=0 +datum=WGS84 +units=m +no_defs"


def make_raster(path: Path, size_px: int, gsd: float = 0.5, height_px: int | None = None) -> Path:
    """Smooth byte noise centred on the central meridian, where the ground scale is 1 to ~1e-10.

    Off it the scale drifts (1 + 2e-7 for an 8 km wide raster placed east of the meridian): the
    strips then miss whole pixels by more than ``NATIVE_TOLERANCE_PX`` and every tile went through
    GDAL's float resampler, which is not the native-resolution read this benchmark means to time.
    """
    import rasterio
    from affine import Affine

    import xview_engine.raster.crs  # noqa: F401  (rasterio's PROJ database)

    rng = np.random.default_rng(0)
    height_px = height_px or size_px
    profile = {"driver": "GTiff", "width": size_px, "height": height_px, "count": 3, "dtype": "uint8",
               "crs": EXACT_METRES, "transform": Affine(gsd, 0, 500000 - size_px * gsd / 2, 0, -gsd, 5800000),
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
    """One default map run in this process: tiles, seconds, the RSS the run added, VmHWM.

    The run's added memory is the kernel's peak (VmHWM, after) less the RSS before: exact, and no
    sampling thread waking every few ms beside the model's pool (it cost the map ~2 % of its speed).
    """
    from xview_engine.mapping.map import MapParams, run_map

    before = _rss_mb()
    first: list[tuple[float, int]] = []  # (time, tiles done) at the first progress call: the start-up's end

    def progress(done: int, total: int) -> None:
        if not first:
            first.append((time.perf_counter(), done))

    start = time.perf_counter()
    result = run_map(MapParams(raster=raster, model=model, out_dir=out_dir, device="cpu",
                               batch_size=batch_size, overwrite=True), progress=progress)
    seconds = time.perf_counter() - start
    peak = _peak_rss_mb()
    started, done_then = first[0] if first else (start, 0)
    print(json.dumps({"tiles": result.tiles_total, "seconds": seconds, "added_mb": peak - before,
                      "maxrss_mb": peak, "runtime": result.metadata["model"]["runtime"],
                      "start_s": started - start,
                      "after_start": (result.tiles_total - done_then) / max(seconds - (started - start), 1e-9)}))


def bare_child(model: str, batch_size: int, runtime: str, threads: int, seconds: float, runs_at_once: int = 1) -> None:
    """The bare forward: one random batch run again and again, no reading; tiles/s after one warm-up batch.

    ``runs_at_once`` > 1: that many threads call the same session side by side (each its own batch).
    """
    from concurrent.futures import ThreadPoolExecutor

    from xview_engine.model.runtime import load_runtime

    loaded = load_runtime(model, runtime, "cpu", threads)
    spec = loaded.manifest.input
    x = np.random.default_rng(0).standard_normal((batch_size, len(spec.bands), spec.tile_px, spec.tile_px))
    batches = [x.astype(np.float32) for _ in range(runs_at_once)]
    loaded.run(batches[0])

    def loop(batch: np.ndarray) -> int:
        n = 0
        while time.perf_counter() - start < seconds:
            loaded.run(batch)
            n += 1
        return n

    start = time.perf_counter()
    with ThreadPoolExecutor(runs_at_once) as pool:
        n = sum(pool.map(loop, batches))
    print(json.dumps({"tiles_per_s": n * batch_size / (time.perf_counter() - start)}))


def _run_child(args: list[str]) -> dict:
    out = subprocess.run([sys.executable, __file__, *args], check=True, capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def measure(raster: Path, model: Path, out_dir: Path, batch_size: int) -> dict:
    return _run_child(["--child", str(raster), str(model), str(out_dir), str(batch_size)])


def bare(model: Path, batch_size: int, seconds: float) -> dict[str, float]:
    """tiles/s of each runtime x thread count (1 and all cores) the machine offers."""
    from xview_engine.model.device import available_cores

    runtimes = ["torch"] + (["onnx"] if importlib.util.find_spec("onnxruntime") else [])
    counts = sorted({1, available_cores()})
    return {f"{r}, {n} thr": bare_one(model, batch_size, r, n, seconds) for r in runtimes for n in counts}


def bare_one(model: Path, batch_size: int, runtime: str, threads: int, seconds: float) -> float:
    return _run_child(["--bare", str(model), str(batch_size), runtime, str(threads), str(seconds)])["tiles_per_s"]


def side_by_side(model: Path, batch_size: int, seconds: float) -> float:
    """tiles/s of one-thread onnxruntime runs on every core at once, from one session (no reading): a ceiling."""
    from xview_engine.model.device import available_cores

    return _run_child(["--bare", str(model), str(batch_size), "onnx", "1", str(seconds),
                       str(available_cores())])["tiles_per_s"]


@contextlib.contextmanager
def one_core_busy() -> Iterator[None]:
    """Another process spinning on one core for the duration."""
    proc = subprocess.Popen([sys.executable, "-c", "while 1: pass"])
    try:
        time.sleep(0.5)
        yield
    finally:
        proc.kill()
        proc.wait()


def speed_runs(tmp: Path, names: list[str], size_px: int, batch_size: int, seconds: float,
               pairs: int) -> dict[str, dict]:
    """Per model and condition: every bare forward once, then ``pairs`` map runs each paired with the fastest."""
    from xview_engine.model.file import read_manifest
    from xview_engine.model.onnx_export import cached_export
    from xview_engine.resources import resource_path

    models = {"resnet18": lambda: make_model(tmp / "resnet18.safetensors", "resnet18", {}),
              "resnet50": lambda: make_model(tmp / "resnet50.safetensors", "resnet50", {}),
              "default": lambda: resource_path("models", "xview-synthetic-default.safetensors")}
    results = {}
    for name in names:
        model = models[name]()
        spec = read_manifest(model).input
        raster = make_raster(tmp / f"speed-{name}.tif", size_px, gsd=spec.gsd_m)
        with contextlib.suppress(ImportError):
            cached_export(model)  # the export is made once, as a first run would: measured runs reuse it
        entry = {}
        for label, context in (("quiet", contextlib.nullcontext), ("one core busy", one_core_busy)):
            with context():
                sweep = bare(model, batch_size, seconds)
                fastest = max(sweep, key=sweep.get)
                runtime, threads = fastest.split(", ")
                runs = []
                for _ in range(pairs):  # map and bare in turn: the ratio of each pair, as the machine's speed drifts
                    m = measure(raster, model, tmp / f"o-{name}", batch_size)
                    b = bare_one(model, batch_size, runtime, int(threads.split()[0]), seconds)
                    runs.append({"map": m, "bare": b, "ratio": m["tiles"] / m["seconds"] / b,
                                 "ratio_after_start": m["after_start"] / b})
                ceiling = side_by_side(model, batch_size, seconds) if importlib.util.find_spec("onnxruntime") else None
                entry[label] = {"sweep": sweep, "fastest": fastest, "runs": runs, "side_by_side": ceiling}
        results[name] = entry
        raster.unlink()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-px", type=int, default=4096, help="side of the speed rasters and of the smallest "
                        "raster of the memory series")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--models", default="resnet18,resnet50,default", help="'' for the memory series only")
    parser.add_argument("--seconds", type=float, default=8.0, help="length of each bare-forward measurement")
    parser.add_argument("--quick", action="store_true", help="no memory series (checking the script)")
    parser.add_argument("--child", nargs=4, help=argparse.SUPPRESS)
    parser.add_argument("--pairs", type=int, default=3, help="map / bare pairs per model and condition")
    parser.add_argument("--bare", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(*args.child[:3], int(args.child[3]))
        return
    if args.bare:
        bare_child(args.bare[0], int(args.bare[1]), args.bare[2], int(args.bare[3]), float(args.bare[4]),
                   int(args.bare[5]) if len(args.bare) > 5 else 1)
        return
    with tempfile.TemporaryDirectory(prefix="xview-bench-map-") as tmp:
        tmp = Path(tmp)
        os.environ["XVIEW_HOME"] = str(tmp / "home")  # the export cache of this run only
        if args.models:
            speed = speed_runs(tmp, args.models.split(","), args.size_px, args.batch_size, args.seconds, args.pairs)
            _report_speed(speed, args.size_px, args.batch_size)
        if not args.quick:
            _memory_series(tmp, args.size_px, args.batch_size)


def _report_speed(speed: dict[str, dict], size_px: int, batch_size: int) -> None:
    print(f"default xview map vs the fastest bare forward, CPU ({os.cpu_count()} CPUs), {size_px}^2 px raster "
          f"at the model's GSD, half-tile stride, batch {batch_size}; map and bare run in turn, median of the "
          "pairs' ratios [min-max]:")
    for name, entry in speed.items():
        ratios = {}
        for label, r in entry.items():
            pair_ratios = sorted(run["ratio"] for run in r["runs"])
            ratios[label] = float(np.median(pair_ratios))
            rates = [run["map"]["tiles"] / run["map"]["seconds"] for run in r["runs"]]
            bares = [run["bare"] for run in r["runs"]]
            sweep = ", ".join(f"{k} {v:.1f}" for k, v in r["sweep"].items())
            last = r["runs"][-1]["map"]
            print(f"  {name:9s} {label:13s} map {np.median(rates):7.1f} tiles/s = {ratios[label]:.2f} "
                  f"[{pair_ratios[0]:.2f}-{pair_ratios[-1]:.2f}] of the fastest bare ({r['fastest']}: "
                  f"{np.median(bares):.1f}; sweep {sweep}); peak RSS {last['maxrss_mb']:.0f} MB; {last['runtime']}")
            after = float(np.median([run["ratio_after_start"] for run in r["runs"]]))
            start_s = float(np.median([run["map"]["start_s"] for run in r["runs"]]))
            print(f"  {'':9s} {'':13s} (after its start-up, {start_s:.2f} s to the first batch done, model load "
                  f"included: {after:.2f} of the bare, which leaves out its own)")
            if r["side_by_side"]:
                print(f"  {'':9s} {'':13s} (one-thread runs side by side on every core, no reading: "
                      f"{r['side_by_side']:.1f} tiles/s; the map is "
                      f"{np.median(rates) / r['side_by_side']:.2f} of that)")
        quiet, busy = ratios["quiet"], ratios["one core busy"]
        print(f"  {name:9s} target map >= 0.95 of bare: {'MET' if quiet >= 0.95 else 'MISS'} ({quiet:.2f}); "
              f"ratio with one core busy {busy / quiet:.2f} of the quiet one "
              f"({'MET' if abs(busy / quiet - 1) <= 0.10 else 'MISS'}, within 10 %)")


def _memory_series(tmp: Path, size_px: int, batch_size: int) -> None:
    sizes = (size_px, 2 * size_px, 4 * size_px)
    tiny = make_model(tmp / "tiny.safetensors", "tiny_cnn", {"width": 16, "depth": 3})
    with contextlib.suppress(ImportError):
        from xview_engine.model.onnx_export import cached_export

        cached_export(tiny)  # as in speed_runs: else the first run alone pays the export (and torch's import)
    runs = {}
    for size in sizes:  # one raster on disk at a time: the largest is ~0.8 GB
        raster = make_raster(tmp / f"r{size}.tif", size)
        runs[size] = measure(raster, tiny, tmp / f"o{size}", batch_size)
        raster.unlink()
    print(f"memory of a tiny_cnn run by raster size ({', '.join(f'{s}^2' for s in sizes)} px):")
    for size, r in runs.items():
        print(f"  {size:6d}^2 px {r['tiles']:6d} tiles {r['tiles'] / r['seconds']:8.1f} tiles/s  peak RSS "
              f"{r['maxrss_mb']:6.0f} MB, of which the run added {r['added_mb']:5.0f} MB")
    small, large = runs[sizes[0]], runs[sizes[-1]]
    print(f"  largest / smallest added {large['added_mb'] / max(small['added_mb'], 1):.2f} (target ~1: a plateau); "
          f"peak RSS ratio {large['maxrss_mb'] / small['maxrss_mb']:.2f}; tiles ratio "
          f"{large['tiles'] / small['tiles']:.1f}")


if __name__ == "__main__":
    main()
