"""Method-independent ranking: the combined score's name, head weights, best tiles and the posterior.

Every localization method returns scores (P photos, T tiles) where higher is better; these turn them
into candidates and heatmaps the same way whatever the method.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np

from xview_engine.errors import XviewError

COMBINED = "combined"


class ScoringError(XviewError):
    """Photos and tile arrays do not fit together (heads, class counts, weights)."""


def check_weights(heads: Sequence[str], weights: Mapping[str, float] | None) -> dict[str, float]:
    """Combination weights per head (default 1: the joint log-likelihood); unknown names are refused."""
    weights = dict(weights or {})
    unknown = sorted(set(weights) - set(heads))
    if unknown:
        raise ScoringError(f"weights name unknown heads {unknown} (heads: {', '.join(heads)})")
    return {h: float(weights.get(h, 1.0)) for h in heads}


def best_tiles(scores: np.ndarray, k: int) -> np.ndarray:
    """Indices (P, k) of the k best tiles per row, best first; equal scores go in tile order."""
    scores = np.atleast_2d(scores)
    k = max(1, min(k, scores.shape[1]))
    out = np.empty((scores.shape[0], k), np.int64)
    for i, row in enumerate(np.where(np.isnan(scores), -np.inf, scores)):
        cand = np.argpartition(-row, k - 1)[:k] if k < row.size else np.arange(row.size)
        idx = np.flatnonzero(row >= row[cand].min())  # every tile tied with the k-th is a candidate
        out[i] = idx[np.lexsort((idx, -row[idx]))[:k]]
    return out


def posterior(log_likelihood: np.ndarray) -> np.ndarray:
    """Normalised posterior over tiles (uniform prior) from log-likelihoods, per row; NaN -> 0."""
    x = np.where(np.isnan(log_likelihood), -np.inf, np.atleast_2d(log_likelihood).astype(np.float64))
    x = x - x.max(axis=1, keepdims=True)
    e = np.exp(x)
    return (e / e.sum(axis=1, keepdims=True)).astype(np.float32)


def top_percent_floors(scores: np.ndarray, percents: Sequence[float]) -> list[float]:
    """Per percent p, the lowest score among the best p % of the finite scores (at least one tile).

    Why: a heatmap read at a glance shows "the best 1 %, 5 %, 10 % of the tiles", which means the same
    on every photo, where a ramp over raw log-likelihoods (-870 to 167) leaves the best few pale. A
    tile tied with the floor counts in, as ties count against the query in ranks. NaN when no score is finite.
    """
    values = np.sort(np.asarray(scores, np.float64).ravel())
    values = values[np.isfinite(values)][::-1]
    for p in percents:
        if not 0 < p <= 100:
            raise ScoringError(f"percent {p} must be in (0, 100]")
    if not values.size:
        return [float("nan")] * len(percents)
    return [float(values[max(1, math.ceil(p / 100 * values.size)) - 1]) for p in percents]
