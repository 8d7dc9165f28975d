"""Cross-view distillation as a localization method: score a photo's teacher outputs under every tile.

An index stores each head's likelihood table (``likelihood.tile_table``: Dirichlet alphas, Poisson
log-rates or softmax means, plus per-tile constants), photos are their label distributions from a
label file or the teachers, matched to the model's heads and label order by name, and a photo's
score is its joint log-likelihood, one matrix product per head (``likelihood.score_photos``).

A time-aware model's index keeps every table at S times (``time_steps``: arrays (T, S, K) and
(T, S)); each photo is scored at the step its time falls in, or, with no known time (or
``PhotoOptions.use_time`` off), marginalised over all steps.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional

import numpy as np

from xview_engine.errors import LabelFileError
from xview_engine.localization.likelihood import HeadTable, score_photos, tile_table
from xview_engine.localization.methods import ArraySpec, PhotoOptions, Scores, register_method
from xview_engine.localization.photos import Queries, align_to_model, from_label_file, from_teachers
from xview_engine.localization.ranking import COMBINED
from xview_engine.localization.time_steps import index_time_features, index_times, marginal, photo_steps
from xview_engine.model.manifest import Manifest
from xview_engine.model.time_features import format_time
from xview_engine.progress import CancelCheck, ProgressCallback

if TYPE_CHECKING:
    from xview_engine.localization.index import TileIndex

WEIGHTS_ARE = {"dirichlet": "alpha", "poisson": "log rate", "mean": "mean", "beta": "alpha | beta",
               "bernoulli": "logit P(yes)", "gaussian": "mean / variance | -1 / (2 variance)"}


class DistillLikelihood:
    kind = "distill"
    description = "joint log-likelihood of the photo's teacher outputs under each tile's predicted distributions"

    def index_arrays(self, manifest: Manifest, dtype: str) -> list[ArraySpec]:
        steps = _steps(manifest)
        arrays = []
        for i, head in enumerate(manifest.heads):
            arrays.append(ArraySpec(f"head{i}.weights", (*steps, head.num_params), dtype, 0.0))
            arrays.append(ArraySpec(f"head{i}.const", steps, "float64", -np.inf))
        return arrays

    def index_header(self, manifest: Manifest, dtype: str) -> dict[str, Any]:
        header: dict[str, Any] = {
            "heads": [{"name": h.name, "distribution": h.distribution, "classes": h.num_classes,
                       "weights": f"head{i}.weights.npy", "const": f"head{i}.const.npy",
                       "weights_are": WEIGHTS_ARE[h.distribution]} for i, h in enumerate(manifest.heads)]}
        if manifest.takes_time:
            header["time_steps"] = [format_time(t) for t in index_times(manifest.time_features)]
        return header

    def index_times(self, manifest: Manifest) -> Optional[np.ndarray]:
        """The (S, F) times a time-aware model is run at when indexing (None: time-blind)."""
        return index_time_features(manifest.time_features) if manifest.takes_time else None

    def tile_arrays(self, manifest: Manifest, outputs: Mapping[str, np.ndarray],
                    dtype: str) -> Optional[tuple[np.ndarray, dict[str, np.ndarray]]]:
        blocks = [outputs.get(h.name) for h in manifest.heads]
        if any(b is None for b in blocks):
            return None
        ok = np.logical_and.reduce([np.isfinite(b).all(axis=1) for b in blocks])  # type: ignore[union-attr]
        steps = _steps(manifest)
        values: dict[str, np.ndarray] = {}
        for i, (head, block) in enumerate(zip(manifest.heads, blocks)):
            rows = block[ok].reshape(-1, head.num_params)  # type: ignore[index]  # (n * S, P), step-minor
            table = tile_table(head.name, head.distribution, rows, dtype)
            values[f"head{i}.weights"] = table.weights.reshape(-1, *steps, head.num_params)
            values[f"head{i}.const"] = table.const.reshape(-1, *steps)
        return ok, values

    def describe_photos(self, photos: Sequence[str | Path], options: PhotoOptions,
                        progress: Optional[ProgressCallback] = None, cancel: Optional[CancelCheck] = None) -> Queries:
        if bool(options.labels) == bool(options.teachers):
            raise LabelFileError("give the photos' label distributions with --labels FILE, or --teachers SPEC to "
                                 "compute them (one of the two)")
        if options.labels:
            queries = from_label_file(options.labels, list(photos) or None, use_exif=options.use_exif)
        elif not photos:
            raise LabelFileError("--teachers needs the photos to label: list them after the command")
        else:
            queries = from_teachers(options.teachers or "", list(photos), options.device, progress=progress,
                                    cancel=cancel)
        if not options.use_time:
            queries.times = None
        return queries

    def score(self, index: TileIndex, queries: Queries, heads: Sequence[str] = (),
              weights: Optional[Mapping[str, float]] = None, keep_heads: bool = True,
              progress: Optional[ProgressCallback] = None, cancel: Optional[CancelCheck] = None) -> Scores:
        values = align_to_model(queries, index.manifest, list(heads) or None)
        if not index.manifest.takes_time:
            return Scores(score_photos(head_tables(index), values, weights, keep_heads, progress, cancel))
        return Scores(_score_in_time(index, slice(None), queries, values, weights, keep_heads, cancel))

    def score_tile(self, index: TileIndex, tile: int, queries: Queries, heads: Sequence[str] = (),
                   weights: Optional[Mapping[str, float]] = None) -> np.ndarray:
        values = align_to_model(queries, index.manifest, list(heads) or None)
        if index.manifest.takes_time:
            return _score_in_time(index, slice(tile, tile + 1), queries, values, weights, False)[COMBINED][:, 0]
        one = {h: HeadTable(t.name, t.distribution, t.weights[tile:tile + 1], t.const[tile:tile + 1])
               for h, t in head_tables(index).items()}
        return score_photos(one, values, weights, keep_heads=False)[COMBINED][:, 0]


def _steps(manifest: Manifest) -> tuple[int, ...]:
    """(S,) for a time-aware model's index arrays, () for a time-blind one."""
    return (len(index_times(manifest.time_features)),) if manifest.takes_time else ()


def head_tables(index: TileIndex, step: Optional[int] = None,
                tiles: slice = slice(None)) -> dict[str, HeadTable]:
    """The index's likelihood tables per head (views of its memory-mapped arrays); a time-aware index's
    at time ``step``."""
    at = (tiles,) if step is None else (tiles, step)
    return {h.name: HeadTable(h.name, h.distribution, index.arrays[f"head{i}.weights"][at],
                              np.asarray(index.arrays[f"head{i}.const"][at]))
            for i, h in enumerate(index.manifest.heads)}


def _score_in_time(index: TileIndex, tiles: slice, queries: Queries, values: dict[str, np.ndarray],
                   weights: Optional[Mapping[str, float]], keep_heads: bool,
                   cancel: Optional[CancelCheck] = None) -> dict[str, np.ndarray]:
    """Each photo at the index step of its time; photos of unknown time marginalised over every step."""
    features = index.manifest.time_features
    n_steps = len(index_times(features))
    steps = photo_steps(queries.times, len(queries), features)
    out: dict[str, np.ndarray] = {}

    def put(rows: np.ndarray, scores: dict[str, np.ndarray]) -> None:
        for key, value in scores.items():
            if key not in out:
                out[key] = np.empty((len(queries), value.shape[1]), np.float32)
            out[key][rows] = value

    for step in np.unique(steps[steps >= 0]):
        rows = np.flatnonzero(steps == step)
        put(rows, score_photos(head_tables(index, int(step), tiles), {h: v[rows] for h, v in values.items()},
                               weights, keep_heads, cancel=cancel))
    unknown = np.flatnonzero(steps < 0)
    if unknown.size:
        totals: dict[str, np.ndarray] = {}
        for step in range(n_steps):
            scores = score_photos(head_tables(index, step, tiles), {h: v[unknown] for h, v in values.items()},
                                  weights, keep_heads, cancel=cancel)
            for key, value in scores.items():
                totals[key] = marginal(totals.get(key), value, n_steps, step == n_steps - 1)
        put(unknown, totals)
    return out


register_method(DistillLikelihood())
