"""The pieces of a cluster run that need no cluster: block layout, block files, the run key's refusals,
the local cluster's layout (threads and GPUs), the worker's model cache, the address check."""

from __future__ import annotations

import numpy as np
import pytest
from mapping_fixtures import random_rgb, tiny_model

from xview_engine.errors import OutputError
from xview_engine.mapping.cluster.blocks import Block, BlockSet, block_ok, collect_block, layout, write_block
from xview_engine.mapping.cluster.client import local_plan, threads_by_host
from xview_engine.mapping.cluster.resume import prepare, run_inputs
from xview_engine.mapping.cluster.spec import ClusterError, ClusterSpec, check_spec
from xview_engine.mapping.cluster.worker import cached_model
from xview_engine.mapping.plan import GridParams
from xview_engine.model.file import read_manifest
from xview_engine.raster.grid import TileGrid

GRID = TileGrid("EPSG:32633", 500_000.0, 5_800_000.0, rows=7, cols=10, tile_px=16, stride_px=8, gsd_m=1.0,
                scale_x=1.0, scale_y=1.0)


@pytest.mark.parametrize(("block_tiles", "expected"), [(30, 3), (10, 7), (4, 21), (1000, 1)])
def test_layout_covers_every_tile_once(block_tiles, expected):
    blocks = layout(GRID, block_tiles)
    assert len(blocks) == expected and [b.index for b in blocks] == list(range(expected))
    cover = np.zeros((GRID.rows, GRID.cols), int)
    for b in blocks:
        cover[b.row0:b.row1, b.col0:b.col1] += 1
        assert b.count <= max(block_tiles, 1)
    assert (cover == 1).all()
    assert blocks == tuple(sorted(blocks, key=lambda b: (b.row0, b.col0)))  # row-major order


def _manifest(tmp_path):
    return read_manifest(tiny_model(tmp_path / "m.safetensors", gsd_m=10.0))


def _rows(block: Block, classes: int, seed: int):
    rng = np.random.default_rng(seed)
    for row in range(block.row0, block.row1):
        values = rng.uniform(0.5, 3, (GRID.cols, classes)).astype(np.float32)
        values[row % 3] = np.nan  # a tile that did not run
        yield row, {"scene": values, "objects": rng.uniform(0, 2, (GRID.cols, 2)).astype(np.float32)}


def test_block_files_read_back_in_grid_order_with_sums(tmp_path):
    manifest = _manifest(tmp_path)
    blocks = layout(GRID, 4)  # three column blocks per row
    rows = {}
    for block in blocks:
        produced = list(_rows(block, 12, block.row0))
        write_block(tmp_path, block, "k" * 64, collect_block(manifest, block, iter(produced)))
        for row, out in produced:
            rows[row] = out
        assert block_ok(tmp_path, block, "k" * 64) and not block_ok(tmp_path, block, "x" * 64)
    read = list(BlockSet(tmp_path, GRID, blocks, manifest).rows())
    assert [r for r, _ in read] == list(range(GRID.rows))
    for row, out in read:  # each block kept its own columns of the rows it was given
        np.testing.assert_array_equal(out["scene"][:4], rows[row]["scene"][:4])
    sums, runs = BlockSet(tmp_path, GRID, blocks, manifest).class_sums("scene")
    assert sums.shape == (12,) and np.isfinite(sums).all() and (sums > 0).all()
    assert runs == sum(int((~np.isnan(o["scene"][b.col0:b.col1]).any(1)).sum())
                       for b in blocks for r, o in _rows(b, 12, b.row0))
    store = BlockSet(tmp_path, GRID, blocks, manifest).store("scene")
    store.seek(0)
    assert np.frombuffer(store.read(GRID.cols * 12 * 4), np.float32).shape == (GRID.cols * 12,)


def test_a_torn_block_file_is_not_counted(tmp_path):
    manifest = _manifest(tmp_path)
    block = layout(GRID, 10)[0]
    path = write_block(tmp_path, block, "k" * 64, collect_block(manifest, block, _rows(block, 12, 0)))
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    assert not block_ok(tmp_path, block, "k" * 64)
    assert list(tmp_path.glob(".*part*")) == []  # written under a temporary name, nothing of it left


def test_local_plan_shares_cores_and_gives_each_worker_a_gpu():
    assert local_plan(2, 2, 0) == local_plan(2, 3, 0)
    cpu = local_plan(2, 2, 0)
    assert (cpu.model_threads, cpu.resources, cpu.gpus) == (1, {}, 0)
    assert local_plan(3, 16, 0).model_threads == 5
    gpu = local_plan(4, 32, 4)
    assert (gpu.resources, gpu.model_threads, gpu.gpus) == ({"GPU": 1}, 8, 4)


def test_a_local_cluster_leaves_the_environment_as_it_was():
    distributed = pytest.importorskip("distributed")
    import logging
    import os

    from xview_engine.mapping.cluster.client import environ_kept

    before = dict(os.environ)
    with environ_kept(), distributed.LocalCluster(n_workers=1, threads_per_worker=1, dashboard_address=None,
                                                  silence_logs=logging.ERROR) as cluster:
        with distributed.Client(cluster) as client:
            assert set(client.run(lambda: os.environ.get("OMP_NUM_THREADS")).values()) == {"1"}  # the workers'
    assert dict(os.environ) == before


def test_threads_by_host_counts_each_hosts_dask_threads():
    workers = {"tcp://10.0.0.1:1": {"nthreads": 1, "metrics": {"host_cpu": {"count": 16}}},
               "tcp://10.0.0.1:2": {"nthreads": 1, "metrics": {"host_cpu": {"count": 16}}},
               "tcp://10.0.0.2:1": {"nthreads": 4}}
    assert threads_by_host(workers, 8) == {"10.0.0.1": 8, "10.0.0.2": 2}


def test_worker_refuses_another_model_file_at_the_path(tmp_path):
    model = tiny_model(tmp_path / "m.safetensors", gsd_m=10.0)
    with pytest.raises(ClusterError, match="not the one the run started with"):
        cached_model(str(model), "0" * 64, "torch", "cpu", 1)


@pytest.mark.parametrize(("spec", "match"), [
    (ClusterSpec("local:0"), "from 1 to 256 local workers"),
    (ClusterSpec("127.0.0.1:8786"), "tcp://HOST:8786"),
    (ClusterSpec("local:2", block_tiles=0), "--block-tiles 0"),
])
def test_bad_specs(spec, match):
    with pytest.raises(ClusterError, match=match):
        check_spec(spec)


def test_prepare_refuses_a_left_folder_and_names_what_changed(tmp_path):
    raster = tmp_path / "r.tif"
    random_rgb(raster)
    params = GridParams(raster=str(raster), model="m", batch_size=8)
    inputs = run_inputs(params, ClusterSpec("local:1"), GRID, "a" * 64)
    work = tmp_path / ".out.xview-blocks"
    prepare(work, inputs, False, False, print)
    with pytest.raises(OutputError, match="pass --resume to finish it, or --overwrite"):
        prepare(work, inputs, False, False, print)
    changed = run_inputs(GridParams(raster=str(raster), model="m", batch_size=16), ClusterSpec("local:1"), GRID,
                         "b" * 64)
    with pytest.raises(ClusterError, match=r"the model file changed .*--batch-size changed \(8 -> 16\)"):
        prepare(work, changed, True, False, print)
    random_rgb(raster, seed=5)
    with pytest.raises(ClusterError, match=r"the raster changed \(content_hash\)"):
        prepare(work, run_inputs(params, ClusterSpec("local:1"), GRID, "a" * 64), True, False, print)
    assert prepare(work, inputs, True, False, print) and work.is_dir()


def test_predict_rows_over_a_span_gives_that_part_of_the_whole_run(tmp_path):
    from xview_engine.mapping.batches import predict_rows
    from xview_engine.mapping.plan import open_grid
    from xview_engine.model.runtime import load_runtime

    random_rgb(tmp_path / "r.tif", width=120, height=90)
    model = tiny_model(tmp_path / "m.safetensors", gsd_m=10.0)
    params = GridParams(raster=str(tmp_path / "r.tif"), model=str(model), batch_size=5)
    manifest = read_manifest(model)
    runtime = load_runtime(model, "torch", "cpu", 1)
    with open_grid(params, manifest) as plan:
        spec = manifest.input
        whole = dict(predict_rows(plan.source, plan.grid, runtime.run, spec.mean, spec.std, 5))
        progress: list[tuple[int, int]] = []
        part = list(predict_rows(plan.source, plan.grid, runtime.run, spec.mean, spec.std, 5,
                                 progress=lambda d, t: progress.append((d, t)), span=(2, 5, 3, 9)))
    assert [row for row, _ in part] == [2, 3, 4] and progress[-1] == (18, 18)
    for row, out in part:
        assert np.isnan(out["scene"][:3]).all() and np.isnan(out["scene"][9:]).all()
        np.testing.assert_allclose(out["scene"][3:9], whole[row]["scene"][3:9], rtol=1e-6, atol=1e-7)
