# ruff: noqa: F811  (the fixtures imported from cluster_fixtures are parameters of the tests)
"""A time-aware model on a real Dask LocalCluster: maps by month, a search at a time and the index at its
96 times give the files of a single-process run; the times are part of a run's resume key."""

from __future__ import annotations

import json

import pytest
from cluster_fixtures import cluster_address, same_index, same_products  # noqa: F401
from mapping_fixtures import random_rgb
from time_fixtures import tiny_time_model

from xview_engine.localization.build import IndexParams, build_index
from xview_engine.mapping.cluster.resume import run_inputs, run_key
from xview_engine.mapping.cluster.spec import ClusterSpec
from xview_engine.mapping.map import MapParams, run_map
from xview_engine.mapping.search import SearchParams, run_search
from xview_engine.mapping.time_steps import resolve_time_steps
from xview_engine.model.file import read_manifest
from xview_engine.raster.grid import make_grid

pytest.importorskip("distributed")


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    folder = tmp_path_factory.mktemp("cluster-time")
    random_rgb(folder / "rgb.tif", width=64, height=48, pixel=2.0)
    return str(folder / "rgb.tif"), str(tiny_time_model(folder))


def test_map_by_months_on_cluster_is_byte_identical(tmp_path, cluster_address, inputs):
    raster, model = inputs
    common = {"raster": raster, "model": model, "device": "cpu", "head": "snow", "months": "11-2"}
    run_map(MapParams(**common, out_dir=str(tmp_path / "single")))
    run_map(MapParams(**common, out_dir=str(tmp_path / "spread"), cluster=ClusterSpec(cluster_address, 10)))
    same_products(tmp_path / "single", tmp_path / "spread")
    meta = json.loads((tmp_path / "spread" / "products.json").read_text())
    assert [step["xview_time_start"][5:7] for step in meta["time"]["steps"]] == ["11", "12", "01", "02"]
    assert meta["cluster"]["blocks"] > 1


def test_search_at_a_time_on_cluster_is_byte_identical(tmp_path, cluster_address, inputs):
    raster, model = inputs
    common = {"raster": raster, "model": model, "device": "cpu", "query": "snow:snow > 0.4 | cars:car >= 1",
              "time": "2026-01-15T08:00"}
    run_search(SearchParams(**common, out=str(tmp_path / "a.tif")))
    run_search(SearchParams(**common, out=str(tmp_path / "b.tif"), cluster=ClusterSpec(cluster_address, 10)))
    assert (tmp_path / "a.tif").read_bytes() == (tmp_path / "b.tif").read_bytes()


def test_time_aware_index_on_cluster_is_identical(tmp_path, cluster_address, inputs):
    raster, model = inputs
    common = {"raster": raster, "model": model, "device": "cpu"}
    build_index(IndexParams(**common, out=str(tmp_path / "single")))
    build_index(IndexParams(**common, out=str(tmp_path / "cluster"), cluster=ClusterSpec(cluster_address, 10)))
    same_index(tmp_path / "single", tmp_path / "cluster")


def test_the_times_are_part_of_the_resume_key(inputs):
    raster, model = inputs
    manifest = read_manifest(model)
    params = MapParams(raster=raster, model=model, out_dir="unused")
    grid = make_grid((0.0, 0.0, 320.0, 320.0), "EPSG:32633", tile_px=16, gsd_m=2.0, stride_m=16.0)
    spec = ClusterSpec("tcp://127.0.0.1:1", 40)
    winter, summer = (resolve_time_steps(manifest, model, t, None).features
                      for t in ("2026-01-15T08:00", "2026-07-15T08:00"))
    keys = {run_key(run_inputs(params, spec, grid, "sha", times)) for times in (None, winter, summer)}
    assert len(keys) == 3
    assert "times" not in run_inputs(params, spec, grid, "sha")  # a time-blind run's key is as before
