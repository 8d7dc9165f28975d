"""How fast the tile readers feed a model that costs nothing: one reader against one per core.

A GPU forwards a ResNet at 224 px faster than one reader thread reads its tiles (decoding, the
table normalisation, the copy into batches), so on CUDA ``device.reader_budget`` readers run side
by side, each on a twin of the source (``mapping.batches``). This measures the feed alone on the
CPU: ``predict_rows`` over a 4096^2 px byte raster at 0.5 m (224 px tiles, half-tile stride, batch
64) with a runner that returns zeros, for 1 reader and for one per core, in turn ``--repeats``
times in this process; prints the medians, the speed-up and what it means for a GPU's tiles/s.

Usage: python benchmarks/bench_readers.py [--size-px 4096] [--repeats 3]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

BATCH = 64


def feed_rate(raster: Path, model: Path, readers: int) -> float:
    """Tiles/s that ``readers`` readers side by side hand to a model that returns at once."""
    from xview_engine.mapping.batches import predict_rows
    from xview_engine.mapping.plan import GridParams, open_grid
    from xview_engine.model.file import read_manifest

    manifest = read_manifest(model)
    spec = manifest.input

    def nothing(tiles: np.ndarray) -> dict[str, np.ndarray]:
        return {"scene": np.zeros((len(tiles), 1), np.float32)}

    with open_grid(GridParams(raster=str(raster), model=str(model)), manifest) as plan:
        start = time.perf_counter()
        for _ in predict_rows(plan.source, plan.grid, nothing, spec.mean, spec.std, BATCH, readers=readers):
            pass
        return plan.grid.count / (time.perf_counter() - start)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-px", type=int, default=4096)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    from bench_map import make_model, make_raster

    from xview_engine.model.device import GPU_READERS_MAX, available_cores

    many = max(2, min(GPU_READERS_MAX, available_cores()))
    with tempfile.TemporaryDirectory(prefix="xview-bench-readers-") as tmp:
        raster = make_raster(Path(tmp) / "r.tif", args.size_px)
        model = make_model(Path(tmp) / "m.safetensors", "tiny_cnn", {"width": 8, "depth": 2})  # its tiles: 224 px
        feed_rate(raster, model, 1)  # the file in the page cache, the modules imported
        rates: dict[int, list[float]] = {1: [], many: []}
        for _ in range(args.repeats):
            for readers in rates:
                rates[readers].append(feed_rate(raster, model, readers))
    one, side = (float(np.median(rates[n])) for n in (1, many))
    print(f"tile readers feeding a model that costs nothing, 224 px tiles at 0.5 m, {args.size_px}^2 px, batch "
          f"{BATCH}, {available_cores()} cores, medians of {args.repeats} alternating runs:")
    for readers, values in rates.items():
        print(f"  {readers} reader{'s' if readers > 1 else ' '}  {np.median(values):7.0f} tiles/s  (runs: "
              f"{', '.join(f'{v:.0f}' for v in values)})")
    print(f"  {many} readers side by side feed {side / one:.2f}x one reader: a GPU forwarding more than {one:.0f} "
          "tiles/s needs several (device.reader_budget)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
