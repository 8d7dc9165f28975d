"""Circular correlation over azimuth: the best heading and match of a ground map on every tile's map.

A ground map G (C, h, g) covers g of an overhead map's w azimuth columns (g = w for a panorama). At
shift s it lies over overhead columns (s + k) mod w, k < g; the match is the cosine between G and
that crop, both L2-normalised over all their cells (DSM: distance = 2 - 2 cos). The numerator for
every shift at once is a cross-correlation along the width, done with FFTs: irfft(conj(FFT G) x
FFT O) summed over channels and rows, one complex matrix product per frequency for a chunk of
tiles. The crop's norm at every shift is a running sum of the overhead map's per-column energy.
Tiles are read chunk by chunk from the memory-mapped index (float16 chunks widened by torch), so
memory stays bounded and no Python loop runs over tiles.
"""

from __future__ import annotations

import warnings
from typing import Optional

import numpy as np
import torch

from xview_engine.progress import CancelCheck, ProgressCallback, check_cancel

CHUNK_CELLS = 1 << 24  # photos x tiles x shifts held at once (64 MB of float32)
EPS = 1e-12


def ground_spectrum(ground: torch.Tensor, width: int) -> torch.Tensor:
    """(F, P, C*h) conjugate spectrum of unit-norm ground maps zero-padded to ``width`` columns."""
    p = ground.shape[0]
    g = ground.reshape(p, -1)
    g = (g / g.norm(dim=1, keepdim=True).clamp_min(EPS)).reshape(ground.shape)
    padded = torch.nn.functional.pad(g, (0, width - ground.shape[-1]))
    spec = torch.fft.rfft(padded, dim=-1).conj()  # (P, C, h, F)
    return spec.reshape(p, -1, spec.shape[-1]).permute(2, 0, 1)


def chunk_match(spectrum: torch.Tensor, ground_cols: int, overhead: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Best cosine (P, n) and its shift (P, n) of the ground maps over ``overhead`` (n, C, h, w)."""
    n, width = overhead.shape[0], overhead.shape[-1]
    o_spec = torch.fft.rfft(overhead, dim=-1).reshape(n, -1, spectrum.shape[0]).permute(2, 1, 0)  # (F, C*h, n)
    cross = torch.matmul(spectrum, o_spec).permute(1, 2, 0)  # (P, n, F)
    corr = torch.fft.irfft(cross, n=width, dim=-1)  # (P, n, w): sum_k g[k] o[(k + s) mod w]
    energy = overhead.double().square().sum(dim=(1, 2))  # (n, w)
    ring = torch.cat([torch.zeros(n, 1, dtype=energy.dtype), energy, energy[:, :ground_cols]], dim=1).cumsum(1)
    crop = (ring[:, ground_cols:ground_cols + width] - ring[:, :width]).clamp_min(EPS).sqrt().float()
    cosine = corr / crop[None]
    best, shift = cosine.max(dim=-1)
    return best, shift


def match_tiles(ground: np.ndarray, overhead: np.ndarray, valid: np.ndarray,
                tiles: Optional[np.ndarray] = None, progress: Optional[ProgressCallback] = None,
                cancel: Optional[CancelCheck] = None) -> tuple[np.ndarray, np.ndarray]:
    """(P, T) best cosine (-inf where no tile ran) and best shift (-1 there) of every photo on every tile.

    ``ground`` (P, C, h, g) float; ``overhead`` (T, C, h, w), e.g. the index's memory map; ``tiles``
    restricts the work to those tile numbers (the columns of the result follow them).
    """
    rows = np.arange(overhead.shape[0]) if tiles is None else np.asarray(tiles, np.int64)
    p, width, cols = ground.shape[0], overhead.shape[-1], ground.shape[-1]
    if ground.shape[1:3] != overhead.shape[1:3] or cols > width:
        raise ValueError(f"ground maps {ground.shape[1:]} do not fit overhead maps {overhead.shape[1:]}")
    best = np.full((p, len(rows)), -np.inf, np.float32)
    shift = np.full((p, len(rows)), -1, np.int64)
    run = np.flatnonzero(np.asarray(valid)[rows])
    step = max(64, CHUNK_CELLS // max(p * width, 1))
    with torch.inference_mode():
        spectrum = ground_spectrum(torch.from_numpy(np.ascontiguousarray(ground, np.float32)), width)
        for start in range(0, len(run), step):
            check_cancel(cancel)
            at = run[start:start + step]
            part = rows[at]
            lo, hi = int(part[0]), int(part[-1]) + 1
            block = overhead[lo:hi] if hi - lo == len(part) else overhead[part]  # contiguous: a plain slice
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", UserWarning)  # a read-only memory map: it is only read
                chunk = torch.from_numpy(np.asarray(block)).float()
            b, s = chunk_match(spectrum, cols, chunk)
            best[:, at], shift[:, at] = b.numpy(), s.numpy()
            if progress is not None:
                progress(min(start + step, len(run)), len(run))
    return best, shift


def heading_deg(shift: np.ndarray, width: int, fov_deg: float) -> np.ndarray:
    """Degrees clockwise from north at the photo's centre column for a best shift; NaN for no shift.

    Shift s puts the photo's first column at azimuth s * 360 / w (overhead column c looks along
    c * 360 / w), so its centre looks half the field of view further clockwise.
    """
    heading = (np.asarray(shift, np.float64) * 360.0 / width + fov_deg / 2) % 360.0
    return np.where(np.asarray(shift) >= 0, heading, np.nan)
