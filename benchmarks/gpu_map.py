"""`xview map` on CUDA (run by benchmarks/gpu_check.sh on a GPU machine; not part of `make bench`).

ResNet-50 (random weights, 365-class Dirichlet head) at 224 px on a synthetic 8192^2 px raster at
0.5 m (50 % overlap), end to end through ``run_map`` with ``device='cuda'``, against the bare forward
of the same model and batch on the same GPU (float16 autocast, inputs already on the GPU). Prints
tiles/s and the ratio; GPU utilisation is sampled by the shell script around this run.

Usage: python benchmarks/gpu_map.py [--size-px 8192] [--batch-size 64]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def bare_forward(model_path: Path, batch_size: int, seconds: float = 10.0) -> float:
    """Tiles/s of the model alone on CUDA: float16 autocast, inference mode, channels_last, no copies."""
    import torch

    from xview_engine.model.device import autocast_context
    from xview_engine.model.file import load_model

    device = torch.device("cuda")
    model = load_model(model_path, device=device).model.to(memory_format=torch.channels_last)
    x = torch.randn(batch_size, 3, 224, 224, device=device).contiguous(memory_format=torch.channels_last)
    with torch.inference_mode(), autocast_context(device):
        for _ in range(5):
            model(x)
        torch.cuda.synchronize()
        start, n = time.perf_counter(), 0
        while time.perf_counter() - start < seconds:
            model(x)
            n += batch_size
        torch.cuda.synchronize()
    return n / (time.perf_counter() - start)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-px", type=int, default=8192, help="4 900 tiles: long enough on a GPU for the "
                        "start-up (the session, the first batch) to matter little")
    parser.add_argument("--batch-size", type=int, default=64)
    args = parser.parse_args()
    import torch
    from bench_map import make_model, make_raster

    from xview_engine.mapping.map import MapParams, run_map

    if not torch.cuda.is_available():
        print("gpu_map: torch sees no CUDA GPU; nothing measured")
        return 1
    with tempfile.TemporaryDirectory(prefix="xview-gpu-map-") as tmp:
        tmp = Path(tmp)
        model = make_model(tmp / "resnet50.safetensors", "resnet50", {})
        raster = make_raster(tmp / "r.tif", args.size_px)
        lines: list[str] = []
        result = run_map(MapParams(raster=str(raster), model=str(model), out_dir=str(tmp / "o"), device="cuda",
                                   batch_size=args.batch_size, overwrite=True), log=lines.append)
        mapped = result.tiles_total / result.seconds
        bare = bare_forward(model, args.batch_size)
    said = [line for line in lines if "tiles to run" in line or "runtime" in line]  # the grid, the runtime, readers
    print(f"gpu_map: {torch.cuda.get_device_name()} torch {torch.__version__}; " + "; ".join(said))
    print(f"gpu_map: resnet50 224 px, batch {args.batch_size}, {args.size_px}^2 px raster: "
          f"{result.tiles_total} tiles in {result.seconds:.1f} s = {mapped:.1f} tiles/s end to end; "
          f"bare forward {bare:.1f} tiles/s; ratio {mapped / bare:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
