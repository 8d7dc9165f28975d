"""Ranks, top-k, top-k %, CDF and distances on hand-computed cases (ties count against the query)."""

from __future__ import annotations

import numpy as np
import pytest
from pyproj import Geod

from xview_engine.localization import metrics


def test_ranks_hand_computed_with_ties() -> None:
    scores = np.array(
        [
            [0.9, 0.5, 0.1, 0.3],  # truth 0 is best -> 1
            [0.9, 0.5, 0.5, 0.3],  # truth 1 ties with tile 2 -> 3 (0.9, 0.5, 0.5 are >= 0.5)
            [0.2, 0.2, 0.2, 0.2],  # all tied -> last (4), never first
            [0.1, np.nan, 0.3, 0.2],  # NaN is the worst score; truth 3 -> 2
            [0.1, np.nan, 0.3, 0.2],  # truth is NaN -> last
        ]
    )
    ranks = metrics.ranks_from_scores(scores, [0, 1, 2, 3, 1])
    assert ranks.tolist() == [1, 3, 4, 2, 4]


def test_rank_counts_sum_over_tile_chunks() -> None:
    rng = np.random.default_rng(0)
    scores = rng.integers(0, 5, size=(6, 40)).astype(float)
    truth = rng.integers(0, 40, size=6)
    thr = scores[np.arange(6), truth]
    chunked = metrics.count_at_least(scores[:, :17], thr) + metrics.count_at_least(scores[:, 17:], thr)
    assert chunked.tolist() == metrics.ranks_from_scores(scores, truth).tolist()


def test_top_k_and_percent_cutoffs() -> None:
    ranks = np.array([1, 2, 3, 5, 10, 11, 250])
    assert metrics.top_k(ranks, 1) == pytest.approx(1 / 7)
    assert metrics.top_k(ranks, 5) == pytest.approx(4 / 7)
    assert metrics.top_k(ranks, 10) == pytest.approx(5 / 7)
    assert metrics.percent_cutoff(250, 1.0) == 2  # 1 % of 250 tiles = 2.5 -> ranks 1..2
    assert metrics.percent_cutoff(1000, 1.0) == 10
    assert metrics.percent_cutoff(50, 1.0) == 1  # under one tile: the best tile still counts
    assert metrics.percent_cutoff(300, 1.0) == 3  # floating point: 0.01 * 300 is 3.0000000000000004
    assert metrics.percent_cutoff(250, 4.4) == 11
    assert metrics.top_percent(ranks, 250, 1.0) == pytest.approx(2 / 7)
    assert metrics.top_percent(ranks, 1000, 1.0) == pytest.approx(5 / 7)
    assert metrics.top_percent(ranks, 250, 100.0) == 1.0
    with pytest.raises(ValueError, match="at least one candidate"):
        metrics.percent_cutoff(0, 1.0)


def test_cdf_matches_top_percent_and_is_monotone() -> None:
    ranks = np.array([1, 4, 4, 20, 100])
    cdf = metrics.rank_cdf(ranks, 100, [0.0, 1.0, 4.0, 19.9, 20.0, 99.0, 100.0])
    assert cdf.tolist() == pytest.approx([0.2, 0.2, 0.6, 0.6, 0.8, 0.8, 1.0])
    full = metrics.rank_cdf(ranks, 100)
    assert np.all(np.diff(full) >= 0) and full[-1] == 1.0
    assert metrics.top_percent(ranks, 100, 1.0) == metrics.rank_cdf(ranks, 100, [1.0])[0]


def test_geodesic_distance_matches_pyproj_and_thresholds() -> None:
    lon1, lat1 = np.array([16.40, 0.0, -70.0]), np.array([43.50, 0.0, -33.4])
    lon2, lat2 = np.array([16.401, 1.0, -70.0]), np.array([43.50, 0.0, -33.4])
    d = metrics.geodesic_m(lon1, lat1, lon2, lat2)
    expected = [Geod(ellps="WGS84").inv(a, b, c, e)[2] for a, b, c, e in zip(lon1, lat1, lon2, lat2)]
    assert d.tolist() == pytest.approx(expected, rel=1e-12)
    assert d[1] == pytest.approx(111319.49, abs=0.01)  # one degree of longitude on the equator
    assert d[2] == 0.0
    shares = metrics.within_distance(np.array([10.0, 25.0, 60.0, 999.0, 5000.0]))
    assert shares == pytest.approx(
        {"within_25m": 0.4, "within_50m": 0.4, "within_100m": 0.6, "within_250m": 0.6, "within_500m": 0.6,
         "within_1000m": 0.8}
    )


def test_summarize_hand_case() -> None:
    ranks = np.array([1, 2, 7, 30])
    s = metrics.summarize(ranks, 200, distances_m=np.array([0.0, 40.0, 300.0, 2000.0]))
    assert s["queries"] == 4 and s["candidates"] == 200
    assert (s["top_1"], s["top_5"], s["top_10"]) == (0.25, 0.5, 0.75)
    assert s["top_1pct"] == 0.5  # 1 % of 200 = rank <= 2
    assert s["median_rank"] == 4.5 and s["mean_rank"] == 10.0
    assert s["within_50m"] == 0.5 and s["median_distance_m"] == 170.0
    assert s["cdf"]["share"][-1] == 1.0 and len(s["cdf"]["percent"]) == len(s["cdf"]["share"])
    rnd = metrics.random_ranking_expectation(200)
    assert rnd == {"top_1": 0.005, "top_1pct": 0.01, "median_rank": 100.5}


def test_heading_errors_wrap_around_north() -> None:
    errors = metrics.heading_error_deg(np.array([350.0, 10.0, 0.0, 90.0, 271.0, np.nan]),
                                       np.array([10.0, 350.0, 180.0, 450.0, 89.0, 5.0]))
    np.testing.assert_allclose(errors[:5], [20.0, 20.0, 180.0, 0.0, 178.0])
    assert np.isnan(errors[5])


def test_heading_summary_hand_case() -> None:
    """Panorama: +-10 % of 360 is 36 degrees; 32 azimuth bins of 11.25 -> exact when off by <= 5.625."""
    s = metrics.heading_summary(np.array([5.0, 20.0, 36.0, 40.0, np.nan]), fov_deg=360.0, bin_deg=11.25)
    assert s["queries"] == 4 and s["median_error_deg"] == 28.0 and s["mean_error_deg"] == 25.25
    assert s["within_10pct_fov"] == 0.75 and s["exact_bin"] == 0.25
    assert s["random"] == {"median_error_deg": 90.0, "within_10pct_fov": 0.2, "exact_bin": 11.25 / 360}
    narrow = metrics.heading_summary(np.array([7.0, 7.5, 2.0, 3.0]), fov_deg=70.0, bin_deg=6.0)
    assert narrow["within_10pct_fov"] == 0.75 and narrow["exact_bin"] == 0.5  # 7 deg tolerance; 3 deg half-bin
