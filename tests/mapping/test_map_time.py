"""`xview map --time / --months` with a time-aware model: one band per month, each band's time in its metadata."""

from __future__ import annotations

import json

import numpy as np
import pytest
import rasterio
import torch
from mapping_fixtures import random_rgb, tiny_model
from time_fixtures import tiny_time_model

from xview_engine.errors import SourceError
from xview_engine.mapping.map import MapParams, run_map
from xview_engine.model.file import load_model
from xview_engine.model.time_features import month_steps, time_matrix


@pytest.fixture()
def inputs(tmp_path):
    raster = tmp_path / "rgb.tif"
    random_rgb(raster, width=64, height=48, pixel=2.0)
    return raster, tiny_time_model(tmp_path)


def _bands(path):
    with rasterio.open(path) as ds:
        return ds.read(), ds.descriptions, [ds.tags(b) for b in range(1, ds.count + 1)], ds.nodata


def test_months_write_one_band_per_month_with_its_range(tmp_path, inputs) -> None:
    raster, model = inputs
    result = run_map(MapParams(raster=str(raster), model=str(model), out_dir=str(tmp_path / "m"), head="snow",
                               months="1-12", classes=("snow", "no snow"), runtime="torch", device="cpu"))
    values, descriptions, tags, nodata = _bands(tmp_path / "m" / "snow_prob.tif")
    assert len(descriptions) == 24  # 12 months x 2 classes, month-major
    assert descriptions[:3] == ("snow:prob:snow @2026-01", "snow:prob:no snow @2026-01", "snow:prob:snow @2026-02")
    assert tags[0]["xview_time"] == "2026-01-15T12:00" and tags[0]["xview_time_start"] == "2026-01-01T00:00"
    assert tags[23]["xview_time_start"] == "2026-12-01T00:00" and tags[23]["xview_time_end"] == "2027-01-01T00:00"
    _, top_descriptions, _, _ = _bands(tmp_path / "m" / "snow_top.tif")
    assert len(top_descriptions) == 12 and top_descriptions[6] == "snow:top @2026-07"
    doc = json.loads((tmp_path / "m" / "products.json").read_text())
    assert [s["xview_time"] for s in doc["time"]["steps"]][::11] == ["2026-01-15T12:00", "2026-12-15T12:00"]
    band = doc["products"][0]["bands"][2]
    assert band["time_start"] == "2026-02-01T00:00" and band["class"] == "snow"
    valid = values[0] != nodata
    assert result.tiles_run == int(valid.sum()) > 0
    np.testing.assert_allclose(values[0][valid] + values[1][valid], 1.0, atol=1e-5)  # P(snow) + P(no snow)
    assert not np.allclose(values[0][valid], values[12][valid])  # January's map is not July's


def test_month_bands_are_the_model_at_each_month(tmp_path) -> None:
    """A raster of one tile: its 12 band values are the torch model's means at the 12 mid-month noons."""
    raster = tmp_path / "one.tif"
    random_rgb(raster, width=16, height=16, pixel=2.0, seed=3)
    model = tiny_time_model(tmp_path, seed=4)
    run_map(MapParams(raster=str(raster), model=str(model), out_dir=str(tmp_path / "m"), head="snow", months="1-12",
                      classes=("snow",), products=("prob",), stride_m=32.0, runtime="torch", device="cpu"))
    values, _, _, _ = _bands(tmp_path / "m" / "snow_prob.tif")
    assert values.shape == (12, 1, 1)
    with rasterio.open(raster) as ds:
        tile = (ds.read().astype(np.float32) / 255.0 - 0.5) / 0.5
    t = torch.from_numpy(time_matrix(month_steps(range(1, 13)), ("month", "hour")))
    with torch.inference_mode():
        alpha = load_model(model).model.forward_times(torch.from_numpy(tile[None]), t)["snow"][0]
    np.testing.assert_allclose(values[:, 0, 0], (alpha[:, 0] / alpha.sum(1)).numpy(), rtol=1e-4, atol=1e-5)


def test_one_time_matches_the_model_at_that_time(tmp_path, inputs) -> None:
    raster, model = inputs
    run_map(MapParams(raster=str(raster), model=str(model), out_dir=str(tmp_path / "a"), head="snow",
                      time="2026-01-15T08:00", classes=("snow",), products=("prob",), runtime="torch", device="cpu"))
    run_map(MapParams(raster=str(raster), model=str(model), out_dir=str(tmp_path / "b"), head="snow",
                      months="1,7", time="2026-01-15T08:00", classes=("snow",), products=("prob",), runtime="onnx",
                      device="cpu"))
    one, descriptions, tags, nodata = _bands(tmp_path / "a" / "snow_prob.tif")
    two, _, tags_two, _ = _bands(tmp_path / "b" / "snow_prob.tif")
    assert descriptions == ("snow:prob:snow @2026-01-15T08:00",) and tags[0] == {"xview_time": "2026-01-15T08:00"}
    assert tags_two[1]["xview_time"] == "2026-07-15T08:00"  # --months keeps --time's day and hour
    valid = one[0] != nodata
    np.testing.assert_allclose(one[0][valid], two[0][valid], rtol=1e-4, atol=1e-5)  # torch and ONNX agree
    assert not np.allclose(two[0][valid], two[1][valid])  # January is not July


def test_misuse_is_one_line(tmp_path, inputs) -> None:
    raster, model = inputs
    base = dict(raster=str(raster), out_dir=str(tmp_path / "x"), runtime="torch", device="cpu")
    with pytest.raises(SourceError, match="give --time 2026-01-15T08:00, or --months 1-12"):
        run_map(MapParams(model=str(model), **base))
    with pytest.raises(SourceError, match="^--time: 'tomorrow' is not an ISO 8601 time"):
        run_map(MapParams(model=str(model), time="tomorrow", **base))
    with pytest.raises(SourceError, match="^--months: months '0-3'"):
        run_map(MapParams(model=str(model), months="0-3", **base))
    blind = tiny_model(tmp_path / "blind.safetensors", gsd_m=2.0)
    with pytest.raises(SourceError, match="does not take the time .*so --months does not change its outputs; leave it"):
        run_map(MapParams(model=str(blind), months="1-12", **base))
    with pytest.raises(SourceError, match="so --time and --months do not change its outputs; leave them out"):
        run_map(MapParams(model=str(blind), months="1-12", time="2026-01-01", **base))
    assert not (tmp_path / "x").exists()


def test_cli_months(tmp_path, inputs, capsys) -> None:
    from xview_engine.cli.main import main

    raster, model = inputs
    out = tmp_path / "cli"
    assert main(["map", str(raster), "--model", str(model), "--out-dir", str(out), "--head", "snow",
                 "--months", "12-2", "--classes", "snow", "--products", "prob", "--runtime", "torch"]) == 0
    _, descriptions, _, _ = _bands(out / "snow_prob.tif")
    assert [d.split("@")[1] for d in descriptions] == ["2026-12", "2026-01", "2026-02"]
    assert main(["map", str(raster), "--model", str(model), "--out-dir", str(tmp_path / "bad"), "--time", "x"]) == 2
    assert "xview: error: --time: 'x' is not an ISO 8601 time" in capsys.readouterr().err
