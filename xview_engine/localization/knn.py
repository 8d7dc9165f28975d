"""kNN-averaged localization with off-the-shelf classifier features (Workman & Jacobs, section 4.3).

No cross-view training: the same published classifier describes ground photos and aerial tiles. A
query photo's ``k`` nearest reference photos by feature (Euclidean) are found, the mean of *their*
aerial tiles' features becomes the query, and every map tile is ranked by Euclidean distance to it.
The index stores each tile's feature vector and ``-|f|^2``, so the score of every tile,
``-|q - f|^2 = 2 q.f - |f|^2 - |q|^2``, is one matrix product (a linear score, like distillation's).
The reference set and ``k`` travel in the knn model file (``model/feature_net.py``).
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
from xview_engine.model.feature_net import HEAD
from xview_engine.model.manifest import Manifest
from xview_engine.progress import CancelCheck, ProgressCallback, check_cancel

if TYPE_CHECKING:
    from xview_engine.localization.index import TileIndex

TILE_CHUNK = 65536


def photo_features(network: Any, photos: Sequence[str | Path], device: Any = "cpu", batch_size: int = 16,
                   cancel: Optional[CancelCheck] = None) -> np.ndarray:
    """(P, D) features of the chosen layer for ground photos, resized whole to the network's input and
    normalised like its tiles (``network.photo_px``, ``photo_mean``, ``photo_std``)."""
    import torch

    from xview_engine.teachers.base import read_photo, to_tensor

    out = []
    for start in range(0, len(photos), batch_size):
        check_cancel(cancel)
        images = [read_photo(p) for p in photos[start:start + batch_size]]
        batch = to_tensor(images, network.photo_px, network.photo_mean, network.photo_std)
        with torch.inference_mode():
            out.append(network(batch.to(device))[HEAD].float().cpu().numpy())
    width = network.reference_photos.shape[1]
    return np.concatenate(out).astype(np.float64) if out else np.zeros((0, width))


def knn_average(photo_feats: np.ndarray, reference_photos: np.ndarray, reference_tiles: np.ndarray,
                k: int) -> np.ndarray:
    """(P, D): per query, the mean of the aerial features of its ``k`` nearest reference photos.

    Ties in distance are broken by reference order (a stable sort), so the answer is reproducible.
    """
    if len(reference_photos) == 0:
        raise LabelFileError("the knn model has no reference photos; build it with --pairs and --raster")
    k = max(1, min(int(k), len(reference_photos)))
    d2 = (np.square(photo_feats).sum(1)[:, None] - 2.0 * photo_feats @ reference_photos.T
          + np.square(reference_photos).sum(1)[None, :])
    nearest = np.argsort(d2, axis=1, kind="stable")[:, :k]
    return reference_tiles[nearest].mean(axis=1)


def euclidean_scores(queries: np.ndarray, features: np.ndarray, minus_sqnorm: np.ndarray) -> np.ndarray:
    """(P, T) ``-|q - f|^2`` from the stored features and ``-|f|^2``; -inf where a tile never ran."""
    q = np.asarray(queries, np.float64)
    out = np.empty((len(q), len(features)), np.float64)
    for start in range(0, len(features), TILE_CHUNK):
        block = np.asarray(features[start:start + TILE_CHUNK], np.float64)
        out[:, start:start + len(block)] = 2.0 * q @ block.T + np.asarray(minus_sqnorm[start:start + len(block)])
    return out - np.square(q).sum(1)[:, None]


def own_features(photos: Sequence[str | Path], options: PhotoOptions,
                 cancel: Optional[CancelCheck] = None) -> tuple[Any, list[Path], np.ndarray]:
    """The knn model of ``options``, the photo paths, and the photos' own (P, D) features."""
    from xview_engine.model.device import resolve_device
    from xview_engine.model.file import load_model

    paths = photos_for_model(photos, options.model,
                             "the knn method describes photos with its knn model: give --model KNN.safetensors")
    device = resolve_device(options.device)
    loaded = load_model(options.model, device=device)
    return loaded, paths, photo_features(loaded.model, paths, device, cancel=cancel)


class KnnAveraged:
    kind = "knn"
    description = "Euclidean distance of each tile's classifier features to the mean aerial features of the " \
                  "photo's nearest reference photos"

    def index_arrays(self, manifest: Manifest, dtype: str) -> list[ArraySpec]:
        width = manifest.heads[0].num_classes
        return [ArraySpec("features", (width,), dtype, 0.0), ArraySpec("features.minus_sqnorm", (), "float64",
                                                                        -np.inf)]

    def index_header(self, manifest: Manifest, dtype: str) -> dict[str, Any]:
        return {"features": {"layer": manifest.backbone.options.get("layer"), "width": manifest.heads[0].num_classes,
                             "values": "features.npy", "minus_sqnorm": "features.minus_sqnorm.npy"}}

    def tile_arrays(self, manifest: Manifest, outputs: Mapping[str, np.ndarray],
                    dtype: str) -> Optional[tuple[np.ndarray, dict[str, np.ndarray]]]:
        ran = finite_rows(outputs, HEAD)
        if ran is None:
            return None
        ok, rows = ran
        stored = rows.astype(dtype)
        return ok, {"features": stored, "features.minus_sqnorm": -np.square(stored.astype(np.float64)).sum(1)}

    def describe_photos(self, photos: Sequence[str | Path], options: PhotoOptions,
                        progress: Optional[ProgressCallback] = None, cancel: Optional[CancelCheck] = None) -> Queries:
        loaded, paths, feats = own_features(photos, options, cancel)
        net = loaded.model
        k = int(loaded.manifest.backbone.options.get("k", 30))
        query = knn_average(feats, net.reference_photos.double().cpu().numpy(),
                            net.reference_tiles.double().cpu().numpy(), k)
        return Queries(paths, {HEAD: query}, {HEAD: loaded.manifest.heads[0].labels},
                       *photo_truths(paths, options.use_exif))

    def verification_queries(self, photos: Sequence[str | Path], options: PhotoOptions) -> Queries:
        """Each photo's *own* classifier features (no kNN averaging), beside the tiles' ``features``:
        verification by the feature distance of photo and tile, the paper's ImageNet / Places fc7
        baseline (needs no reference photos)."""
        loaded, paths, feats = own_features(photos, options)
        return Queries(paths, {HEAD: feats}, {HEAD: loaded.manifest.heads[0].labels},
                       *photo_truths(paths, options.use_exif))

    def reference_queries(self, options: PhotoOptions) -> Optional[Queries]:
        """The photo collection the model carries: its reference photos, each described by the features
        of *its aerial tile*, so that ``score_tile`` ranks them by aerial similarity to a map tile
        (tile -> photos, Workman & Jacobs Fig. 8). None for a model built without references."""
        from xview_engine.model.file import load_model

        if not options.model:
            return None
        loaded = load_model(options.model)
        paths = loaded.manifest.training.get("reference_photos") or []
        tiles = loaded.model.reference_tiles.double().numpy()
        if not paths or len(paths) != len(tiles):
            return None
        lonlat = np.asarray(loaded.manifest.training.get("reference_lonlat") or np.full((len(paths), 2), np.nan),
                            np.float64)
        return Queries([Path(p) for p in paths], {HEAD: tiles}, {HEAD: loaded.manifest.heads[0].labels}, lonlat,
                       ["reference"] * len(paths))

    @staticmethod
    def score_to_distance(scores: np.ndarray) -> np.ndarray:
        """Scores are ``-|q - f|^2``: the Euclidean feature distance they stand for."""
        return np.sqrt(np.maximum(-np.asarray(scores, np.float64), 0.0))

    def score(self, index: TileIndex, queries: Queries, heads: Sequence[str] = (),
              weights: Optional[Mapping[str, float]] = None, keep_heads: bool = True,
              progress: Optional[ProgressCallback] = None, cancel: Optional[CancelCheck] = None) -> Scores:
        scores = euclidean_scores(queries.values[HEAD], index.arrays["features"], index.arrays["features.minus_sqnorm"])
        return Scores({HEAD: scores, COMBINED: scores} if keep_heads else {COMBINED: scores})

    def score_tile(self, index: TileIndex, tile: int, queries: Queries, heads: Sequence[str] = (),
                   weights: Optional[Mapping[str, float]] = None) -> np.ndarray:
        return euclidean_scores(queries.values[HEAD], index.arrays["features"][tile:tile + 1],
                                index.arrays["features.minus_sqnorm"][tile:tile + 1])[:, 0]


register_method(KnnAveraged())
