"""Figures of the shipped synthetic models, for README.md and resources/models/README.md.

Run after ``tools/train_default_models.sh`` (it reads that script's work folder). Prints one JSON
document with: the synthetic teacher against the world's truth on the test split (Pearson r per
head, top-1 scene agreement); for the default model and the mean-only baseline, on the demo world
(seed 7, never seen in training) the map-vs-land-cover Pearson r, the geolocation of every photo,
and what the model says over open sea (tiles that are all water), where the shipped model used to
extrapolate. The test-split NLL table comes from the training commands' own output.

    .venv/bin/python tools/default_model_figures.py [WORK_DIR] [--out DIR]   (a few minutes on 2 cores)
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import rasterio

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from xview_engine.data.label_files import read_label_file
from xview_engine.demo import DEFAULT_MODEL, DEFAULT_TEACHER, DemoParams, _box_share, run_demo

OPEN_SEA_SHARE = 0.999  # a tile counts as open sea when this share of its footprint is water


def teacher_agreement(work: Path) -> dict[str, float]:
    """Pearson r per head between the teacher's outputs and the world's truth, test photos only."""
    truth = read_label_file(work / "world" / "labels.npz")
    taught = read_label_file(work / "teacher-labels.npz")
    test = np.asarray(truth.table["split"]) == "test"
    out: dict[str, float] = {"test_photos": int(test.sum())}
    for head in ("scene", "object", "count"):
        a, b = truth.head(head)[test].ravel(), taught.head(head)[test].ravel()
        out[f"{head}_r"] = float(np.corrcoef(a, b)[0, 1])
    same = truth.head("scene")[test].argmax(1) == taught.head("scene")[test].argmax(1)
    out["scene_top1_agreement"] = float(same.mean())
    return out


def _band(tif: Path, name: str) -> tuple[np.ndarray, rasterio.Affine]:
    with rasterio.open(tif) as ds:
        names = [(d or "").split(":")[-1] for d in ds.descriptions]
        return ds.read(names.index(name) + 1, masked=True).astype(np.float64).filled(np.nan), ds.transform


def open_sea(out: Path) -> dict[str, float]:
    """Mean P(ocean), P(beach) and expected cars / boats over tiles whose footprint is all water."""
    meta = json.loads((out / "scene" / "products.json").read_text(encoding="utf-8"))
    footprint = meta["grid"]["footprint_m"] * meta["grid"]["ground_scale_crs_units_per_metre"][0]
    with rasterio.open(out / "world" / "landcover.tif") as lc:
        water, lc_transform = lc.read(1) == 0, lc.transform
    ocean, transform = _band(out / "scene" / "scene_prob.tif", "ocean")
    rows, cols = np.mgrid[0:ocean.shape[0], 0:ocean.shape[1]]
    xs, ys = transform.c + (cols + 0.5) * transform.a, transform.f + (rows + 0.5) * transform.e
    sea = (_box_share(water, lc_transform, xs, ys, footprint) >= OPEN_SEA_SHARE) & np.isfinite(ocean)
    values = {"ocean": ocean, "beach": _band(out / "scene" / "scene_prob.tif", "beach")[0],
              "cars": _band(out / "count" / "count_count.tif", "car")[0],
              "boats": _band(out / "count" / "count_count.tif", "boat")[0]}
    return {"tiles": int(sea.sum()), **{k: float(np.nanmean(v[sea])) for k, v in values.items()}}


def demo_figures(model: Path, out: Path) -> dict:
    """The demo (no QGIS picture) with ``model``, every photo geolocated."""
    params = DemoParams(out_dir=str(out), model=str(model), teacher=str(DEFAULT_TEACHER), geolocate=10**6,
                        qgis=False, overwrite=True, device="cpu")
    figures = run_demo(params).figures
    geo = figures["geolocation"]
    ranks = np.asarray(geo["ranks"], np.float64)
    geo["top5_percent"] = float((ranks <= 0.05 * geo["candidates"]).mean())
    geo["top10_percent"] = float((ranks <= 0.10 * geo["candidates"]).mean())
    return {"map_vs_landcover": figures["map_vs_landcover"], "geolocation": geo, "open_sea": open_sea(out)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("work", nargs="?", default="build/default-model")
    parser.add_argument("--out", help="demo outputs (default WORK_DIR/figures)")
    parser.add_argument("--model", default=str(DEFAULT_MODEL), help="the model to measure (default: shipped)")
    args = parser.parse_args()
    work = Path(args.work)
    out = Path(args.out) if args.out else work / "figures"
    result = {"teacher_vs_truth": teacher_agreement(work),
              "default": demo_figures(Path(args.model), out / "default")}
    baseline = work / "xview-synthetic-mean-baseline.safetensors"
    if baseline.exists():
        result["mean_baseline"] = demo_figures(baseline, out / "baseline")
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
