"""A time-aware model with attribute heads (Beta: two numbers per label): mapped per month, indexed at S times and
scored, each step's table equal to the one a time-blind index of that step's outputs would hold."""

from __future__ import annotations

import numpy as np
import rasterio
from mapping_fixtures import random_rgb

from xview_engine.localization.build import IndexParams, build_index
from xview_engine.localization.distill import head_tables
from xview_engine.localization.index import load_index
from xview_engine.localization.time_steps import index_time_features
from xview_engine.mapping.map import MapParams, run_map
from xview_engine.model.crossview import build_model
from xview_engine.model.file import save_model
from xview_engine.model.manifest import BackboneSpec, HeadSpec, InputSpec, Manifest


def _model(folder):
    manifest = Manifest("distill", BackboneSpec("tiny_cnn", {"width": 4, "depth": 2}), InputSpec(16, 2.0),
                        (HeadSpec("weather", "beta", ("sunny", "snow")), HeadSpec("seen", "bernoulli", ("car",))),
                        hidden=8, time_features=("month",))
    return save_model(build_model(manifest, seed=2), manifest, folder / "time_beta.safetensors")


def test_beta_head_of_a_time_aware_model_maps_per_month_and_indexes_per_step(tmp_path) -> None:
    raster = tmp_path / "rgb.tif"
    random_rgb(raster, width=64, height=48, pixel=2.0)
    model = _model(tmp_path)
    run_map(MapParams(raster=str(raster), model=str(model), out_dir=str(tmp_path / "m"), months="1,7",
                      products=("mean",), runtime="torch", device="cpu"))
    with rasterio.open(tmp_path / "m" / "weather_mean.tif") as ds:
        assert ds.descriptions == ("weather:mean:sunny @2026-01", "weather:mean:snow @2026-01",
                                   "weather:mean:sunny @2026-07", "weather:mean:snow @2026-07")
        means = ds.read(masked=True)
    assert means.count() > 0 and 0 < means.min() and means.max() < 1  # Beta means
    assert not np.allclose(means[0], means[2])  # January is not July

    build_index(IndexParams(raster=str(raster), model=str(model), out=str(tmp_path / "ix"), runtime="torch",
                            device="cpu"))
    index = load_index(tmp_path / "ix")
    assert len(index_time_features(("month",))) == 12
    july, january = head_tables(index, 6)["weather"], head_tables(index, 0)["weather"]
    ran = np.isfinite(np.asarray(july.const))
    assert ran.sum() == index.n_valid > 0
    weights = np.asarray(july.weights)
    assert weights.shape == (index.n_tiles, 4)  # a table row per tile at one step, 2 x 2 Beta numbers
    assert np.isfinite(weights[ran]).all()
    assert not np.allclose(np.asarray(january.weights)[ran], weights[ran])  # the steps hold their own tables
