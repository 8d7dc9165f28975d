"""Seeded value noise and integer hashing, in pure numpy.

Procedural maps need smooth random fields at many scales. Bilinear-smoothstep upsampling of a
coarse random grid is separable, so it is two small matrix products (fast at 6000 x 6000), and it
draws only from the ``numpy.random.Generator`` it is given: the same seed gives the same field.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def _interp_matrix(n_out: int, cell_px: float, n_grid: int) -> np.ndarray:
    """(n_out, n_grid) matrix of smoothstep interpolation weights from grid nodes to pixels."""
    pos = (np.arange(n_out, dtype=np.float64) + 0.5) / cell_px
    i0 = np.floor(pos).astype(np.int64)
    t = pos - i0
    t = t * t * (3.0 - 2.0 * t)
    weights = np.zeros((n_out, n_grid), dtype=np.float32)
    rows = np.arange(n_out)
    weights[rows, i0] = 1.0 - t
    weights[rows, i0 + 1] = t
    return weights


def value_noise(rng: np.random.Generator, shape: tuple[int, int], cell_px: float) -> np.ndarray:
    """Smooth noise in [-1, 1] whose features are about ``cell_px`` pixels wide."""
    cell_px = max(float(cell_px), 1.0)
    ny, nx = (int(np.ceil(s / cell_px)) + 2 for s in shape)
    grid = rng.uniform(-1.0, 1.0, size=(ny, nx)).astype(np.float32)
    wy = _interp_matrix(shape[0], cell_px, ny)
    wx = _interp_matrix(shape[1], cell_px, nx)
    return (wy @ grid) @ wx.T


def fractal_noise(
    rng: np.random.Generator, shape: tuple[int, int], cells_px: Sequence[float], gain: float = 0.55
) -> np.ndarray:
    """Sum of value-noise octaves (largest first), rescaled to about [-1, 1]."""
    out = np.zeros(shape, dtype=np.float32)
    amp, total = 1.0, 0.0
    for cell in cells_px:
        out += amp * value_noise(rng, shape, cell)
        total += amp
        amp *= gain
    out /= total
    return out


def hash01(*keys: np.ndarray | int, salt: int = 0) -> np.ndarray:
    """Deterministic pseudo-random floats in [0, 1) from integer keys (cell indices, ids).

    Used where a value must be a function of position (a tree's height, a parcel's crop) rather
    than of drawing order, so rasters and photos agree about the same object.
    """
    h = np.uint64((0x9E3779B97F4A7C15 * (salt + 1)) % (1 << 64))
    with np.errstate(over="ignore"):
        for key in keys:
            k = np.asarray(key).astype(np.uint64)
            h = (h ^ k) * np.uint64(0xBF58476D1CE4E5B9)
            h = h ^ (h >> np.uint64(31))
            h = h * np.uint64(0x94D049BB133111EB)
            h = h ^ (h >> np.uint64(29))
    return (h >> np.uint64(11)).astype(np.float64) / float(1 << 53)
