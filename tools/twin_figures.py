"""The README's twin table: twin network vs distillation likelihood vs random on one held-out world.

One synthetic world (seed 11: neither the training worlds, seeds 0, nor the demo's, 7) is made four
times with the same land and photo spots and headings, photographed as 360-degree panoramas, as
180-degree cylindrical crops and as 90- and 70-degree perspective photos. Both shipped models index
the same overhead raster at the same stride (the same candidate tile centres), and ``xview evaluate``
ranks every photo's true tile: the twin index with the photos' own field of view (heading error at
the true tile too, from true north), the distillation index with the photos labelled by the shipped
synthetic teacher. Random is the expectation of a random ranking. Everything is seeded, so the
table repeats. Prints one JSON document and the Markdown table.

    .venv/bin/python tools/twin_figures.py [WORK_DIR] [--twin-model M]   (several minutes on 2 cores)
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from xview_engine.localization.build import IndexParams, build_index
from xview_engine.localization.evaluate import EvaluateParams, evaluate
from xview_engine.resources import resource_path
from xview_engine.synth.params import SynthParams
from xview_engine.synth.world import make_world

SEED, SIZE_M, PHOTOS, STRIDE_M = 11, 1000.0, 300, 32.0
FOVS = (360.0, 180.0, 90.0, 70.0)
MODELS = {"twin": "xview-synthetic-twin.safetensors", "distill": "xview-synthetic-default.safetensors"}
TEACHERS = "synthetic=" + str(resource_path("models", "xview-synthetic-teacher.safetensors"))


def worlds(work: Path) -> dict[float, Path]:
    out = {}
    for fov in FOVS:
        folder = work / f"world-fov{fov:g}"
        if not (folder / "pairs.csv").is_file():
            make_world(SynthParams(seed=SEED, size_m=SIZE_M, gsd=1.0, photos=PHOTOS, fov=fov), folder, overwrite=True)
        out[fov] = folder
    digests = {hashlib.sha256((f / "overhead.tif").read_bytes()).hexdigest() for f in out.values()}
    if len(digests) != 1:
        raise SystemExit("the worlds of the fields of view do not share one overhead raster")
    return out


def indexes(work: Path, raster: Path, models: dict[str, Path]) -> dict[str, Path]:
    """One index per model, in a folder named by the model file's hash (another model, another index)."""
    out = {}
    for kind, model in models.items():
        folder = work / f"index-{kind}-{hashlib.sha256(model.read_bytes()).hexdigest()[:12]}"
        if not (folder / "index.json").is_file():
            build_index(IndexParams(raster=str(raster), model=str(model), out=str(folder), device="cpu",
                                    stride_m=STRIDE_M, overwrite=True))
        out[kind] = folder
    return out


def evaluated(params: EvaluateParams) -> dict[str, Any]:
    """The report of an evaluation already made in this work folder (same index, same photos), else a new one:
    comparing twin models re-runs only the twin evaluations."""
    done = Path(params.out_dir) / "metrics.json"
    if done.is_file():
        return json.loads(done.read_text(encoding="utf-8"))
    return evaluate(params)


def row(report: dict[str, Any]) -> dict[str, Any]:
    m = report["metrics"]["combined"]
    heading = (report.get("heading") or {}).get("heading_deg")
    return {"candidates": report["candidates"], "queries": m["queries"], "top_1": m["top_1"], "top_10": m["top_10"],
            "top_1pct": m["top_1pct"], "median_rank": m["median_rank"], "heading": heading}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("work", nargs="?", default="build/twin-figures")
    parser.add_argument("--twin-model", type=Path, default=resource_path("models", MODELS["twin"]),
                        help="twin model to evaluate (default: the shipped one)")
    args = parser.parse_args()
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    world = worlds(work)
    models = {"twin": args.twin_model, "distill": resource_path("models", MODELS["distill"])}
    index = indexes(work, world[FOVS[0]] / "overhead.tif", models)
    results: dict[str, Any] = {"seed": SEED, "size_m": SIZE_M, "photos": PHOTOS, "stride_m": STRIDE_M,
                               "twin_model": args.twin_model.name}
    for fov, folder in world.items():
        pairs = str(folder / "pairs.csv")
        twin = evaluate(EvaluateParams(index=str(index["twin"]), photos=pairs,
                                       out_dir=str(work / f"{index['twin'].name}-fov{fov:g}"),
                                       device="cpu", fov_deg=fov, overwrite=True))
        distill = evaluated(EvaluateParams(index=str(index["distill"]), photos=pairs, teachers=TEACHERS,
                                           out_dir=str(work / f"{index['distill'].name}-fov{fov:g}"), device="cpu",
                                           overwrite=True))
        random = twin["random_ranking"]
        results[f"fov_{fov:g}"] = {"twin": row(twin), "distill": row(distill),
                                   "random": {"candidates": twin["candidates"], "top_1": random["top_1"],
                                              "top_1pct": random["top_1pct"], "median_rank": random["median_rank"],
                                              "heading": twin["heading"]["heading_deg"]["random"]}}
    print(json.dumps(results, indent=2))
    print(markdown(results))
    return 0


def markdown(results: dict[str, Any]) -> str:
    lines = ["| photos | method | top-1 | top-1 % | median rank | heading error at the true tile: median, "
             "within +-10 % FOV, exact bin |", "|---|---|---|---|---|---|"]
    for fov in FOVS:
        part = results[f"fov_{fov:g}"]
        for method, label in (("twin", "twin network"), ("distill", "distillation likelihood"), ("random", "random")):
            r = part[method]
            h = r.get("heading")
            heading = "n/a (no heading)" if h is None else (
                f"{h['median_error_deg']:.1f} deg, {100 * h['within_10pct_fov']:.1f} %, {100 * h['exact_bin']:.1f} %"
                if method != "random" else
                f"{h['median_error_deg']:.0f} deg, {100 * h['within_10pct_fov']:.1f} %, {100 * h['exact_bin']:.1f} %")
            lines.append(f"| {fov:g} deg | {label} | {100 * r['top_1']:.1f} % | {100 * r['top_1pct']:.1f} % | "
                         f"{r['median_rank']:.1f} of {r['candidates']} | {heading} |")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
