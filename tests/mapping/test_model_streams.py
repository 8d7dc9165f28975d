"""Several batches at once (``predict_rows(streams=N)``, a light model's way on the CPU): the same rows,
in the same order, as one batch at a time; a failing run stops the reader and reaches the caller."""

from __future__ import annotations

import os
import sys
import threading

import numpy as np
import pytest
from affine import Affine
from mapping_fixtures import CM_X, CM_Y, TRUE_METRES_CRS, write_raster

from xview_engine.mapping.batches import predict_rows
from xview_engine.mapping.tile_reader import READER_NICE, TileReader
from xview_engine.raster.grid import make_grid
from xview_engine.raster.source import RasterioSource

MEAN, STD = (0.5, 0.5, 0.5), (0.25, 0.25, 0.25)


def _source(tmp_path) -> RasterioSource:
    data = np.random.default_rng(7).integers(0, 256, (3, 90, 110), dtype=np.uint8)
    path = write_raster(tmp_path / "rgb.tif", data, TRUE_METRES_CRS, Affine(10.0, 0, CM_X, 0, -10.0, CM_Y))
    return RasterioSource(path, 3, ("red", "green", "blue"))


def _runner(threads: set[str]):
    def run(tiles: np.ndarray) -> dict[str, np.ndarray]:
        threads.add(threading.current_thread().name)
        return {"mean": tiles.mean(axis=(2, 3)), "spread": tiles.std(axis=(1, 2, 3))[:, None]}
    return run


def test_streams_give_the_rows_of_one_batch_at_a_time(tmp_path):
    with _source(tmp_path) as src:
        grid = make_grid(src.bounds, src.crs, tile_px=8, gsd_m=10.0, stride_m=40.0)
        results = {}
        for streams in (1, 3):
            threads: set[str] = set()
            rows = list(predict_rows(src, grid, _runner(threads), MEAN, STD, 5, streams=streams))
            results[streams] = (rows, threads)
    (one, here), (three, workers) = results[1], results[3]
    assert here == {threading.current_thread().name}
    assert workers and all(name.startswith("xview-model") for name in workers)  # run in the pool's threads
    assert [r for r, _ in three] == [r for r, _ in one] == list(range(grid.rows))
    for (_, a), (_, b) in zip(one, three):
        assert a.keys() == b.keys() == {"mean", "spread"}
        for head in a:
            np.testing.assert_array_equal(a[head], b[head])
            assert not np.isnan(a[head]).any()


def test_a_failing_run_in_a_stream_reaches_the_caller(tmp_path):
    calls = []

    def run(tiles: np.ndarray) -> dict[str, np.ndarray]:
        calls.append(1)
        if len(calls) == 4:
            raise RuntimeError("the model broke on batch 4")
        return {"mean": tiles.mean(axis=(2, 3))}

    with _source(tmp_path) as src:
        grid = make_grid(src.bounds, src.crs, tile_px=8, gsd_m=10.0, stride_m=40.0)
        with pytest.raises(RuntimeError, match="broke on batch 4"):
            list(predict_rows(src, grid, run, MEAN, STD, 3, streams=2))
    assert not [t for t in threading.enumerate() if t.name.startswith(("xview-model", "xview-tile-reader"))]


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="a thread's own nice value is Linux's")
def test_the_reader_runs_niced_behind_a_model_pool(tmp_path):
    base = os.getpriority(os.PRIO_PROCESS, 0)
    with _source(tmp_path) as src:
        grid = make_grid(src.bounds, src.crs, tile_px=8, gsd_m=10.0, stride_m=40.0)
        for yields, expected in ((False, base), (True, min(19, base + READER_NICE))):
            reader = TileReader(src, grid, MEAN, STD, 2, queue_size=2, yields=yields)
            reader.start()
            reader.queue.get()  # it has run: the queue refills and it waits on it, alive
            assert os.getpriority(os.PRIO_PROCESS, reader.native_id) == expected
            reader.stop()
            reader.join()
    assert os.getpriority(os.PRIO_PROCESS, 0) == base  # the caller's thread is untouched


def test_runtimes_say_when_the_reader_yields(tmp_path):
    from xview_engine.model.runtime import ModelRuntime

    manifest = None
    assert ModelRuntime(manifest, print, "onnx", "", threads=2).reader_yields  # one pool of two threads
    assert not ModelRuntime(manifest, print, "onnx", "", threads=1, streams=2).reader_yields  # runs side by side
    assert not ModelRuntime(manifest, print, "torch", "", threads=0).reader_yields  # on a GPU: the reader feeds it
    assert ModelRuntime(manifest, print, "onnx", "", threads=1, streams=2).batch_options == {
        "streams": 2, "reader_yields": False}  # what predict_rows is given
