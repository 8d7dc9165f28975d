"""Small real inputs for the plugin tests: a tiny model file and seeded RGB GeoTIFFs (not a test module).

Models are built from the engine's own manifest and model classes with a 4-wide two-layer CNN, so a
whole map of a few hundred tiles runs in well under a second on a CPU.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import rasterio
from rasterio.transform import from_origin

from xview_engine.manifest import BackboneSpec, HeadSpec, InputSpec, Manifest
from xview_engine.modelfile import save_model
from xview_engine.models import build_model

ROOT = Path(__file__).resolve().parent.parent
SHARED_DATA = ROOT.parent / "shared" / "data"
SCENES = ("beach", "forest", "parking lot", "water", "park")
OBJECTS = ("car", "person", "boat")


def tiny_model(folder: Path, gsd_m: float = 2.0, tile_px: int = 16, name: str = "tiny.safetensors") -> Path:
    """A tiny distillation model (Dirichlet scenes + Poisson counts) saved as a real model file."""
    manifest = Manifest(
        kind="distill",
        backbone=BackboneSpec("tiny_cnn", {"width": 4, "depth": 2}),
        input=InputSpec(tile_px=tile_px, gsd_m=gsd_m),
        heads=(HeadSpec("scenes", "dirichlet", SCENES), HeadSpec("objects", "poisson", OBJECTS)),
        hidden=8,
        training={"note": "untrained, for tests"},
    )
    return save_model(build_model(manifest, seed=0), manifest, folder / name)


def rgb_geotiff(path: Path, size: tuple[int, int] = (96, 128), pixel: float = 1.0, crs: str = "EPSG:32633",
                origin: tuple[float, float] = (500000.0, 5800000.0), nodata_corner: bool = False) -> Path:
    """A seeded RGB byte GeoTIFF with smooth structure (blocks of colour plus noise), north up."""
    rows, cols = size
    rng = np.random.default_rng(42)
    coarse = rng.integers(0, 256, (3, rows // 16 + 1, cols // 16 + 1))
    data = np.repeat(np.repeat(coarse, 16, axis=1), 16, axis=2)[:, :rows, :cols]
    data = np.clip(data + rng.integers(-20, 21, data.shape), 1, 255).astype(np.uint8)
    if nodata_corner:
        data[:, : rows // 4, : cols // 4] = 0
    profile = {"driver": "GTiff", "width": cols, "height": rows, "count": 3, "dtype": "uint8", "crs": crs,
               "transform": from_origin(origin[0], origin[1], pixel, pixel), "photometric": "RGB"}
    if nodata_corner:
        profile["nodata"] = 0
    with rasterio.open(path, "w", **profile) as ds:
        ds.write(data)
    return path


_WORLD_CACHE: dict[str, dict[str, Path]] = {}


def world_files(tmp_path_factory) -> dict[str, Path]:
    """A small synthetic world (200 m, 1 m pixels, 4 photos with EXIF GPS), a model named like its labels
    and its index; built once per test session."""
    if "world" in _WORLD_CACHE:
        return _WORLD_CACHE["world"]
    from xview_engine.indexer import IndexParams, build_index
    from xview_engine.labelfile import read_label_file
    from xview_engine.synth.params import SynthParams
    from xview_engine.synth.world import make_world

    out = tmp_path_factory.mktemp("qgisworld")
    make_world(SynthParams(seed=3, size_m=200, gsd=1.0, photos=4), out / "world")
    labels = read_label_file(out / "world" / "labels.npz")
    kinds = {"scene": "dirichlet", "object": "dirichlet", "count": "poisson"}
    heads = tuple(HeadSpec(h, kinds[h], labels.names[h]) for h in labels.heads)
    manifest = Manifest("distill", BackboneSpec("tiny_cnn", {"width": 4, "depth": 2}), InputSpec(16, 1.0), heads,
                        hidden=8, training={"note": "untrained test model"})
    model = save_model(build_model(manifest, seed=0), manifest, out / "world_model.safetensors")
    raster = out / "world" / "overhead.tif"
    build_index(IndexParams(raster=str(raster), model=str(model), out=str(out / "index"), device="cpu"))
    files = {"dir": out, "raster": raster, "model": model, "labels": out / "world" / "labels.npz",
             "index": out / "index", "photo": sorted((out / "world" / "photos").glob("*.jpg"))[0]}
    _WORLD_CACHE["world"] = files
    return files
