"""Science check of issue 6: does modelling the distribution localize photos better than the mean?

On a seeded synthetic world (spatial train / val / test blocks) this trains, with the project's own
trainer (``xview_engine.training``, the same code as `xview train distill`), two models with the
same encoder, recipe and data: the distillation model (Dirichlet heads for the categorical label
spaces ``scene`` and ``object``, Poisson for ``count``) and the mean-only baseline (softmax means
fitted by squared error, the same Poisson count head). Each model indexes the whole overhead
raster; the held-out test photos (true label distributions from the world's label file) are then
ranked by `xview evaluate`'s code: the Dirichlet model by log-likelihood, the baseline's
categorical heads by squared distance to the predicted mean. Reported: top-1 %, median rank,
top-1/5/10 per head, all heads combined and scene+object combined (a squared distance and a
log-likelihood do not add up meaningfully, so the baseline's fair combination is the categorical
heads alone), against the expected random ranking.

    .venv/bin/python benchmarks/science_localization.py [--out bench_out/science] [--size-m 1200] ...

Everything is seeded. An existing --out folder is refused unless --reuse is given, in which case its world,
models and indexes are reused as they are (they may come from older code: reuse only to re-evaluate).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from xview_engine.localization.build import IndexParams, build_index
from xview_engine.localization.evaluate import EvaluateParams, evaluate
from xview_engine.synth.params import SynthParams
from xview_engine.synth.world import make_world
from xview_engine.training.distill import DistillParams
from xview_engine.training.run import distill_from_files


def parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="bench_out/science_localization")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--size-m", type=float, default=1200.0)
    parser.add_argument("--gsd", type=float, default=1.0)
    parser.add_argument("--photos", type=int, default=1500)
    parser.add_argument("--tile-px", type=int, default=32)
    parser.add_argument("--model-gsd", type=float, default=2.0)
    parser.add_argument("--stride-m", type=float, default=16.0)
    parser.add_argument("--backbone", default="tiny_cnn")
    parser.add_argument("--width", type=int, default=24)
    parser.add_argument("--epochs-pretrain", type=int, default=8)
    parser.add_argument("--epochs-heads", type=int, default=8)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--reuse", action="store_true", help="reuse the world, models and indexes already in --out")
    return parser.parse_args()


def world(args: argparse.Namespace, out: Path) -> Path:
    folder = out / "world"
    if not (folder / "labels.npz").exists():
        make_world(SynthParams(seed=args.seed, size_m=args.size_m, gsd=args.gsd, photos=args.photos), folder)
    return folder


def train(args: argparse.Namespace, folder: Path, path: Path, baseline: bool) -> Path:
    if path.exists():
        return path
    options = {"width": args.width} if args.backbone == "tiny_cnn" else {}
    params = DistillParams(backbone=args.backbone, backbone_options=options, tile_px=args.tile_px,
                           gsd_m=args.model_gsd, hidden=256, baseline=baseline, epochs_pretrain=args.epochs_pretrain,
                           epochs_heads=args.epochs_heads, seed=args.seed)
    distill_from_files(folder / "pairs.csv", folder / "labels.npz", path, params, raster=folder / "overhead.tif",
                       device=args.device, overwrite=True)
    return path


def index(args: argparse.Namespace, folder: Path, model: Path, path: Path) -> Path:
    if not path.exists():
        build_index(IndexParams(raster=str(folder / "overhead.tif"), model=str(model), out=str(path),
                                stride_m=args.stride_m, device=args.device))
    return path


def main() -> int:
    args = parse()
    out = Path(args.out)
    if out.exists() and any(out.iterdir()) and not args.reuse:
        print(f"science_localization: {out} already holds a run (perhaps made by older code); "
              "pass --reuse to re-evaluate it, or choose another --out", file=sys.stderr)
        return 2
    out.mkdir(parents=True, exist_ok=True)
    timings: dict[str, float] = {}
    t = time.perf_counter()
    folder = world(args, out)
    timings["world_s"] = time.perf_counter() - t
    reports = {}
    for name, baseline in (("distribution", False), ("mean_only", True)):
        t = time.perf_counter()
        model = train(args, folder, out / f"{name}.safetensors", baseline)
        timings[f"train_{name}_s"] = time.perf_counter() - t
        idx = index(args, folder, model, out / f"{name}.index")
        reports[name] = evaluate(EvaluateParams(str(idx), str(folder / "pairs.csv"), str(out / f"{name}_report"),
                                                labels=str(folder / "labels.npz"), split="test", overwrite=True))
        # squared distances (<= 2) and Poisson log-likelihoods (hundreds) do not add up meaningfully,
        # so the categorical heads are also combined on their own
        categorical = evaluate(EvaluateParams(str(idx), str(folder / "pairs.csv"), str(out / f"{name}_report_sc_ob"),
                                              labels=str(folder / "labels.npz"), split="test",
                                              heads=("scene", "object"), overwrite=True))
        reports[name]["metrics"]["scene+object"] = categorical["metrics"]["combined"]
    summary = summarize(reports, vars(args), timings)
    (out / "science_localization.json").write_text(json.dumps(summary, indent=2), encoding="utf-8")
    print_table(summary)
    return 0


def summarize(reports: dict, settings: dict, timings: dict) -> dict:
    first = next(iter(reports.values()))
    table = {model: {head: {k: m[k] for k in ("top_1", "top_5", "top_10", "top_1pct", "median_rank", "mean_rank")}
                     for head, m in report["metrics"].items()} for model, report in reports.items()}
    return {"settings": settings, "timings": timings, "test_queries": first["queries_total"],
            "outside_area": first["queries_outside_area"], "candidates": first["candidates"],
            "random_ranking": first["random_ranking"], "results": table}


def print_table(summary: dict) -> None:
    print(f"science check: {summary['test_queries']} held-out test photos ({summary['outside_area']} outside the "
          f"area) ranked among {summary['candidates']:,} tiles")
    print(f"{'model':<14} {'head':<13} {'top-1%':>7} {'median':>8} {'mean':>8} {'top-1':>6} {'top-10':>7}")
    for model, heads in summary["results"].items():
        for head, m in heads.items():
            print(f"{model:<14} {head:<13} {m['top_1pct']:7.3f} {m['median_rank']:8.1f} {m['mean_rank']:8.1f} "
                  f"{m['top_1']:6.3f} {m['top_10']:7.3f}")
    rnd = summary["random_ranking"]
    print(f"{'random':<14} {'':<13} {rnd['top_1pct']:7.3f} {rnd['median_rank']:8.1f} {rnd['median_rank']:8.1f} "
          f"{rnd['top_1']:6.3f}")
    print("timings: " + ", ".join(f"{k} {v:.0f}" for k, v in summary["timings"].items()))


if __name__ == "__main__":
    sys.exit(main())
