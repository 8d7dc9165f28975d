"""Small real inputs for the plugin tests: a tiny model file and seeded RGB GeoTIFFs (not a test module).

Models are built from the engine's own manifest and model classes with a 4-wide two-layer CNN, so a
whole map of a few hundred tiles runs in well under a second on a CPU: distillation models, a Siamese
model with a calibration, and a knn model of off-the-shelf features with reference photos.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import rasterio
from rasterio.transform import from_origin

from xview_engine.model.crossview import build_model
from xview_engine.model.file import save_model
from xview_engine.model.manifest import BackboneSpec, HeadSpec, InputSpec, Manifest

ROOT = Path(__file__).resolve().parents[2]
SHARED_DATA = ROOT.parent / "shared" / "data"
SCENES = ("beach", "forest", "parking lot", "water", "park")
OBJECTS = ("car", "person", "boat")


def tiny_model(folder: Path, gsd_m: float = 2.0, tile_px: int = 16, name: str = "tiny.safetensors",
               synthetic: bool = False) -> Path:
    """A tiny distillation model (Dirichlet scenes + Poisson counts) saved as a real model file; ``synthetic``
    marks its provenance as a synthetic world's, as ``xview train distill`` does on a synth raster."""
    manifest = Manifest(
        kind="distill",
        backbone=BackboneSpec("tiny_cnn", {"width": 4, "depth": 2}),
        input=InputSpec(tile_px=tile_px, gsd_m=gsd_m),
        heads=(HeadSpec("scenes", "dirichlet", SCENES), HeadSpec("objects", "poisson", OBJECTS)),
        hidden=8,
        training={"note": "untrained, for tests", "synthetic": synthetic},
    )
    return save_model(build_model(manifest, seed=0), manifest, folder / name)


def attribute_model(folder: Path, gsd_m: float = 1.0, tile_px: int = 16) -> Path:
    """A tiny model with a Beta head (two [0, 1] attributes), a Bernoulli and a Gaussian head."""
    heads = (HeadSpec("weather", "beta", ("sunny", "snow")), HeadSpec("seen", "bernoulli", ("car",)),
             HeadSpec("level", "gaussian", ("depth",)))
    manifest = Manifest("distill", BackboneSpec("tiny_cnn", {"width": 4, "depth": 2}), InputSpec(tile_px, gsd_m),
                        heads, hidden=8, training={"note": "untrained attribute model, for tests"})
    return save_model(build_model(manifest, seed=0), manifest, folder / "attributes.safetensors")


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
    from xview_engine.data.label_files import read_label_file
    from xview_engine.localization.build import IndexParams, build_index
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


CALIBRATION = {"intercept": 2.0, "slope": -5.0}  # P(same place | d) = 1 / (1 + exp(-(2 - 5 d)))


def siamese_model(folder: Path, name: str = "siamese.safetensors", calibration: dict | None = CALIBRATION) -> Path:
    """A tiny untrained Siamese (Where-CNN) model: 16 px tiles at 1 m, 8-wide embeddings, photos seen at 16 x 32,
    with a logistic calibration of distance -> P(same place) in its manifest (none when ``calibration`` is None)."""
    from dataclasses import replace

    from xview_engine.model.siamese import build_siamese, siamese_manifest

    manifest = siamese_manifest(BackboneSpec("tiny_cnn", {"width": 4, "depth": 2}), 16, 1.0, 8, True, (16, 32))
    if calibration is not None:
        manifest = replace(manifest, network={**manifest.network, "calibration": dict(calibration)})
    return save_model(build_siamese(manifest, seed=2), manifest, folder / name)


def knn_files(tmp_path_factory) -> dict[str, Path]:
    """``world_files`` plus a knn model of off-the-shelf features (a small random synthetic teacher as the
    classifier; the world's train photos as references, k = 1) and its index (8 m stride); built once."""
    if "knn" in _WORLD_CACHE:
        return _WORLD_CACHE["knn"]
    from localize_fixtures import tiny_teacher

    from xview_engine.localization.build import IndexParams, build_index
    from xview_engine.training.knn import FeatureModelParams, make_feature_model

    world = world_files(tmp_path_factory)
    out = world["dir"]
    teacher = tiny_teacher(world["labels"], out / "teacher.safetensors")
    model = make_feature_model(FeatureModelParams(
        teachers=f"synthetic={teacher}", out=str(out / "knn.safetensors"), tile_px=16, gsd_m=1.0,
        pairs=str(world["labels"].parent / "pairs.csv"), raster=str(world["raster"]), k=1, device="cpu"))
    build_index(IndexParams(raster=str(world["raster"]), model=str(model), out=str(out / "knn_index"), device="cpu",
                            stride_m=8))
    _WORLD_CACHE["knn"] = {**world, "knn": model, "knn_index": out / "knn_index"}
    return _WORLD_CACHE["knn"]


WEB_MERCATOR_HALF = 20037508.342789244  # EPSG:3857 x (and y) of the edge of the XYZ tile pyramid


class XyzWorld:
    """A seeded pattern of colour blocks on EPSG:3857, written as a local XYZ tile set (no network).

    ``colour(xs, ys)`` is the truth at any 3857 coordinates: blocks of ``block`` units, each one
    seeded colour, over ``bounds``; transparent outside. Tiles are 256 px PNGs in ``z/x/y.png``.
    """

    def __init__(self, folder: Path, lon: float, lat: float, half_size: float = 700.0, block: float = 120.0,
                 zooms: tuple[int, ...] = (15, 16, 17), seed: int = 5):
        import math

        cx = math.radians(lon) * 6378137.0
        cy = math.log(math.tan(math.pi / 4 + math.radians(lat) / 2)) * 6378137.0
        self.bounds = (cx - half_size, cy - half_size, cx + half_size, cy + half_size)
        self.block, self.zooms, self.folder = block, zooms, folder
        n = int(2 * half_size // block) + 2
        self.palette = np.random.default_rng(seed).integers(20, 236, (n, n, 3)).astype(np.uint8)
        for z in zooms:
            self._write_zoom(z)

    @property
    def uri(self) -> str:
        url = f"file://{self.folder}/{{z}}/{{x}}/{{y}}.png"
        return f"type=xyz&url={url}&zmin={min(self.zooms)}&zmax={max(self.zooms)}"

    def colour(self, xs: np.ndarray, ys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(..., 3) uint8 colours and the inside mask at 3857 points."""
        x0, y0, x1, y1 = self.bounds
        inside = (xs >= x0) & (xs < x1) & (ys > y0) & (ys <= y1)
        i = np.clip(((xs - x0) // self.block).astype(int), 0, self.palette.shape[1] - 1)
        j = np.clip(((y1 - ys) // self.block).astype(int), 0, self.palette.shape[0] - 1)
        return self.palette[j, i], inside

    def _write_zoom(self, z: int) -> None:
        from PIL import Image

        size = 2 * WEB_MERCATOR_HALF / 2 ** z
        x0, y0, x1, y1 = self.bounds
        for tx in range(int((x0 + WEB_MERCATOR_HALF) // size), int((x1 + WEB_MERCATOR_HALF) // size) + 1):
            for ty in range(int((WEB_MERCATOR_HALF - y1) // size), int((WEB_MERCATOR_HALF - y0) // size) + 1):
                centres = (np.arange(256) + 0.5) * size / 256
                xs = -WEB_MERCATOR_HALF + tx * size + centres[None, :]
                ys = WEB_MERCATOR_HALF - ty * size - centres[:, None]
                rgb, inside = self.colour(*np.broadcast_arrays(xs, ys))
                rgba = np.dstack([rgb, np.where(inside, 255, 0).astype(np.uint8)])
                path = self.folder / str(z) / str(tx) / f"{ty}.png"
                path.parent.mkdir(parents=True, exist_ok=True)
                Image.fromarray(rgba, "RGBA").save(path)


def dock_into_window(qgis_iface, qgis_parent, bar, monkeypatch) -> None:
    """The pytest-qgis iface docking and adding toolbars into the real main window, with ``bar`` as its
    message bar (a real QgsMessageBar, not pytest-qgis' recording stand-in) and menus ignored."""
    monkeypatch.setattr(qgis_iface, "messageBar", lambda: bar, raising=False)
    monkeypatch.setattr(qgis_iface, "addDockWidget", qgis_parent.addDockWidget, raising=False)
    monkeypatch.setattr(qgis_iface, "removeDockWidget", qgis_parent.removeDockWidget, raising=False)
    monkeypatch.setattr(qgis_iface, "addToolBar", qgis_parent.addToolBar, raising=False)
    monkeypatch.setattr(qgis_iface, "addPluginToRasterMenu", lambda *a: None, raising=False)
    monkeypatch.setattr(qgis_iface, "removePluginRasterMenu", lambda *a: None, raising=False)


@contextlib.contextmanager
def opened_plugin(iface) -> Iterator[Any]:
    """The xview plugin started on ``iface`` with its dock open; on exit unloaded and the project emptied."""
    from pytest_qgis.utils import process_events
    from qgis.core import QgsProject

    from xview_qgis.plugin import XviewPlugin

    plugin = XviewPlugin(iface)
    plugin.initGui()
    plugin.action.trigger()
    process_events()
    try:
        yield plugin
    finally:
        plugin.unload()
        QgsProject.instance().removeAllMapLayers()
        QgsProject.instance().layerTreeRoot().removeAllChildren()
        process_events()
