"""Several batches at once (``predict_rows(streams=N)``, a light model's way on the CPU): N readers on
twins of the source, or one reader and N model threads; or N readers feeding one model (a GPU's,
``readers=N``): the same rows, in the same order, as one batch at a time; a failing run stops the
readers and reaches the caller."""

from __future__ import annotations

import os
import sys
import threading
import time

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


def _runner(threads: set[int]):
    def run(tiles: np.ndarray) -> dict[str, np.ndarray]:
        threads.add(threading.get_ident())
        time.sleep(0.002)  # a model takes a while: the other readers take blocks meanwhile
        return {"mean": tiles.mean(axis=(2, 3)), "spread": tiles.std(axis=(1, 2, 3))[:, None]}
    return run


class NoTwins:
    """A source that cannot be opened twice: one reader feeds a pool of model threads instead."""

    def __init__(self, source: RasterioSource):
        self._source = source

    def __getattr__(self, name: str):
        if name == "twin":
            raise AttributeError(name)
        return getattr(self._source, name)


def test_streams_give_the_rows_of_one_batch_at_a_time(tmp_path, monkeypatch):
    twins: list[RasterioSource] = []
    twin = RasterioSource.twin

    def recording_twin(self):
        twins.append(twin(self))
        return twins[-1]

    monkeypatch.setattr(RasterioSource, "twin", recording_twin)
    with _source(tmp_path) as src:
        grid = make_grid(src.bounds, src.crs, tile_px=8, gsd_m=10.0, stride_m=40.0)
        results = {}
        for name, source, streams, readers in (("one", src, 1, 1), ("readers", src, 3, 1), ("pool", NoTwins(src), 3, 1),
                                               ("feeding", src, 1, 3)):
            threads: set[int] = set()
            names_seen: set[str] = set()
            rows = []
            for row, values in predict_rows(source, grid, _runner(threads), MEAN, STD, 5, streams=streams,
                                            readers=readers):
                rows.append((row, values))
                names_seen |= {t.name for t in threading.enumerate() if t.ident in threads}
            results[name] = (rows, threads, names_seen)
    assert results["one"][1] == {threading.get_ident()}  # one stream: the model runs in the caller's thread
    assert len(results["readers"][1]) > 1 and results["readers"][2] == {"xview-tile-reader"}  # in the readers
    assert len(twins) == 4 and all(t._file.closed for t in twins)  # each reader its own handle, closed after
    assert results["pool"][2] and all(n.startswith("xview-model") for n in results["pool"][2])
    assert results["feeding"][1] == {threading.get_ident()}  # three readers feed a model in the caller's thread
    one = results["one"][0]
    assert [r for r, _ in one] == list(range(grid.rows))
    for name in ("readers", "pool", "feeding"):
        assert [r for r, _ in results[name][0]] == [r for r, _ in one]
        for (_, a), (_, b) in zip(one, results[name][0]):
            assert a.keys() == b.keys() == {"mean", "spread"}
            for head in a:
                np.testing.assert_array_equal(a[head], b[head])
                assert not np.isnan(a[head]).any()


@pytest.mark.parametrize(("twins", "streams", "readers"), [(True, 2, 1), (False, 2, 1), (True, 1, 3)],
                         ids=["readers", "pool", "feeding"])
def test_a_failing_run_in_a_stream_reaches_the_caller(tmp_path, twins, streams, readers):
    calls = []

    def run(tiles: np.ndarray) -> dict[str, np.ndarray]:
        calls.append(1)
        if len(calls) == 4:
            raise RuntimeError("the model broke on batch 4")
        return {"mean": tiles.mean(axis=(2, 3))}

    with _source(tmp_path) as src:
        grid = make_grid(src.bounds, src.crs, tile_px=8, gsd_m=10.0, stride_m=40.0)
        with pytest.raises(RuntimeError, match="broke on batch 4"):
            list(predict_rows(src if twins else NoTwins(src), grid, run, MEAN, STD, 3, streams=streams,
                              readers=readers))
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
        "streams": 2, "readers": 1, "reader_yields": False}  # what predict_rows is given
    assert ModelRuntime(manifest, print, "torch", "", threads=0, readers=3).batch_options == {
        "streams": 1, "readers": 3, "reader_yields": False}  # a GPU fed by three readers


def test_readers_feeding_a_gpu_leave_the_host_a_core():
    from xview_engine.model.device import GPU_READERS_MAX, reader_budget

    assert [reader_budget(cores=n) for n in (1, 2, 3, 4, 16, 64)] == [1, 1, 2, 3, GPU_READERS_MAX, GPU_READERS_MAX]
    assert reader_budget(threads=3, cores=64) == 2  # a cluster worker's share of the cores bounds its readers


def test_a_map_fed_by_several_readers_is_the_map_of_one(tmp_path, monkeypatch):
    """The GPU's way (``ModelRuntime.readers``) through ``run_map`` on the CPU: the same products, byte for byte."""
    import dataclasses

    from mapping_fixtures import random_rgb, read_band_stack, tiny_model

    import xview_engine.mapping.map as map_module
    from xview_engine.mapping.map import MapParams, run_map

    random_rgb(tmp_path / "rgb.tif", width=400, height=300, pixel=10.0)
    model = tiny_model(tmp_path / "m.safetensors", gsd_m=10.0)
    params = dict(raster=str(tmp_path / "rgb.tif"), model=str(model), device="cpu", batch_size=4)
    one = run_map(MapParams(**params, out_dir=str(tmp_path / "one")))
    real = map_module.load_runtime
    said: list[str] = []

    def fed_by_three(*args, **kwargs):
        runtime = real(*args, **kwargs)
        return dataclasses.replace(runtime, streams=1, readers=3, description=runtime.description + ", 3 readers")

    twins = []
    twin = RasterioSource.twin
    monkeypatch.setattr(RasterioSource, "twin", lambda self: twins.append(twin(self)) or twins[-1])
    monkeypatch.setattr(map_module, "load_runtime", fed_by_three)
    three = run_map(MapParams(**params, out_dir=str(tmp_path / "three")), log=said.append)
    assert any("3 readers" in line for line in said) and len(twins) == 2 and all(t._file.closed for t in twins)
    tifs = sorted(p.name for p in one.files if p.suffix == ".tif")
    assert tifs and tifs == sorted(p.name for p in three.files if p.suffix == ".tif")
    for name in tifs:
        np.testing.assert_array_equal(read_band_stack(tmp_path / "one" / name)[0],
                                      read_band_stack(tmp_path / "three" / name)[0])


def test_readers_side_by_side_share_a_mask_one_at_a_time(tmp_path):
    """A mask (a prepared GEOS polygon, whose index is built lazily) is asked by one reader at a time."""
    import shapely

    from xview_engine.raster.extent import mask_filter

    with _source(tmp_path) as src:
        grid = make_grid(src.bounds, src.crs, tile_px=8, gsd_m=10.0, stride_m=40.0)
        west, south, east, north = src.bounds
        inside = mask_filter(shapely.Polygon([(west, south), (east, north), (west, north)]))  # the upper-left half
        busy, most = [0], [0]

        def one_at_a_time(xs: np.ndarray, y: float) -> np.ndarray:
            busy[0] += 1
            most[0] = max(most[0], busy[0])
            time.sleep(0.001)
            busy[0] -= 1
            return inside(xs, y)

        runs = {n: list(predict_rows(src, grid, _runner(set()), MEAN, STD, 5, tile_filter=one_at_a_time, streams=n))
                for n in (1, 3)}
    assert most[0] == 1
    assert [r for r, _ in runs[3]] == [r for r, _ in runs[1]]
    for (_, a), (_, b) in zip(runs[1], runs[3]):
        np.testing.assert_array_equal(a["mean"], b["mean"])  # NaN where the mask left a tile out, in both
    kept = ~np.isnan(np.concatenate([v["mean"][:, 0] for _, v in runs[1]]))
    assert 0 < kept.mean() < 1


def test_no_more_readers_than_rows(tmp_path, monkeypatch):
    """One row of tiles (a click's 'What's here?') opens no twin: a second reader would have no rows to read."""
    twins = []
    twin = RasterioSource.twin
    monkeypatch.setattr(RasterioSource, "twin", lambda self: twins.append(twin(self)) or twins[-1])
    with _source(tmp_path) as src:
        west, _, east, north = src.bounds
        grid = make_grid((west, north - 80.0, east, north), src.crs, tile_px=8, gsd_m=10.0, stride_m=40.0)
        assert grid.rows == 1
        rows = list(predict_rows(src, grid, _runner(set()), MEAN, STD, 5, streams=3))
    assert [r for r, _ in rows] == [0] and not np.isnan(rows[0][1]["mean"]).any() and twins == []
