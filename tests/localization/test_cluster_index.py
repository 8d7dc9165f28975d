# ruff: noqa: F811  (the fixtures imported from cluster_fixtures are parameters of the tests)
"""`xview index --cluster` on a real Dask LocalCluster (2 workers, 1 thread each): the same memory-mapped
arrays and index.json as a single-process build, and localization from it gives the same answers."""

from __future__ import annotations

import pytest
from cluster_fixtures import cluster_address, cluster_inputs, same_index  # noqa: F401

from xview_engine.cli.main import main
from xview_engine.localization.build import IndexParams, build_index
from xview_engine.localization.index import load_index
from xview_engine.mapping.cluster.spec import ClusterSpec

pytest.importorskip("distributed")


@pytest.mark.parametrize(("dtype", "block_tiles"), [("float32", 72), ("float16", 10)])
def test_index_on_cluster_is_identical(tmp_path, cluster_address, cluster_inputs, dtype, block_tiles):
    raster, model = cluster_inputs
    common = {"raster": str(raster), "model": str(model), "device": "cpu", "dtype": dtype}
    single = build_index(IndexParams(**common, out=str(tmp_path / "single")))
    spread = build_index(IndexParams(**common, out=str(tmp_path / "cluster"),
                                     cluster=ClusterSpec(cluster_address, block_tiles)))
    same_index(tmp_path / "single", tmp_path / "cluster")
    assert (single.tiles, single.valid_tiles) == (spread.tiles, spread.valid_tiles) == (456, 456)
    assert load_index(tmp_path / "cluster").arrays.keys() == load_index(tmp_path / "single").arrays.keys()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cluster", "single"]  # no work folder left


def test_index_cli_on_cluster(tmp_path, capsys, cluster_address, cluster_inputs):
    raster, model = cluster_inputs
    args = ["index", str(raster), "--model", str(model), "--device", "cpu"]
    assert main([*args, "-o", str(tmp_path / "single")]) == 0
    assert main([*args, "-o", str(tmp_path / "cluster"), "--cluster", cluster_address, "--block-tiles", "100"]) == 0
    assert "5 block(s) of up to 100 tiles" in capsys.readouterr().err
    same_index(tmp_path / "single", tmp_path / "cluster")
