"""``xview demo``: the whole product on a small synthetic world, with the shipped default model.

Stages: make a fresh synthetic world (a seed the default model never saw) -> map it with the
default model (scene probabilities and most-likely scene, expected object counts) -> geolocate a
few held-out photos through the synthetic teacher (photo -> CNN -> distributions -> scores over
every tile) -> measure how well the maps agree with the world's land cover -> write a QGIS project
with the layers styled and render a picture of it (through QGIS, in a separate process, so the
engine never imports qgis) -> print what was written and the headline figures.

Nothing here trains: the demo runs in a few minutes on two CPU cores. Everything it shows is
synthetic; the default model knows only this kind of world.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

import numpy as np

from xview_engine.errors import XviewError
from xview_engine.outputs import check_outputs_free
from xview_engine.progress import Log
from xview_engine.resources import resource_path

DEFAULT_MODEL = resource_path("models", "xview-synthetic-default.safetensors")
DEFAULT_TEACHER = resource_path("models", "xview-synthetic-teacher.safetensors")
# Which scene label names each land-cover class (for the map-vs-land-cover correlation).
COVER_LABELS = {
    "water": "ocean", "sand": "beach", "forest": "forest_path", "grass": "park", "farmland": "field/cultivated",
    "building": "residential_neighborhood", "road": "street", "parking": "parking_lot",
}
@dataclass(frozen=True)
class DemoParams:
    out_dir: str = "demo_out"
    seed: int = 7
    size_m: float = 1500.0
    photos: int = 40
    fov: float = 90.0
    geolocate: int = 5
    model: str = str(DEFAULT_MODEL)
    teacher: str = str(DEFAULT_TEACHER)
    qgis: bool = True
    overwrite: bool = False
    device: str = "auto"


@dataclass
class DemoResult:
    files: list[Path] = field(default_factory=list)
    figures: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0


def run_demo(params: DemoParams, log: Optional[Log] = None) -> DemoResult:
    """See the module docstring."""
    log = log or (lambda message: None)
    start = time.perf_counter()
    out = Path(params.out_dir)
    for path in (params.model, params.teacher):
        if not Path(path).is_file():
            raise XviewError(f"{path} does not exist; the default synthetic models ship in resources/models "
                             "(see resources/models/README.md to rebuild them)")
    out.mkdir(parents=True, exist_ok=True)
    for sub in ("world", "scene", "count", "localize"):
        (out / sub).mkdir(exist_ok=True)
    check_outputs_free([out / "world" / "overhead.tif", out / "scene" / "products.json",
                        out / "count" / "products.json", out / "xview_demo.qgz", out / "summary.json"],
                       params.overwrite)
    result = DemoResult()
    world = _make_world(params, out / "world", log)
    result.files += [world / "overhead.tif", world / "landcover.tif"]
    for head, products in (("scene", ("prob", "top")), ("count", ("count",))):
        result.files += _map(params, world, out / head, head, products, log)
    result.figures["map_vs_landcover"] = map_landcover_correlation(out / "scene" / "products.json",
                                                                   world / "landcover.tif")
    result.figures["geolocation"] = _geolocate(params, world, out / "localize", log)
    summary = out / "summary.json"
    summary.write_text(json.dumps(result.figures, indent=1), encoding="utf-8")
    result.files.append(summary)
    if params.qgis:
        result.files += _qgis_project(out, world, log)
    result.seconds = time.perf_counter() - start
    return result


def _make_world(params: DemoParams, folder: Path, log: Log) -> Path:
    from xview_engine.synth import SynthParams, make_world

    log(f"making a synthetic world ({params.size_m:g} m, seed {params.seed}, {params.photos} photos)")
    make_world(SynthParams(seed=params.seed, size_m=params.size_m, gsd=1.0, photos=params.photos, fov=params.fov),
               folder, overwrite=params.overwrite)
    return folder


def _map(params: DemoParams, world: Path, folder: Path, head: str, products: tuple[str, ...], log: Log) -> list[Path]:
    from xview_engine.mapping.map import MapParams, run_map
    from xview_engine.model.file import read_manifest

    labels = read_manifest(params.model).head(head).labels
    log(f"mapping {head} ({', '.join(products)}) with {Path(params.model).name}")
    result = run_map(MapParams(raster=str(world / "overhead.tif"), model=params.model, out_dir=str(folder),
                               head=head, products=products, classes=labels, device=params.device,
                               overwrite=params.overwrite, command="xview demo"), log=log)
    return list(result.files)


def _geolocate(params: DemoParams, world: Path, folder: Path, log: Log) -> dict[str, Any]:
    """Localize photos (test split first) with the synthetic teacher; truth ranks from the photos' positions.

    Every photo of the demo world is held out from the model, which was trained on another seed's world.
    """
    from xview_engine.data.pairs import read_pairs
    from xview_engine.localization.localize import LocalizeParams, localize

    pairs = read_pairs(world / "pairs.csv")
    order = sorted(range(len(pairs)), key=lambda i: ("test", "val", "train").index(pairs.columns["split"][i]))
    held_out = [str(pairs.photos[i]) for i in order[: params.geolocate]]
    log(f"geolocating {len(held_out)} held-out photos")
    folder.mkdir(exist_ok=True)
    out = folder / f"{Path(held_out[0]).stem}.tif" if len(held_out) == 1 else folder
    results = localize(LocalizeParams(photos=tuple(held_out), out=str(out), raster=str(world / "overhead.tif"),
                                      model=params.model, teachers=f"synthetic={params.teacher}", top_k=5,
                                      device=params.device, overwrite=params.overwrite))
    (folder / "results.json").write_text(json.dumps([r.to_dict() for r in results], indent=1), encoding="utf-8")
    ranks = [r.truth["rank"]["combined"] for r in results if r.truth and "rank" in r.truth]
    candidates = next((r.truth["candidates"] for r in results if r.truth), 0)
    return {"photos": len(results), "candidates": candidates, "ranks": ranks,
            "median_rank": float(np.median(ranks)) if ranks else None,
            "median_best_percent": float(np.median(ranks) / candidates * 100) if ranks and candidates else None}


def map_landcover_correlation(products_json: Path, landcover_tif: Path) -> dict[str, float]:
    """Pearson r, over map tiles, of P(label) against the share of the land cover that label names.

    Each output pixel is one tile centre; the tile's land-cover share is the mean of the class's
    one-hot mask over the tile footprint (read from the synthetic world's own land-cover raster).
    """
    import rasterio

    meta = json.loads(Path(products_json).read_text(encoding="utf-8"))
    footprint = meta["grid"]["footprint_m"] * meta["grid"]["ground_scale_crs_units_per_metre"][0]
    prob_tif = next(Path(products_json).parent / Path(e["file"]).name for e in meta["products"] if "prob" in e["file"])
    with rasterio.open(prob_tif) as ds:
        probs = ds.read(masked=True).astype(np.float64).filled(np.nan)
        names = [(d or "").split(":")[-1] for d in ds.descriptions]
        transform, shape = ds.transform, (ds.height, ds.width)
    with rasterio.open(landcover_tif) as lc:
        classes, lc_transform = lc.read(1), lc.transform
    rows, cols = np.mgrid[0:shape[0], 0:shape[1]]
    xs, ys = transform.c + (cols + 0.5) * transform.a, transform.f + (rows + 0.5) * transform.e
    out: dict[str, float] = {}
    for cls_index, cls in enumerate(("water", "sand", "forest", "grass", "farmland", "building", "road", "parking")):
        label = COVER_LABELS[cls]
        if label not in names:
            continue
        share = _box_share(classes == cls_index, lc_transform, xs, ys, footprint)
        p = probs[names.index(label)]
        ok = np.isfinite(p) & np.isfinite(share)
        if ok.sum() > 2 and share[ok].std() > 0 and p[ok].std() > 0:
            out[f"{cls}->{label}"] = float(np.corrcoef(p[ok], share[ok])[0, 1])
    out["mean_r"] = float(np.mean(list(out.values()))) if out else float("nan")
    return out


def _box_share(mask: np.ndarray, transform, xs: np.ndarray, ys: np.ndarray, footprint: float) -> np.ndarray:
    """Mean of ``mask`` over squares of side ``footprint`` centred at (xs, ys), by an integral image.

    ``transform`` is a north-up affine of the mask's grid.
    """
    integral = np.pad(mask.astype(np.float64).cumsum(0).cumsum(1), ((1, 0), (1, 0)))
    half = footprint / 2
    c0, c1 = (xs - half - transform.c) / transform.a, (xs + half - transform.c) / transform.a
    r0, r1 = (ys + half - transform.f) / transform.e, (ys - half - transform.f) / transform.e
    h, w = mask.shape
    c0, c1 = np.clip(np.round(c0), 0, w).astype(int), np.clip(np.round(c1), 0, w).astype(int)
    r0, r1 = np.clip(np.round(r0), 0, h).astype(int), np.clip(np.round(r1), 0, h).astype(int)
    area = (r1 - r0) * (c1 - c0)
    total = integral[r1, c1] - integral[r0, c1] - integral[r1, c0] + integral[r0, c0]
    return np.where(area > 0, total / np.maximum(area, 1), np.nan)


def _qgis_project(out: Path, world: Path, log: Log) -> list[Path]:
    """Run xview_qgis.project with this interpreter (it needs the QGIS Python bindings)."""
    shown = [out / "xview_demo.qgz", out / "xview_demo.png"]
    out, world = out.resolve(), world.resolve()  # the subprocess runs from the repository root
    qgz, png = out / "xview_demo.qgz", out / "xview_demo.png"
    args = [sys.executable, "-m", "xview_qgis.project", "--basemap", str(world / "overhead.tif"),
            "--products", str(out / "scene" / "products.json"), str(out / "count" / "products.json"),
            "--heatmaps", str(out / "localize"), "--qgz", str(qgz), "--png", str(png)]
    log("writing the QGIS project and rendering it through QGIS")
    env = {**__import__("os").environ, "QT_QPA_PLATFORM": "offscreen"}
    done = subprocess.run(args, cwd=str(Path(__file__).resolve().parent.parent), env=env, capture_output=True,
                          text=True, timeout=600)
    if done.returncode != 0:
        tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
        raise XviewError(f"the QGIS project could not be written ({' / '.join(tail)}); is python3-qgis installed "
                         "(make setup)? Run 'xview demo --no-qgis' to skip it")
    return shown
