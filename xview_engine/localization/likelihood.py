"""Score photos against every tile: log-likelihoods as matrix products, batched over photos.

Every head's score is linear in a per-photo vector once the per-tile constants are precomputed:

* Dirichlet:  log Dir(p | a_t) = c_t + (a_t - 1)·log p  =  log p · a_t + c_t - sum log p,
  with c_t = lgamma(sum a_t) - sum lgamma(a_t)                      (weights a_t, vector log p)
* Poisson:    sum_k log Pois(k | r_t) = k · log r_t - sum r_t - sum lgamma(k + 1)
                                                                  (weights log r_t, vector k)
* mean-only baseline (a softmax mean m_t, no spread): minus the squared distance,
  -|p - m_t|^2 = 2p · m_t - |m_t|^2 - |p|^2                         (weights m_t, vector 2p)
* Beta per attribute: sum log Beta(x | a_t, b_t) = [log x | log(1-x)] · [a_t | b_t] + c_t
  - sum (log x + log(1-x)), c_t = sum lgamma(a+b) - lgamma(a) - lgamma(b)   (weights [a | b])
* Bernoulli per attribute: sum x log q_t + (1-x) log(1-q_t) = x · logit q_t + sum log(1-q_t)
                                                                  (weights logit q_t, vector x)
* Gaussian per attribute: sum log N(x | m_t, v_t) = [x | x^2] · [m_t/v_t | -1/(2 v_t)]
  + sum (-m_t^2 / (2 v_t) - log(2 pi v_t) / 2)                      (vector [x | x^2])

So a head is a table of weights W (T, K) and constants c (T,), a photo is a vector v (K,) and a
constant d, and the scores of P photos against T tiles are ``V @ W.T + c + d``: one matrix product,
chunked over tiles so that memory stays bounded whatever the index size (a memory-mapped index is
read chunk by chunk). Constants are computed in float64 from the *stored* weights, so a float16
index is a consistent distribution, not a float32 one with mismatched constants.

Speed (one photo against 1 M tiles is memory-bound: the index is read once). With torch there, the
tiles are split between as many worker threads as torch's thread budget, each single-threaded and
working through chunks of about 1 MB of float32 weights (its share of L2): widen float16 by torch
(vectorised F16C; numpy's cast is scalar, 10-15x slower) into its own reused buffer, then one matrix
product by torch's BLAS while the chunk is still in cache. Two things this avoids, each measured at
2-2.5x on the 2-core CPU: big chunks written to and read back from main memory, and two thread
pools (torch's OpenMP for the cast, numpy's OpenBLAS for the product) spinning against each other
on every chunk. Without torch, numpy does the same chunk by chunk, slower, with the same results.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Optional

import numpy as np
from scipy.special import gammaln

from xview_engine.localization.ranking import COMBINED, ScoringError, check_weights
from xview_engine.model.manifest import params_per_label
from xview_engine.progress import CancelCheck, ProgressCallback, check_cancel

# as xview_engine.model.distributions (PROB_MIN, BETA_VALUE_MIN, PROB_EDGE, VAR_MIN)
PROB_MIN = 1e-8  # a teacher probability of 0 counts as this
BETA_VALUE_MIN = 1e-3
PROB_EDGE = 1e-6
VAR_MIN = 1e-6
LOG_2PI = float(np.log(2.0 * np.pi))
PARAM_MIN = 1e-8
SCORED = ("dirichlet", "poisson", "mean", "beta", "bernoulli", "gaussian")
CHUNK_BYTES = 2**20  # float32 bytes of weights one worker scores at once (about its share of L2)
MIN_CHUNK_ROWS = 64


@dataclass(frozen=True)
class HeadTable:
    """One head of an index: the linear form of its log-likelihood over all tiles."""

    name: str
    distribution: str
    weights: np.ndarray  # (T, K) float32 or float16; may be a read-only memory map
    const: np.ndarray  # (T,) float64

    @property
    def num_classes(self) -> int:
        return int(self.weights.shape[1])


def tile_table(name: str, distribution: str, params: np.ndarray, dtype: str = "float32") -> HeadTable:
    """Weights and per-tile constants from a head's predicted parameters (T, K), stored as ``dtype``."""
    params = np.asarray(params, dtype=np.float64)
    if distribution == "dirichlet":
        weights = np.maximum(params, PARAM_MIN).astype(dtype)
        a = weights.astype(np.float64)
        const = gammaln(a.sum(axis=1)) - gammaln(a).sum(axis=1)
    elif distribution == "poisson":
        weights = np.log(np.maximum(params, PARAM_MIN)).astype(dtype)
        const = -np.exp(weights.astype(np.float64)).sum(axis=1)
    elif distribution == "mean":
        weights = params.astype(dtype)
        const = -np.square(weights.astype(np.float64)).sum(axis=1)
    elif distribution in ("beta", "bernoulli", "gaussian"):
        weights = _stored(_attribute_weights(distribution, params), dtype)
        const = _attribute_const(distribution, weights.astype(np.float64))
    else:
        raise ScoringError(f"head '{name}': cannot score distribution '{distribution}' ({', '.join(SCORED)})")
    return HeadTable(name, distribution, weights, const)


def _stored(weights: np.ndarray, dtype: str) -> np.ndarray:
    """Weights cast to the index type, kept inside its range (a tiny variance's precision in float16)."""
    limit = float(np.finfo(dtype).max)
    return np.clip(weights, -limit, limit).astype(dtype)


def _attribute_weights(distribution: str, params: np.ndarray) -> np.ndarray:
    half = params.shape[1] // 2
    if distribution == "beta":
        return np.maximum(params, PARAM_MIN)
    if distribution == "bernoulli":
        q = np.clip(params, PROB_EDGE, 1.0 - PROB_EDGE)
        return np.log(q) - np.log1p(-q)
    mean, var = params[:, :half], np.maximum(params[:, half:], VAR_MIN)
    return np.concatenate([mean / var, -0.5 / var], axis=1)


def _attribute_const(distribution: str, w: np.ndarray) -> np.ndarray:
    """Per-tile constants from the *stored* weights (see the module docstring)."""
    half = w.shape[1] // 2
    if distribution == "beta":
        a, b = w[:, :half], w[:, half:]
        return (gammaln(a + b) - gammaln(a) - gammaln(b)).sum(axis=1)
    if distribution == "bernoulli":
        return -np.logaddexp(0.0, w).sum(axis=1)  # log(1 - q) = -log(1 + e^logit)
    w1, w2 = w[:, :half], np.minimum(w[:, half:], -1e-30)
    return (w1 * w1 / (4.0 * w2) + 0.5 * np.log(-2.0 * w2) - 0.5 * LOG_2PI).sum(axis=1)


def tile_params(table: HeadTable, tiles: slice | np.ndarray = slice(None)) -> np.ndarray:
    """The predicted parameters back from a table (alpha, rate, mean, [alpha | beta], P(yes),
    [mean | variance]), float32 (for maps and chips)."""
    w = np.asarray(table.weights[tiles], dtype=np.float32)
    if table.distribution == "poisson":
        return np.exp(w)
    if table.distribution == "bernoulli":
        return (1.0 / (1.0 + np.exp(-w.astype(np.float64)))).astype(np.float32)
    if table.distribution == "gaussian":
        half = w.shape[1] // 2
        var = -0.5 / np.minimum(w[:, half:].astype(np.float64), -1e-30)
        return np.concatenate([w[:, :half] * var, var], axis=1).astype(np.float32)
    return w


def photo_vectors(distribution: str, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(P, K) photo label distributions or counts -> vectors V (P, K) float32 and constants d (P,)."""
    x = np.atleast_2d(np.asarray(values, dtype=np.float64))
    if distribution == "dirichlet":
        p = np.maximum(x, PROB_MIN)
        log_p = np.log(p / p.sum(axis=1, keepdims=True))
        return log_p.astype(np.float32), -log_p.sum(axis=1)
    if distribution == "poisson":
        k = np.maximum(x, 0.0)
        return k.astype(np.float32), -gammaln(k + 1.0).sum(axis=1)
    if distribution == "mean":
        p = np.maximum(x, 0.0)
        p = p / np.maximum(p.sum(axis=1, keepdims=True), 1e-30)
        return (2.0 * p).astype(np.float32), -np.square(p).sum(axis=1)
    if distribution == "beta":
        v = np.clip(x, BETA_VALUE_MIN, 1.0 - BETA_VALUE_MIN)
        logs = np.concatenate([np.log(v), np.log1p(-v)], axis=1)
        return logs.astype(np.float32), -logs.sum(axis=1)
    if distribution == "bernoulli":
        return np.clip(x, 0.0, 1.0).astype(np.float32), np.zeros(len(x))
    if distribution == "gaussian":
        return np.concatenate([x, x * x], axis=1).astype(np.float32), np.zeros(len(x))
    raise ScoringError(f"cannot score distribution '{distribution}' ({', '.join(SCORED)})")


def tile_chunks(n_tiles: int, n_classes: int, chunk_bytes: int = CHUNK_BYTES) -> list[slice]:
    """Slices of tiles whose float32 weights take about ``chunk_bytes``."""
    step = max(MIN_CHUNK_ROWS, chunk_bytes // max(4 * n_classes, 1))
    return [slice(a, min(a + step, n_tiles)) for a in range(0, n_tiles, step)]


def score_head(table: HeadTable, values: np.ndarray, out: Optional[np.ndarray] = None,
               cancel: CancelCheck | None = None) -> np.ndarray:
    """Log-likelihood (P, T) float32 of P photos' values under every tile's distribution of one head."""
    labels = table.num_classes // params_per_label(table.distribution)
    if np.atleast_2d(values).shape[1] != labels:
        raise ScoringError(
            f"head '{table.name}': photos have {np.atleast_2d(values).shape[1]} classes but the tiles "
            f"predict {labels}; the labels and the model must use the same label space"
        )
    v, d = photo_vectors(table.distribution, values)
    n_tiles = table.weights.shape[0]
    out = np.empty((v.shape[0], n_tiles), np.float32) if out is None else out
    many = v.shape[0] >= 16  # a product big enough to be compute-bound: larger chunks keep BLAS efficient
    parts = tile_chunks(n_tiles, table.num_classes, CHUNK_BYTES * (4 if many else 1))
    if parts:
        const32 = table.const.astype(np.float32)  # once per call: float32 like the scores; -inf stays -inf
        with warnings.catch_warnings():  # here, not in the workers: the filters are process-wide
            warnings.simplefilter("ignore", UserWarning)  # torch on a read-only memory map: it is only read
            _score_chunks(table, const32, v, d.astype(np.float32)[:, None], out, parts, cancel)
    return out


def _score_chunks(table: HeadTable, const32: np.ndarray, v: np.ndarray, d32: np.ndarray, out: np.ndarray,
                  parts: list[slice], cancel: CancelCheck | None) -> None:
    """Fill ``out`` chunk by chunk: in torch worker threads when torch is there, else in numpy here."""
    try:
        import torch
    except ImportError:  # the engine has torch; numpy is the slow but correct fallback
        buffer = np.empty((parts[0].stop, table.num_classes), np.float32)
        for part in parts:
            check_cancel(cancel)
            w = buffer[: part.stop - part.start]
            np.copyto(w, table.weights[part])
            np.matmul(v, w.T, out=out[:, part])
            out[:, part] += const32[part]
            out[:, part] += d32
        return
    threads = torch.get_num_threads()
    budget = max(1, min(threads, len(parts)))
    spans = [parts[i::budget] for i in range(budget)]  # interleaved: equal work, neighbouring reads
    if budget == 1:
        _torch_worker(torch, table, const32, v, d32, out, spans[0], cancel, single_thread=False)
        return
    from concurrent.futures import ThreadPoolExecutor

    try:
        with ThreadPoolExecutor(budget, thread_name_prefix="xview-score") as pool:
            jobs = [pool.submit(_torch_worker, torch, table, const32, v, d32, out, span, cancel) for span in spans]
            for job in jobs:
                job.result()  # re-raises a worker's error (Cancelled, ...)
    finally:
        torch.set_num_threads(threads)  # torch's default for new threads, as it was (see _torch_worker)


def _torch_worker(torch: Any, table: HeadTable, const32: np.ndarray, v: np.ndarray, d32: np.ndarray,
                  out: np.ndarray, parts: list[slice], cancel: CancelCheck | None, single_thread: bool = True) -> None:
    """Score ``parts`` in this thread with one reused float32 buffer (see the module docstring).

    One photo (the common query): each chunk's product goes straight into its (contiguous) slice of
    ``out`` and the constants are added there, four calls a chunk; the per-call overhead, which holds
    the GIL that the workers share, was most of a float16 index's time. Several photos: through a
    scores buffer, as ``out[:, part]`` is then strided.
    ``torch.set_num_threads(1)`` changes this thread's OpenMP and MKL setting and torch's default for
    threads not started yet; the caller puts the default back when the workers are done.
    """
    if single_thread:
        torch.set_num_threads(1)
    rows = max(p.stop - p.start for p in parts)
    widen = table.weights.dtype != np.float32  # float32 chunks are used in place
    buffer = torch.empty((rows if widen else 0, table.num_classes), dtype=torch.float32)
    one = v.shape[0] == 1
    scores = torch.empty(0 if one else v.shape[0] * rows, dtype=torch.float32)
    vt, dt, ct, out_t = torch.from_numpy(v), torch.from_numpy(d32), torch.from_numpy(const32), torch.from_numpy(out)
    weights = torch.from_numpy(np.asarray(table.weights))
    for part in parts:
        check_cancel(cancel)
        n = part.stop - part.start
        w = weights[part]
        if widen:
            w = buffer[:n].copy_(w)
        block = out_t[:, part] if one else scores[: v.shape[0] * n].view(v.shape[0], n)
        torch.mm(vt, w.T, out=block)
        block += ct[part]
        block += dt
        if not one:
            out_t[:, part] = block


def score_photos(tables: Mapping[str, HeadTable], values: Mapping[str, np.ndarray],
                 weights: Mapping[str, float] | None = None, keep_heads: bool = True,
                 progress: ProgressCallback | None = None, cancel: CancelCheck | None = None) -> dict[str, np.ndarray]:
    """Scores (P, T) per head (if ``keep_heads``) and ``'combined'`` = sum of weight x head score.

    ``values`` maps head name -> (P, K) photo distributions (counts for Poisson heads); its keys pick
    the heads used and must all exist in ``tables``.
    """
    heads = list(values)
    missing = [h for h in heads if h not in tables]
    if not heads or missing:
        raise ScoringError(f"photo labels name heads {missing or heads} that the index lacks "
                           f"(index heads: {', '.join(tables)})")
    w = check_weights(heads, weights)
    results: dict[str, np.ndarray] = {}
    combined: np.ndarray | None = None
    buffer: np.ndarray | None = None
    for i, head in enumerate(heads):
        scores = score_head(tables[head], values[head], out=None if keep_heads else buffer, cancel=cancel)
        if keep_heads:
            results[head] = scores
        else:
            buffer = scores
        if combined is None:
            combined = np.multiply(scores, np.float32(w[head]))
        elif w[head] == 1.0:
            np.add(combined, scores, out=combined)
        else:
            combined += np.float32(w[head]) * scores
        if progress is not None:
            progress(i + 1, len(heads))
    results[COMBINED] = combined
    return results
