"""Cross-view distillation as a localization method: score a photo's teacher outputs under every tile.

An index stores each head's likelihood table (``likelihood.tile_table``: Dirichlet alphas, Poisson
log-rates or softmax means, plus per-tile constants), photos are their label distributions from a
label file or the teachers, matched to the model's heads and label order by name, and a photo's
score is its joint log-likelihood, one matrix product per head (``likelihood.score_photos``).
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
from xview_engine.model.manifest import Manifest
from xview_engine.progress import CancelCheck, ProgressCallback

if TYPE_CHECKING:
    from xview_engine.localization.index import TileIndex

WEIGHTS_ARE = {"dirichlet": "alpha", "poisson": "log rate", "mean": "mean", "beta": "alpha | beta",
               "bernoulli": "logit P(yes)", "gaussian": "mean / variance | -1 / (2 variance)"}


class DistillLikelihood:
    kind = "distill"
    description = "joint log-likelihood of the photo's teacher outputs under each tile's predicted distributions"

    def index_arrays(self, manifest: Manifest, dtype: str) -> list[ArraySpec]:
        arrays = []
        for i, head in enumerate(manifest.heads):
            arrays.append(ArraySpec(f"head{i}.weights", (head.num_params,), dtype, 0.0))
            arrays.append(ArraySpec(f"head{i}.const", (), "float64", -np.inf))
        return arrays

    def index_header(self, manifest: Manifest, dtype: str) -> dict[str, Any]:
        return {"heads": [{"name": h.name, "distribution": h.distribution, "classes": h.num_classes,
                           "weights": f"head{i}.weights.npy", "const": f"head{i}.const.npy",
                           "weights_are": WEIGHTS_ARE[h.distribution]} for i, h in enumerate(manifest.heads)]}

    def tile_arrays(self, manifest: Manifest, outputs: Mapping[str, np.ndarray],
                    dtype: str) -> Optional[tuple[np.ndarray, dict[str, np.ndarray]]]:
        blocks = [outputs.get(h.name) for h in manifest.heads]
        if any(b is None for b in blocks):
            return None
        ok = np.logical_and.reduce([np.isfinite(b).all(axis=1) for b in blocks])  # type: ignore[union-attr]
        values: dict[str, np.ndarray] = {}
        for i, (head, block) in enumerate(zip(manifest.heads, blocks)):
            table = tile_table(head.name, head.distribution, block[ok], dtype)  # type: ignore[index]
            values[f"head{i}.weights"], values[f"head{i}.const"] = table.weights, table.const
        return ok, values

    def describe_photos(self, photos: Sequence[str | Path], options: PhotoOptions,
                        progress: Optional[ProgressCallback] = None, cancel: Optional[CancelCheck] = None) -> Queries:
        if bool(options.labels) == bool(options.teachers):
            raise LabelFileError("give the photos' label distributions with --labels FILE, or --teachers SPEC to "
                                 "compute them (one of the two)")
        if options.labels:
            return from_label_file(options.labels, list(photos) or None, use_exif=options.use_exif)
        if not photos:
            raise LabelFileError("--teachers needs the photos to label: list them after the command")
        return from_teachers(options.teachers or "", list(photos), options.device, progress=progress, cancel=cancel)

    def score(self, index: TileIndex, queries: Queries, heads: Sequence[str] = (),
              weights: Optional[Mapping[str, float]] = None, keep_heads: bool = True,
              progress: Optional[ProgressCallback] = None, cancel: Optional[CancelCheck] = None) -> Scores:
        values = align_to_model(queries, index.manifest, list(heads) or None)
        return Scores(score_photos(head_tables(index), values, weights, keep_heads, progress, cancel))

    def score_tile(self, index: TileIndex, tile: int, queries: Queries, heads: Sequence[str] = (),
                   weights: Optional[Mapping[str, float]] = None) -> np.ndarray:
        values = align_to_model(queries, index.manifest, list(heads) or None)
        one = {h: HeadTable(t.name, t.distribution, t.weights[tile:tile + 1], t.const[tile:tile + 1])
               for h, t in head_tables(index).items()}
        return score_photos(one, values, weights, keep_heads=False)[COMBINED][:, 0]


def head_tables(index: TileIndex) -> dict[str, HeadTable]:
    """The index's likelihood tables per head (views of its memory-mapped arrays)."""
    return {h.name: HeadTable(h.name, h.distribution, index.arrays[f"head{i}.weights"],
                              np.asarray(index.arrays[f"head{i}.const"]))
            for i, h in enumerate(index.manifest.heads)}


register_method(DistillLikelihood())
