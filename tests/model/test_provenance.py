"""A synthetic-world model on a raster that is not a synthetic world gets a warning; on its own world, none."""

from __future__ import annotations

import numpy as np
import rasterio
from rasterio.transform import from_origin

from xview_engine.model.manifest import BackboneSpec, HeadSpec, InputSpec, Manifest
from xview_engine.model.provenance import is_synthetic_raster, synthetic_mismatch, trained_on_synthetic


def _manifest(synthetic: bool) -> Manifest:
    return Manifest("distill", BackboneSpec("tiny_cnn", {"width": 4, "depth": 2}), InputSpec(16, 1.0),
                    (HeadSpec("scene", "dirichlet", ("a", "b")),), hidden=8, training={"synthetic": synthetic})


def _tif(path, **tags):
    with rasterio.open(path, "w", driver="GTiff", width=8, height=8, count=3, dtype="uint8", crs="EPSG:32633",
                       transform=from_origin(500000, 5800000, 1, 1)) as ds:
        ds.write(np.full((3, 8, 8), 100, np.uint8))
        ds.update_tags(**tags)
    return path


def test_synthetic_model_on_real_imagery_is_warned(tmp_path) -> None:
    real = _tif(tmp_path / "aerial.tif")
    world = _tif(tmp_path / "world.tif", SYNTHETIC="yes", SOURCE="xview synth")
    assert trained_on_synthetic(_manifest(True)) and not trained_on_synthetic(_manifest(False))
    assert is_synthetic_raster(world) and not is_synthetic_raster(real)
    assert not is_synthetic_raster(tmp_path / "missing.tif") and not is_synthetic_raster(None)
    (tmp_path / "junk.tif").write_text("not a raster")
    assert not is_synthetic_raster(tmp_path / "junk.tif")
    warning = synthetic_mismatch(_manifest(True), real)
    assert "mean nothing on real imagery" in warning and "xview train distill" in warning
    assert synthetic_mismatch(_manifest(True), None) == warning  # an XYZ / WMS layer is real imagery
    assert synthetic_mismatch(_manifest(True), world) is None
    assert synthetic_mismatch(_manifest(False), real) is None


def test_the_synth_writer_marks_its_world(tmp_path) -> None:
    from xview_engine.synth.params import SynthParams
    from xview_engine.synth.world import make_world

    make_world(SynthParams(seed=1, size_m=100, gsd=1.0, photos=1), tmp_path / "w")
    assert is_synthetic_raster(tmp_path / "w" / "overhead.tif")
