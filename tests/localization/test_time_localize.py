"""Time-aware localization: an index at S times, each photo scored at its time or marginalised over them."""

from __future__ import annotations

from datetime import datetime

import numpy as np
import pytest
from mapping_fixtures import random_rgb
from scipy.special import logsumexp
from time_fixtures import SNOW, tiny_time_model

from xview_engine.data.label_files import write_label_file
from xview_engine.localization.build import IndexParams, build_index
from xview_engine.localization.distill import head_tables
from xview_engine.localization.index import load_index
from xview_engine.localization.likelihood import score_photos
from xview_engine.localization.methods import PhotoOptions
from xview_engine.localization.photos import Queries
from xview_engine.localization.time_steps import index_times, photo_steps, step_of

FEATURES = ("month", "hour")


@pytest.fixture(scope="module")
def index(tmp_path_factory):
    folder = tmp_path_factory.mktemp("time-index")
    raster = folder / "rgb.tif"
    random_rgb(raster, width=64, height=48, pixel=2.0)
    model = tiny_time_model(folder)
    build_index(IndexParams(raster=str(raster), model=str(model), out=str(folder / "index"), runtime="torch",
                            device="cpu"))
    return load_index(folder / "index")


def test_steps_by_hand() -> None:
    assert len(index_times(FEATURES)) == 96 and len(index_times(("month",))) == 12 and len(index_times(("hour",))) == 8
    assert index_times(FEATURES)[3] == datetime(2026, 1, 15, 9)
    assert step_of(datetime(2026, 1, 15, 8), FEATURES) == 3  # January, nearest 3-hour step 09:00
    assert step_of(datetime(2026, 12, 31, 23), FEATURES) == 11 * 8  # December, 23:00 rounds to 00:00
    assert step_of(datetime(2026, 7, 2, 13, 40), ("month",)) == 6
    assert step_of(datetime(2026, 7, 2, 13, 40), ("hour",)) == 5  # 13:40 -> 15:00
    np.testing.assert_array_equal(photo_steps([None, datetime(2026, 2, 1, 0)], 2, FEATURES), [-1, 8])
    np.testing.assert_array_equal(photo_steps(None, 3, FEATURES), [-1, -1, -1])


def test_the_index_holds_every_tile_at_every_step(index) -> None:
    assert index.header["time_steps"][:2] == ["2026-01-15T00:00", "2026-01-15T03:00"]
    weights = index.arrays["head0.weights"]
    assert weights.shape == (index.n_tiles, 96, 2) and index.arrays["head0.const"].shape == (index.n_tiles, 96)
    valid = np.asarray(index.valid)
    assert valid.any()
    assert not np.allclose(weights[valid][:, 0], weights[valid][:, 48])  # January midnight is not July midnight


def _queries(times) -> Queries:
    rng = np.random.default_rng(0)
    p = rng.dirichlet([1, 1], len(times)).astype(np.float32)
    counts = rng.poisson(1.0, (len(times), 2)).astype(np.float32)
    photos = [f"p{i}.jpg" for i in range(len(times))]
    return Queries(photos, {"snow": p, "cars": counts}, {"snow": SNOW, "cars": ("car", "bus")},
                   np.full((len(times), 2), np.nan), [""] * len(times), times=list(times))


def test_a_photo_is_scored_at_its_step_and_unknown_times_marginalised(index) -> None:
    times = [datetime(2026, 1, 20, 8), None, datetime(2026, 7, 3, 22)]
    queries = _queries(times)
    scores = index.scorer.score(index, queries).heads
    values = {h: queries.values[h] for h in ("snow", "cars")}
    for row, step in ((0, 3), (2, 6 * 8 + 7)):
        direct = score_photos(head_tables(index, step), {h: v[row:row + 1] for h, v in values.items()})
        for key in ("snow", "cars", "combined"):
            np.testing.assert_allclose(scores[key][row], direct[key][0], rtol=1e-5)
    per_step = np.stack([score_photos(head_tables(index, s), {h: v[1:2] for h, v in values.items()})["combined"][0]
                         for s in range(96)])
    finite = np.isfinite(per_step).all(axis=0)
    expected = logsumexp(per_step[:, finite].astype(np.float64), axis=0) - np.log(96)
    np.testing.assert_allclose(scores["combined"][1][finite], expected, rtol=1e-5, atol=1e-4)
    tile = int(np.flatnonzero(finite)[0])
    np.testing.assert_allclose(index.scorer.score_tile(index, tile, queries), scores["combined"][:, tile], rtol=1e-5)


def test_photo_times_come_from_the_label_file_unless_turned_off(index, tmp_path) -> None:
    rng = np.random.default_rng(1)
    labels = write_label_file(tmp_path / "labels.npz",
                              {"snow": rng.dirichlet([1, 1], 2), "cars": np.ones((2, 2))},
                              {"snow": SNOW, "cars": ("car", "bus")}, {"snow": "categorical", "cars": "counts"},
                              {"path": np.array(["a.jpg", "b.jpg"]), "time": np.array(["2026-01-15T08:00", ""])})
    with_time = index.scorer.describe_photos([], PhotoOptions(labels=str(labels)))
    assert with_time.times == [datetime(2026, 1, 15, 8), None]
    assert with_time.subset(np.array([0])).times == [datetime(2026, 1, 15, 8)]
    blind = index.scorer.describe_photos([], PhotoOptions(labels=str(labels), use_time=False))
    assert blind.times is None
    known = index.scorer.score(index, with_time).heads["combined"]
    marginal = index.scorer.score(index, blind).heads["combined"]
    np.testing.assert_allclose(known[1], marginal[1], rtol=1e-6)  # the photo without a time: the same either way
    assert not np.allclose(known[0], marginal[0])
