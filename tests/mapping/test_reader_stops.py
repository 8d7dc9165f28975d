"""A tool that fails while consuming rows stops the tile reader before it closes the raster.

The reader is a thread reading the source; a consumer's error (a full disk, SIGTERM) used to leave
the rows' generator suspended, its reader still running while ``open_grid`` closed the dataset
under it: a segfault in CI (``xview index`` killed by SIGTERM). Each tool here fails in its own loop
body, after the first row, once the reader waits on a full queue: a reader left running stays alive.
"""

from __future__ import annotations

import threading
import time

import pytest
from mapping_fixtures import random_rgb, tiny_model

from xview_engine.localization import index as index_module
from xview_engine.localization.build import IndexParams, build_index
from xview_engine.mapping import map as map_module
from xview_engine.mapping import pca as pca_module
from xview_engine.mapping import search as search_module
from xview_engine.mapping.map import MapParams, run_map
from xview_engine.mapping.pca import PcaParams, run_pca
from xview_engine.mapping.search import SearchParams, run_search
from xview_engine.raster.source import RasterioSource


class ConsumerFailed(Exception):
    pass


def readers_alive() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "xview-tile-reader" and t.is_alive()]


def fail_once_the_reader_waits() -> None:
    """Raise once the reader is blocked on a full queue: left running, it would never end by itself."""
    deadline = time.monotonic() + 30
    while not all(t.queue.full() for t in readers_alive()):
        assert time.monotonic() < deadline
        time.sleep(0.005)
    assert readers_alive()
    raise ConsumerFailed("the consumer failed")


def fail_on_second_call(real):
    calls = []

    def wrapped(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            fail_once_the_reader_waits()
        return real(*args, **kwargs)
    return wrapped


@pytest.fixture
def readers_at_close(monkeypatch) -> list[list[threading.Thread]]:
    """The readers still running each time a raster source is closed: there must be none."""
    seen: list[list[threading.Thread]] = []
    close = RasterioSource.close

    def recording_close(self) -> None:
        seen.append(readers_alive())
        close(self)

    monkeypatch.setattr(RasterioSource, "close", recording_close)
    return seen


@pytest.fixture(scope="module")
def inputs(tmp_path_factory) -> dict[str, str]:
    folder = tmp_path_factory.mktemp("reader_stops")
    random_rgb(folder / "rgb.tif", width=2400, height=2400, pixel=10.0)  # 150 x 150 tiles or more
    return {"raster": str(folder / "rgb.tif"), "model": str(tiny_model(folder / "m.safetensors", gsd_m=10.0))}


def test_index_write_failing_stops_the_reader(inputs, tmp_path, monkeypatch, readers_at_close) -> None:
    monkeypatch.setattr(index_module, "check_cancel", fail_on_second_call(index_module.check_cancel))
    with pytest.raises(ConsumerFailed):
        build_index(IndexParams(raster=inputs["raster"], model=inputs["model"], out=str(tmp_path / "idx"),
                                device="cpu", batch_size=2))
    assert readers_at_close and not any(readers_at_close) and readers_alive() == []
    assert list(tmp_path.iterdir()) == []


def test_map_store_failing_stops_the_reader(inputs, tmp_path, monkeypatch, readers_at_close) -> None:
    monkeypatch.setattr(map_module, "class_values", fail_on_second_call(map_module.class_values))
    with pytest.raises(ConsumerFailed):
        run_map(MapParams(raster=inputs["raster"], model=inputs["model"], out_dir=str(tmp_path / "maps"),
                          device="cpu", batch_size=2))
    assert readers_at_close and not any(readers_at_close) and readers_alive() == []


def test_search_scoring_failing_stops_the_reader(inputs, tmp_path, monkeypatch, readers_at_close) -> None:
    monkeypatch.setattr(search_module, "_score_row", fail_on_second_call(search_module._score_row))
    with pytest.raises(ConsumerFailed):
        run_search(SearchParams(raster=inputs["raster"], model=inputs["model"], query="scene:class1 > 0.1",
                                out=str(tmp_path / "s.tif"), device="cpu", batch_size=2))
    assert readers_at_close and not any(readers_at_close) and readers_alive() == []
    assert list(tmp_path.iterdir()) == []


def test_pca_collecting_failing_stops_the_reader(inputs, tmp_path, monkeypatch, readers_at_close) -> None:
    def collect_one_row(rows, *args, **kwargs):
        next(iter(rows))
        fail_once_the_reader_waits()

    monkeypatch.setattr(pca_module, "collect_features", collect_one_row)
    with pytest.raises(ConsumerFailed):
        run_pca(PcaParams(raster=inputs["raster"], model=inputs["model"], out=str(tmp_path / "pca.tif"),
                          device="cpu", batch_size=2))
    assert readers_at_close and not any(readers_at_close) and readers_alive() == []
