"""The README's time figures, on a held-out synthetic world through the year (seed 11, never trained on).

1. How well the mapped P(snow) follows the true snow cover, month by month: the shipped time-aware
   model maps the held-out overhead raster at every month (`xview map --months 1-12 --classes
   snow`); the truth of each map pixel is the expected snow cover of its tile footprint, the mean
   of ``synth.seasons.snow_probability`` over the land cover under it at that month. Reported: the
   Pearson correlation over tiles for each month that has snow, the correlation of the year's curve
   (mean mapped P(snow) vs mean true cover, 12 points) and over all (tile, month) pairs.
2. A small-multiples PNG of P(snow) through the year (``docs/time_snow_months.png``).
3. Time-aware vs time-blind localization of the held-out photos with known time (true labels of
   the snow, night, foliage and scene heads): the same recipe trained without the time; the
   time-aware model with the time marginalised (``--no-time``); the time-aware model at each
   photo's time. Top-1 % and median rank of the true tile among the candidates; all photos, and the
   photos taken November to March (when there is snow to see).

    .venv/bin/python tools/time_figures.py WORK_DIR   (WORK_DIR/xview-synthetic-timeblind.safetensors from
    tools/train_time_model.sh; a few minutes on 2 cores). Prints one JSON document.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from xview_engine.localization.build import IndexParams, build_index
from xview_engine.localization.evaluate import EvaluateParams, evaluate
from xview_engine.mapping.map import MapParams, run_map
from xview_engine.model.time_features import month_steps
from xview_engine.resources import resource_path
from xview_engine.synth import seasons
from xview_engine.synth.params import SynthParams
from xview_engine.synth.world import make_world

HELD_OUT = SynthParams(seed=11, size_m=1500.0, gsd=1.0, photos=600, fov=90.0, months=tuple(range(1, 13)))
TIME_MODEL = resource_path("models", "xview-synthetic-time.safetensors")
STRIDE_M = 24.0
HEADS = {"all four heads": ("snow", "night", "foliage", "scene"), "transient heads": ("snow", "night", "foliage"),
         "snow + scene": ("snow", "scene"), "snow": ("snow",)}
MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
WINTER = (11, 12, 1, 2, 3)
WINTER_HEADS = {k: HEADS[k] for k in ("snow + scene", "snow")}
PNG = Path(__file__).resolve().parents[1] / "docs" / "time_snow_months.png"


def held_out_world(work: Path) -> Path:
    folder = work / "heldout-world"
    if not (folder / "README.txt").is_file():
        make_world(HELD_OUT, folder, overwrite=True)
    return folder


def snow_maps(world: Path, work: Path) -> tuple[np.ndarray, Any]:
    """(12, rows, cols) mapped P(snow) (NaN where no tile ran) and the map's rasterio profile."""
    import rasterio

    out = work / "snow-map"
    run_map(MapParams(raster=str(world / "overhead.tif"), model=str(TIME_MODEL), out_dir=str(out), head="snow",
                      classes=("snow",), products=("prob",), months="1-12", stride_m=STRIDE_M, overwrite=True,
                      runtime="torch", device="cpu"))
    with rasterio.open(out / "snow_prob.tif") as ds:
        maps = ds.read().astype(np.float64)
        maps[maps == ds.nodata] = np.nan
        return maps, ds.profile


def true_cover(world: Path, profile: Any, footprint_m: float) -> np.ndarray:
    """(12, rows, cols) expected snow cover of each map pixel's tile footprint at each mid-month noon."""
    import rasterio

    with rasterio.open(world / "landcover.tif") as ds:
        hold = seasons.SNOW_HOLD[ds.read(1)].astype(np.float64)
        inverse = ~ds.transform
    integral = np.pad(hold, ((1, 0), (1, 0))).cumsum(0).cumsum(1)
    rows, cols = profile["height"], profile["width"]
    t = profile["transform"]
    xs = t.c + (np.arange(cols) + 0.5) * t.a
    ys = t.f + (np.arange(rows) + 0.5) * t.e
    half = footprint_m / 2
    c0 = np.clip(np.round((inverse * (xs - half, np.zeros(cols)))[0]).astype(int), 0, hold.shape[1])
    c1 = np.clip(np.round((inverse * (xs + half, np.zeros(cols)))[0]).astype(int), 0, hold.shape[1])
    r0 = np.clip(np.round((inverse * (np.zeros(rows) + xs[0], ys + half))[1]).astype(int), 0, hold.shape[0])
    r1 = np.clip(np.round((inverse * (np.zeros(rows) + xs[0], ys - half))[1]).astype(int), 0, hold.shape[0])
    area = np.maximum((r1 - r0)[:, None] * (c1 - c0)[None, :], 1)
    box = (integral[r1][:, c1] - integral[r0][:, c1] - integral[r1][:, c0] + integral[r0][:, c0]) / area
    levels = [seasons.conditions_at(t).snow for t in month_steps(range(1, 13))]
    return np.stack([level * box for level in levels])


def snow_figures(maps: np.ndarray, truth: np.ndarray) -> dict[str, Any]:
    from scipy.stats import pearsonr

    ok = np.isfinite(maps).all(axis=0)
    per_month = {}
    for m in range(12):
        if truth[m][ok].std() > 1e-9:
            per_month[MONTHS[m]] = round(float(pearsonr(maps[m][ok], truth[m][ok])[0]), 3)
    curve_model = [float(maps[m][ok].mean()) for m in range(12)]
    curve_truth = [float(truth[m][ok].mean()) for m in range(12)]
    return {
        "tiles": int(ok.sum()),
        "pearson_r_over_tiles_per_snowy_month": per_month,
        "pearson_r_year_curve": round(float(pearsonr(curve_model, curve_truth)[0]), 3),
        "pearson_r_all_tile_months": round(float(pearsonr(maps[:, ok].ravel(), truth[:, ok].ravel())[0]), 3),
        "mean_mapped_p_snow": dict(zip(MONTHS, (round(v, 3) for v in curve_model))),
        "mean_true_cover": dict(zip(MONTHS, (round(v, 3) for v in curve_truth))),
    }


def small_multiples(maps: np.ndarray, truth: np.ndarray, png: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(3, 4, figsize=(10, 8), constrained_layout=True)
    for m, ax in enumerate(axes.ravel()):
        image = ax.imshow(maps[m], vmin=0, vmax=1, cmap="Blues_r", interpolation="nearest")
        ax.set_title(f"{MONTHS[m]}: mean {np.nanmean(maps[m]):.2f} (true {np.nanmean(truth[m]):.2f})", fontsize=9)
        ax.set_xticks([])
        ax.set_yticks([])
    fig.colorbar(image, ax=axes, shrink=0.6, label="mapped P(snow)")
    fig.suptitle("xview map --months 1-12 --head snow: a held-out synthetic world (seed 11) through the year")
    png.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(png, dpi=80)
    plt.close(fig)


def winter_pairs(world: Path, work: Path) -> Path:
    """The held-out pairs CSV cut to the photos taken November to March (when there is snow to see)."""
    import csv

    from xview_engine.model.time_features import parse_time

    with open(world / "pairs.csv", newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    out = work / "heldout-winter-pairs.csv"
    with open(out, "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows({**r, "path": str(world / r["path"])} for r in rows
                         if parse_time(r["time"]).month in WINTER)
    return out


def localization(world: Path, work: Path, blind_model: Path, heads_sets: dict[str, tuple[str, ...]] = HEADS,
                 build: bool = True, pairs: Path | None = None, tag: str = "") -> dict[str, Any]:
    rows: dict[str, Any] = {}
    indexes = {}
    for name, model in (("time-aware", TIME_MODEL), ("time-blind", blind_model)):
        indexes[name] = work / f"index-{name}"
        if build:
            build_index(IndexParams(raster=str(world / "overhead.tif"), model=str(model), out=str(indexes[name]),
                                    stride_m=STRIDE_M, overwrite=True, runtime="torch", device="cpu"))
    runs = (("time-blind model", "time-blind", True), ("time-aware model, time unknown (marginalised)",
                                                        "time-aware", False),
            ("time-aware model at the photo's time", "time-aware", True))
    for heads_name, heads in heads_sets.items():
        for label, index, use_time in runs:
            report = evaluate(EvaluateParams(index=str(indexes[index]), photos=str(pairs or world / "pairs.csv"),
                                             labels=str(world / "labels.npz"), heads=heads, device="cpu",
                                             out_dir=str(work / f"eval{tag}-{index}-{use_time}-{'-'.join(heads)}"),
                                             overwrite=True, use_time=use_time))
            m = report["metrics"]["combined"]
            rows.setdefault(heads_name, {})[label] = {"top_1pct": round(100 * m["top_1pct"], 1),
                                                      "median_rank": m["median_rank"], "queries": m["queries"],
                                                      "candidates": report["candidates"]}
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("work", type=Path, help="work folder (tools/train_time_model.sh's)")
    args = parser.parse_args(argv)
    args.work.mkdir(parents=True, exist_ok=True)
    world = held_out_world(args.work)
    maps, profile = snow_maps(world, args.work)
    truth = true_cover(world, profile, footprint_m=96.0)
    small_multiples(maps, truth, PNG)
    blind = args.work / "xview-synthetic-timeblind.safetensors"
    out = {"held_out_world": {"seed": HELD_OUT.seed, "size_m": HELD_OUT.size_m, "photos": HELD_OUT.photos},
           "snow": snow_figures(maps, truth), "small_multiples_png": str(PNG.relative_to(PNG.parents[1])),
           "localization": localization(world, args.work, blind),
           "localization_winter_photos": localization(world, args.work, blind, WINTER_HEADS, build=False,
                                                      pairs=winter_pairs(world, args.work), tag="-winter")}
    print(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
