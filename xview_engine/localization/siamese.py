"""The Siamese network (Where-CNN) as a localization method: one embedding for photos and tiles.

An index stores every tile's L2-normalised aerial embedding (``embedding.npy``, (T, D)); photos
are embedded by the model's ground branch; a photo's score against a tile is the cosine
similarity of the two embeddings, ``1 - d^2 / 2`` for the embedding distance d, so every photo is
scored against every tile with one matrix product, walked in chunks of the memory-mapped tiles.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional

import numpy as np

from xview_engine.errors import LabelFileError
from xview_engine.localization.methods import ArraySpec, PhotoOptions, Scores, finite_rows, register_method
from xview_engine.localization.photos import Queries, photo_truths, photos_for_model
from xview_engine.localization.ranking import COMBINED
from xview_engine.model.manifest import Manifest
from xview_engine.model.siamese import EMBEDDING
from xview_engine.progress import CancelCheck, ProgressCallback, check_cancel

if TYPE_CHECKING:
    from xview_engine.localization.index import TileIndex
    from xview_engine.model.siamese import SiameseModel
    from xview_engine.raster.source import RasterSource

TILE_CHUNK = 65536  # tiles per matrix product: (P x chunk) floats at a time
PHOTO_BATCH = 32


class SiameseEmbedding:
    kind = "siamese"
    description = "cosine similarity of the photo's ground-branch embedding and each tile's aerial embedding"

    def index_arrays(self, manifest: Manifest, dtype: str) -> list[ArraySpec]:
        return [ArraySpec(EMBEDDING, (manifest.hidden,), dtype, 0.0)]

    def index_header(self, manifest: Manifest, dtype: str) -> dict[str, Any]:
        return {"embedding": {"file": f"{EMBEDDING}.npy", "dim": manifest.hidden, "normalised": "L2",
                              "score": "cosine similarity = 1 - d^2 / 2"}}

    def tile_arrays(self, manifest: Manifest, outputs: Mapping[str, np.ndarray],
                    dtype: str) -> Optional[tuple[np.ndarray, dict[str, np.ndarray]]]:
        ran = finite_rows(outputs, EMBEDDING)
        if ran is None:
            return None
        ok, rows = ran
        return ok, {EMBEDDING: rows.astype(dtype)}

    def describe_photos(self, photos: Sequence[str | Path], options: PhotoOptions,
                        progress: Optional[ProgressCallback] = None, cancel: Optional[CancelCheck] = None) -> Queries:
        paths = photos_for_model(photos, options.model, "a Siamese index embeds the photos with its model: give "
                                 "--model M (the model the index was built with)")
        from xview_engine.model.device import resolve_device
        from xview_engine.model.file import load_model

        loaded = load_model(options.model, device=resolve_device(options.device))
        values = embed_photos(loaded.model, paths, progress, cancel)
        return Queries(paths, {EMBEDDING: values}, {EMBEDDING: tuple(f"e{i}" for i in range(values.shape[1]))},
                       *photo_truths(paths, options.use_exif))

    def verification_queries(self, photos: Sequence[str | Path], options: PhotoOptions) -> Queries:
        """Verification compares the photo's embedding with the tile's: the queries localization scores."""
        return self.describe_photos(photos, options)

    def score(self, index: TileIndex, queries: Queries, heads: Sequence[str] = (),
              weights: Optional[Mapping[str, float]] = None, keep_heads: bool = True,
              progress: Optional[ProgressCallback] = None, cancel: Optional[CancelCheck] = None) -> Scores:
        return Scores({COMBINED: similarity(index.arrays[EMBEDDING], index.valid, photo_embeddings(index, queries),
                                            progress, cancel)})

    def score_tile(self, index: TileIndex, tile: int, queries: Queries, heads: Sequence[str] = (),
                   weights: Optional[Mapping[str, float]] = None) -> np.ndarray:
        q = photo_embeddings(index, queries)
        if not index.valid[tile]:
            return np.full(len(q), -np.inf)
        return q @ np.asarray(index.arrays[EMBEDDING][tile], np.float32)

    @staticmethod
    def verify(photo: str | Path, model: str | Path, source: RasterSource, x: float, y: float,
               device: str = "auto") -> dict[str, Any]:
        """Was ``photo`` taken in the tile centred at (x, y) of ``source``? (``verification.verify_point``)"""
        from xview_engine.localization.verification import verify_point

        return verify_point(photo, model, None, xy=(x, y), device=device, source=source)


def photo_embeddings(index: TileIndex, queries: Queries) -> np.ndarray:
    """The queries' (P, D) embeddings, refused when they do not come from a model of the index's width."""
    q = queries.values.get(EMBEDDING)
    if q is None or q.shape[1] != index.manifest.hidden:
        raise LabelFileError(f"the photos were not embedded by a Siamese model of width {index.manifest.hidden} "
                             f"like index {index.path}; give the index's own --model")
    return np.asarray(q, np.float32)


def similarity(tiles: np.ndarray, valid: np.ndarray, photos: np.ndarray, progress: Optional[ProgressCallback] = None,
               cancel: Optional[CancelCheck] = None, chunk: int = TILE_CHUNK) -> np.ndarray:
    """(P, T) cosine similarity of photo and tile embeddings, -inf where a tile never ran."""
    n = len(tiles)
    out = np.empty((len(photos), n), np.float32)
    for start in range(0, n, chunk):
        check_cancel(cancel)
        stop = min(start + chunk, n)
        out[:, start:stop] = photos @ np.asarray(tiles[start:stop], np.float32).T
        if progress is not None:
            progress(stop, n)
    out[:, ~np.asarray(valid, bool)] = -np.inf
    return out


def embed_photos(model: SiameseModel, photos: Sequence[Path], progress: Optional[ProgressCallback] = None,
                 cancel: Optional[CancelCheck] = None) -> np.ndarray:
    """(P, D) ground-branch embeddings of the photos, resized whole to the model's photo input."""
    import torch

    from xview_engine.teachers.base import read_photo

    parameter = next(model.parameters())
    out = []
    for start in range(0, len(photos), PHOTO_BATCH):
        check_cancel(cancel)
        batch = photo_tensor([read_photo(p) for p in photos[start:start + PHOTO_BATCH]], model.manifest)
        with torch.inference_mode():
            out.append(model.ground(batch.to(parameter.device)).float().cpu().numpy())
        if progress is not None:
            progress(min(start + PHOTO_BATCH, len(photos)), len(photos))
    return np.concatenate(out).astype(np.float32)


def photo_tensor(images: list[np.ndarray], manifest: Manifest) -> Any:
    """RGB uint8 photos -> the ground branch's normalised (B, 3, H, W) batch (training uses the same)."""
    from xview_engine.teachers.base import to_tensor

    net = manifest.network
    return to_tensor(images, tuple(net["photo_px"]), tuple(net["photo_mean"]), tuple(net["photo_std"]))


register_method(SiameseEmbedding())
