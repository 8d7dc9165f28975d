"""Shared fixture for the Siamese and verification tests: a small synthetic world, a tiny random
Siamese model with a calibration, and its index."""

from __future__ import annotations

from dataclasses import replace

import pytest

from xview_engine.model.file import save_model
from xview_engine.model.manifest import BackboneSpec
from xview_engine.model.siamese import build_siamese, siamese_manifest
from xview_engine.synth.params import SynthParams
from xview_engine.synth.world import make_world

TILE_PX, GSD_M = 16, 1.0


@pytest.fixture(scope="session")
def siamese_world(tmp_path_factory):
    from xview_engine.localization.build import IndexParams, build_index

    out = tmp_path_factory.mktemp("siamese_method")
    make_world(SynthParams(seed=3, size_m=300, gsd=1.0, photos=12), out / "world")
    manifest = siamese_manifest(BackboneSpec("tiny_cnn", {"width": 4, "depth": 2}), TILE_PX, GSD_M, 8, True, (16, 32))
    manifest = replace(manifest, network={**manifest.network, "calibration": {"intercept": 2.0, "slope": -5.0}})
    model = save_model(build_siamese(manifest, seed=2), manifest, out / "siamese.safetensors")
    build_index(IndexParams(raster=str(out / "world" / "overhead.tif"), model=str(model), out=str(out / "index"),
                            device="cpu"))
    return {"dir": out, "model": model, "index": out / "index", "pairs": out / "world" / "pairs.csv",
            "raster": out / "world" / "overhead.tif", "photos": sorted((out / "world" / "photos").glob("*.jpg"))}
