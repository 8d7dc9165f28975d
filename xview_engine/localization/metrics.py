"""Localization metrics: ranks, top-k, top-k %, the rank CDF and geodesic distances.

Conventions (design brief, "Ranks and metrics"):

* rank is 1-based and ties count against the query: the rank of the true tile is the number of
  candidates scoring at least as well as it (itself included). A model that scores every tile the
  same therefore ranks every truth last, never first.
* a higher score is better; NaN scores are treated as the worst possible score.
* top-k % uses k % of the candidate count: a query is inside the best k % when
  ``rank <= max(1, floor(k / 100 * n_candidates))``. The ``max(1, ...)`` keeps the best tile inside
  every top-k % (a share of a small test set can be under one tile); the CDF uses the same cutoff, so
  ``top_percent(r, n, 1.0) == rank_cdf(r, n, [1.0])[0]``.
* distances are geodesic metres on the WGS84 ellipsoid (pyproj.Geod).
* heading errors wrap around north: 350 vs 10 degrees is 20 degrees off (DSM's script ignored the
  wrap, so its errors near north were up to 360). A heading is "within 10 % of the FOV" when it is
  off by at most 0.1 x FOV (36 degrees for a panorama, 7 for a 70-degree photo) and "in the exact
  bin" when the truth lies in the azimuth bin centred on the prediction (off by at most half a bin).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

DISTANCE_THRESHOLDS_M = (25.0, 50.0, 100.0, 250.0, 500.0, 1000.0)
TOP_K = (1, 5, 10)
CDF_PERCENTS = tuple(float(x) for x in np.round(np.arange(0.0, 100.01, 0.5), 2))


def _clean(scores: np.ndarray) -> np.ndarray:
    """Scores as float64 with NaN replaced by -inf, so a NaN never beats anything."""
    scores = np.asarray(scores, dtype=np.float64)
    return np.where(np.isnan(scores), -np.inf, scores)


def ranks_from_scores(scores: np.ndarray, truth: Sequence[int] | np.ndarray) -> np.ndarray:
    """1-based ranks of ``truth[q]`` among the row ``scores[q]`` (Q, T); ties count against the query."""
    scores = _clean(np.atleast_2d(scores))
    truth = np.asarray(truth, dtype=np.int64).reshape(-1)
    if truth.shape[0] != scores.shape[0]:
        raise ValueError(f"{truth.shape[0]} true indices for {scores.shape[0]} score rows")
    true_scores = scores[np.arange(scores.shape[0]), truth]
    return count_at_least(scores, true_scores)


def count_at_least(scores: np.ndarray, thresholds: np.ndarray) -> np.ndarray:
    """Per row, how many scores are >= the row's threshold: the rank, summable over tile chunks."""
    scores = _clean(np.atleast_2d(scores))
    thresholds = _clean(np.asarray(thresholds).reshape(-1, 1))
    return (scores >= thresholds).sum(axis=1).astype(np.int64)


def percent_cutoff(n_candidates: int, percent: float) -> int:
    """The largest rank that still lies inside the best ``percent`` % of ``n_candidates``."""
    if n_candidates < 1:
        raise ValueError("there must be at least one candidate")
    return max(1, math.floor(percent / 100.0 * n_candidates + 1e-9))


def top_k(ranks: np.ndarray, k: int) -> float:
    """Share of queries whose truth ranks k-th or better."""
    ranks = np.asarray(ranks)
    return float(np.mean(ranks <= k)) if ranks.size else float("nan")


def top_percent(ranks: np.ndarray, n_candidates: int, percent: float) -> float:
    """Share of queries whose truth lies in the best ``percent`` % of the candidates."""
    return top_k(ranks, percent_cutoff(n_candidates, percent))


def rank_cdf(ranks: np.ndarray, n_candidates: int, percents: Sequence[float] = CDF_PERCENTS) -> np.ndarray:
    """Share of queries localized within the best x % of tiles, for every x of ``percents`` (seed Fig. 5)."""
    return np.array([top_percent(ranks, n_candidates, p) for p in percents], dtype=np.float64)


def geodesic_m(lon1: np.ndarray, lat1: np.ndarray, lon2: np.ndarray, lat2: np.ndarray) -> np.ndarray:
    """Geodesic distances in metres between WGS84 points (arrays broadcast)."""
    from pyproj import Geod

    lon1, lat1, lon2, lat2 = np.broadcast_arrays(*(np.asarray(a, dtype=np.float64) for a in (lon1, lat1, lon2, lat2)))
    _, _, dist = Geod(ellps="WGS84").inv(lon1.ravel(), lat1.ravel(), lon2.ravel(), lat2.ravel())
    return np.asarray(dist, dtype=np.float64).reshape(lon1.shape)


def within_distance(distances_m: np.ndarray, thresholds_m: Sequence[float] = DISTANCE_THRESHOLDS_M) -> dict[str, float]:
    """Share of queries whose best candidate lies within each distance, keyed like 'within_100m'."""
    d = np.asarray(distances_m, dtype=np.float64)
    return {f"within_{t:g}m": (float(np.mean(d <= t)) if d.size else float("nan")) for t in thresholds_m}


def summarize(ranks: np.ndarray, n_candidates: int, distances_m: np.ndarray | None = None) -> dict[str, object]:
    """Every metric of the evaluation report for one set of ranks (one head or the combination)."""
    ranks = np.asarray(ranks, dtype=np.int64)
    out: dict[str, object] = {"queries": int(ranks.size), "candidates": int(n_candidates)}
    for k in TOP_K:
        out[f"top_{k}"] = top_k(ranks, k)
    out["top_1pct"] = top_percent(ranks, n_candidates, 1.0)
    out["median_rank"] = float(np.median(ranks)) if ranks.size else float("nan")
    out["mean_rank"] = float(np.mean(ranks)) if ranks.size else float("nan")
    if distances_m is not None:
        d = np.asarray(distances_m, dtype=np.float64)
        out["median_distance_m"] = float(np.median(d)) if d.size else float("nan")
        out.update(within_distance(d))
    out["cdf"] = {"percent": list(CDF_PERCENTS), "share": rank_cdf(ranks, n_candidates).tolist()}
    return out


def random_ranking_expectation(n_candidates: int) -> dict[str, float]:
    """What a random ranking scores on average: the floor any model must beat."""
    return {
        "top_1": 1.0 / n_candidates,
        "top_1pct": percent_cutoff(n_candidates, 1.0) / n_candidates,
        "median_rank": (n_candidates + 1) / 2.0,
    }


def heading_error_deg(predicted: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """Absolute heading difference in degrees, wrapped to [0, 180]; NaN where either is unknown."""
    d = np.abs(np.asarray(predicted, np.float64) - np.asarray(truth, np.float64)) % 360.0
    return np.minimum(d, 360.0 - d)


def heading_summary(errors_deg: np.ndarray, fov_deg: float, bin_deg: float) -> dict[str, float]:
    """Median / mean error, share within +-10 % of the FOV and in the exact bin, over known errors."""
    e = np.asarray(errors_deg, np.float64)
    e = e[np.isfinite(e)]

    def share(tolerance: float) -> float:
        return float(np.mean(e <= tolerance + 1e-9)) if e.size else float("nan")

    return {"queries": int(e.size), "median_error_deg": float(np.median(e)) if e.size else float("nan"),
            "mean_error_deg": float(np.mean(e)) if e.size else float("nan"), "fov_deg": float(fov_deg),
            "within_10pct_fov": share(0.1 * fov_deg), "bin_deg": float(bin_deg), "exact_bin": share(bin_deg / 2),
            "random": {"median_error_deg": 90.0, "within_10pct_fov": min(1.0, 0.2 * fov_deg / 360.0),
                       "exact_bin": min(1.0, bin_deg / 360.0)}}
