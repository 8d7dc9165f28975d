"""Helpers for the mapping tests: shared data lookup, tiny models, small synthetic GeoTIFFs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import rasterio
import torch
from affine import Affine

import xview_engine.raster.crs  # noqa: F401  (fixes rasterio's PROJ database before any CRS is parsed)
from xview_engine.model.crossview import build_model
from xview_engine.model.file import save_model
from xview_engine.model.manifest import BackboneSpec, HeadSpec, InputSpec, Manifest

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
# A transverse Mercator with scale exactly 1 on its central meridian: CRS units = ground metres there.
TRUE_METRES_CRS = "+proj=tmerc +lat_0=0 +lon_0=15 +k=1 +x_0=500000 +y_0=0 +datum=WGS84 +units=m +no_defs"
CM_X, CM_Y = 500_000.0, 5_800_000.0  # a point on that central meridian


def shared(relative: str) -> Path:
    """A file of ../shared/data, or skip the test with the reason."""
    path = DATA / relative
    if not path.exists():
        pytest.skip(f"shared test data {path} is not available (a clone without ../shared)")
    return path


def tiny_model(path: Path, gsd_m: float, tile_px: int = 16, seed: int = 0, classes: int = 12) -> Path:
    """A tiny random CNN with a Dirichlet 'scene' head and a Poisson 'objects' head."""
    manifest = Manifest(
        kind="distill",
        backbone=BackboneSpec("tiny_cnn", {"width": 4, "depth": 2}),
        input=InputSpec(tile_px=tile_px, gsd_m=gsd_m),
        heads=(
            HeadSpec("scene", "dirichlet", tuple(f"class{i}" for i in range(classes))),
            HeadSpec("objects", "poisson", ("car", "tree")),
        ),
        hidden=8,
    )
    return save_model(build_model(manifest, seed=seed), manifest, path)


def mean_colour_model(path: Path, gsd_m: float, tile_px: int = 16) -> Path:
    """Heads whose output is exactly softplus(mean normalised colour) + 1e-4 per band.

    Backbone: band means f (B, 3). fc1 = [I; -I] then ReLU, fc2 = [I, -I]: relu(f) - relu(-f) = f.
    So alpha_c = rate_c = softplus(f_c) + 1e-4, with f_c = (mean_c / 255 - 0.5) / 0.5 for bytes.
    """
    bands = ("red", "green", "blue")
    manifest = Manifest(
        kind="distill",
        backbone=BackboneSpec("mean_colour", {}),
        input=InputSpec(tile_px=tile_px, gsd_m=gsd_m),
        heads=(HeadSpec("colour", "dirichlet", bands), HeadSpec("counts", "poisson", bands)),
        hidden=6,
    )
    model = build_model(manifest, seed=0)
    eye = torch.eye(3)
    with torch.no_grad():
        for head in model.heads.values():
            head.fc1.weight.copy_(torch.cat([eye, -eye]))
            head.fc1.bias.zero_()
            head.fc2.weight.copy_(torch.cat([eye, -eye], dim=1))
            head.fc2.bias.zero_()
    return save_model(model, manifest, path)


def expected_alpha(block_means: np.ndarray) -> np.ndarray:
    """alpha for tiles with mean byte colours ``block_means`` (..., 3): the mean-colour model's answer."""
    f = (block_means / 255.0 - 0.5) / 0.5
    return np.log1p(np.exp(f)) + 1e-4


def write_raster(path: Path, data: np.ndarray, crs: str, transform: Affine, nodata: float | None = None,
                 colorinterp: tuple | None = None) -> Path:
    """A plain GeoTIFF from a (C, H, W) array."""
    count, height, width = data.shape
    with rasterio.open(path, "w", driver="GTiff", width=width, height=height, count=count, dtype=data.dtype,
                       crs=crs, transform=transform, nodata=nodata) as ds:
        ds.write(data)
        if colorinterp:
            ds.colorinterp = colorinterp
    return path


def random_rgb(path: Path, width: int = 64, height: int = 48, pixel: float = 10.0, seed: int = 0) -> np.ndarray:
    """Random RGB bytes on the true-metres CRS, top-left at (CM_X, CM_Y); returns the array."""
    data = np.random.default_rng(seed).integers(0, 256, (3, height, width), dtype=np.uint8)
    write_raster(path, data, TRUE_METRES_CRS, Affine(pixel, 0, CM_X, 0, -pixel, CM_Y))
    return data


def read_band_stack(path: Path) -> tuple[np.ndarray, dict]:
    with rasterio.open(path) as ds:
        return ds.read(), {"crs": ds.crs, "transform": ds.transform, "nodata": ds.nodata,
                           "descriptions": ds.descriptions, "tags": ds.tags(), "profile": ds.profile}
