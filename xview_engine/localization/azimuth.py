"""Circular correlation over azimuth: the best heading and match of a ground map on every tile's map.

A ground map G (C, h, g) covers g of an overhead map's w azimuth columns (g = w for a panorama). At
shift s it lies over overhead columns (s + k) mod w, k < g; the match is the cosine between G and
that crop, both L2-normalised over all their cells (DSM: distance = 2 - 2 cos).

The numerator for every shift at once is a cross-correlation along the width, done in the frequency
domain. An index stores each tile's spectrum once (``tile_spectra``: the rfft of every (channel, row)
along the width, real and imaginary parts side by side, (F, 2 C h) per tile), so scoring a photo
reads it and never transforms a tile again: per frequency one real matrix product of the chunk's
spectra with the photos' conjugate spectra (``ground_weights``), then one real matrix product with
the inverse-DFT basis gives the correlation at every shift. The crop's norm at every shift is a
running sum of the tile's per-column energy (stored beside the spectrum). Tiles are read chunk by
chunk from the memory-mapped index (float16 widened per chunk), so memory stays bounded and no
Python loop runs over tiles. Training (``training.twin.pair_distances``) uses the same functions on
tensors with gradients.
"""

from __future__ import annotations

import math
import warnings
from typing import Optional

import numpy as np
import torch

from xview_engine.progress import CancelCheck, ProgressCallback, check_cancel

CHUNK_TILES = 16_384  # tiles per chunk (142 MB of float32 spectra at the default size): few, large torch
# operations, since each one waits for every intra-op thread and a busy machine makes that wait long
PHOTOS_PER_CHUNK = 16  # more photos than this shrink the chunk, so photos x tiles x shifts stays bounded
EPS = 1e-12


def tile_spectra(maps: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(n, C, h, w) maps -> spectra (n, F, 2 C h) [real | imaginary] and per-column energy (n, w)."""
    n = maps.shape[0]
    spec = torch.fft.rfft(maps.reshape(n, -1, maps.shape[-1]), dim=-1)  # (n, C h, F)
    packed = torch.cat([spec.real, spec.imag], dim=1).transpose(1, 2)  # (n, F, 2 C h)
    return packed, maps.square().sum(dim=(1, 2))


def ground_weights(ground: torch.Tensor, width: int) -> torch.Tensor:
    """(F, 2 P, 2 C h) weights: times a tile's spectrum row they give Re and Im of conj(G) O per photo.

    With O = Or + i Oi and G = Gr + i Gi: Re(conj(G) O) = Gr Or + Gi Oi, Im = Gr Oi - Gi Or, summed
    over channels and rows; the photos' maps are L2-normalised and zero-padded to ``width`` first.
    """
    p = ground.shape[0]
    g = ground.reshape(p, -1)
    g = (g / g.norm(dim=1, keepdim=True).clamp_min(EPS)).reshape(p, -1, ground.shape[-1])
    spec = torch.fft.rfft(torch.nn.functional.pad(g, (0, width - ground.shape[-1])), dim=-1)  # (P, C h, F)
    gr, gi = spec.real.permute(2, 0, 1), spec.imag.permute(2, 0, 1)  # (F, P, C h)
    real_rows = torch.cat([gr, gi], dim=2)
    imag_rows = torch.cat([-gi, gr], dim=2)
    return torch.cat([real_rows, imag_rows], dim=1)  # rows [Re per photo | Im per photo]


def inverse_basis(width: int, dtype: torch.dtype = torch.float32,
                  device: Optional[torch.device] = None) -> torch.Tensor:
    """(2 F, w) real inverse DFT: [Re | Im] of a one-sided spectrum times it is the signal at every shift."""
    freqs = width // 2 + 1
    f = torch.arange(freqs, dtype=torch.float64)[:, None]
    s = torch.arange(width, dtype=torch.float64)[None, :]
    weight = torch.full((freqs, 1), 2.0, dtype=torch.float64)
    weight[0] = 1.0
    if width % 2 == 0:
        weight[-1] = 1.0  # the Nyquist term appears once
    angle = 2 * math.pi * f * s / width
    basis = torch.cat([weight * torch.cos(angle), -weight * torch.sin(angle)]) / width
    return basis.to(dtype=dtype, device=device)


def match_chunk(weights: torch.Tensor, basis: torch.Tensor, spectra: torch.Tensor, energy: torch.Tensor,
                ground_cols: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Best cosine (P, n) and its shift (P, n) of the photos (``weights``) over n tiles' spectra."""
    n, width = energy.shape
    freqs, p = weights.shape[0], weights.shape[1] // 2
    cross = torch.bmm(weights, spectra.permute(1, 2, 0))  # (F, 2 P, n); the chunk is read in place
    cross = cross.reshape(freqs, 2, p, n).permute(2, 3, 1, 0).reshape(p * n, 2 * freqs)  # [Re F | Im F]
    corr = (cross @ basis).reshape(p, n, width)  # sum_k g[k] o[(k + s) mod w]
    if ground_cols == width:  # a panorama covers the whole map at every shift: one norm per tile
        best, shift = corr.max(dim=-1)
        return best / energy.sum(dim=1).clamp_min(EPS).sqrt()[None], shift
    return (corr / crop_norm(energy, ground_cols)[None]).max(dim=-1)


def crop_norm(energy: torch.Tensor, ground_cols: int) -> torch.Tensor:
    """(n, w) norm of the ``ground_cols`` columns starting at every shift (circularly)."""
    n, width = energy.shape
    e = energy.double()
    ring = torch.cat([torch.zeros(n, 1, dtype=e.dtype, device=e.device), e, e[:, :ground_cols]], dim=1).cumsum(1)
    return (ring[:, ground_cols:ground_cols + width] - ring[:, :width]).clamp_min(EPS).sqrt().to(energy.dtype)


def overhead_arrays(maps: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The index's per-tile arrays for overhead maps (n, C, h, w): spectra and per-column energy."""
    with torch.inference_mode():
        spec, energy = tile_spectra(torch.from_numpy(np.ascontiguousarray(maps, np.float32)))
    return spec.numpy(), energy.numpy()


def match_tiles(ground: np.ndarray, spectra: np.ndarray, energy: np.ndarray, valid: np.ndarray,
                tiles: Optional[np.ndarray] = None, progress: Optional[ProgressCallback] = None,
                cancel: Optional[CancelCheck] = None) -> tuple[np.ndarray, np.ndarray]:
    """(P, T) best cosine (-inf where no tile ran) and best shift (-1 there) of every photo on every tile.

    ``ground`` (P, C, h, g) float; ``spectra`` (T, F, 2 C h) and ``energy`` (T, w) from
    ``overhead_arrays``, e.g. the index's memory maps; ``tiles`` restricts the work to those tile
    numbers (the columns of the result follow them).
    """
    rows = np.arange(spectra.shape[0]) if tiles is None else np.asarray(tiles, np.int64)
    p, width, cols = ground.shape[0], energy.shape[-1], ground.shape[-1]
    if spectra.shape[1:] != (width // 2 + 1, 2 * ground.shape[1] * ground.shape[2]) or cols > width:
        raise ValueError(f"ground maps {ground.shape[1:]} do not fit overhead spectra {spectra.shape[1:]}")
    best = np.full((p, len(rows)), -np.inf, np.float32)
    shift = np.full((p, len(rows)), -1, np.int64)
    run = np.flatnonzero(np.asarray(valid)[rows])
    step = max(64, CHUNK_TILES // max(1, -(-p // PHOTOS_PER_CHUNK)))
    with torch.inference_mode():
        weights = ground_weights(torch.from_numpy(np.ascontiguousarray(ground, np.float32)), width)
        basis = inverse_basis(width)
        for start in range(0, len(run), step):
            check_cancel(cancel)
            at = run[start:start + step]
            b, s = match_chunk(weights, basis, _chunk(spectra, rows[at]), _chunk(energy, rows[at]), cols)
            best[:, at], shift[:, at] = b.numpy(), s.numpy()
            if progress is not None:
                progress(min(start + step, len(run)), len(run))
    return best, shift


def _chunk(array: np.ndarray, rows: np.ndarray) -> torch.Tensor:
    """Rows of a (memory-mapped) array as float32: a plain slice when they are contiguous."""
    lo, hi = int(rows[0]), int(rows[-1]) + 1
    block = array[lo:hi] if hi - lo == len(rows) else array[rows]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # a read-only memory map: it is only read
        return torch.from_numpy(np.asarray(block)).float()


def heading_deg(shift: np.ndarray, width: int, fov_deg: float) -> np.ndarray:
    """Degrees clockwise from north at the photo's centre column for a best shift; NaN for no shift.

    Shift s puts the photo's first column at azimuth s * 360 / w (overhead column c looks along
    c * 360 / w), so its centre looks half the field of view further clockwise.
    """
    heading = (np.asarray(shift, np.float64) * 360.0 / width + fov_deg / 2) % 360.0
    return np.where(np.asarray(shift) >= 0, heading, np.nan)
