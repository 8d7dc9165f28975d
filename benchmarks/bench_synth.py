"""Time `xview synth` at full size: a 3 km x 3 km world at 0.5 m with 2000 photos (target < 120 s).

Usage: python benchmarks/bench_synth.py [--out DIR] [--size-m 3000] [--photos 2000]
Prints per-stage and total seconds and the ratio to the 120 s target (below 1.0 is within it).
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time

from xview_engine.synth.params import SynthParams
from xview_engine.synth.world import make_world

TARGET_S = 120.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", help="output folder (default: a temporary folder, removed afterwards)")
    parser.add_argument("--size-m", type=float, default=3000.0)
    parser.add_argument("--gsd", type=float, default=0.5)
    parser.add_argument("--photos", type=int, default=2000)
    args = parser.parse_args()
    out = args.out or tempfile.mkdtemp(prefix="xview-bench-synth-")
    params = SynthParams(seed=0, size_m=args.size_m, gsd=args.gsd, photos=args.photos)
    marks = {}

    def progress(done: int, total: int) -> None:
        marks.setdefault("world built" if done >= total - params.photos else "start", time.perf_counter())

    start = time.perf_counter()
    try:
        make_world(params, out, progress=progress, overwrite=True)
    finally:
        elapsed = time.perf_counter() - start
        if not args.out:
            shutil.rmtree(out, ignore_errors=True)
    built = marks.get("world built", start) - start
    print(f"xview synth {params.size_m:g} m at {params.gsd:g} m, {params.photos} photos, "
          f"{os.cpu_count()} CPUs: {elapsed:.1f} s (world {built:.1f} s, photos + files {elapsed - built:.1f} s); "
          f"ratio to the {TARGET_S:.0f} s target: {elapsed / TARGET_S:.2f}")


if __name__ == "__main__":
    main()
