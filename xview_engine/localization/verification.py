"""Location verification (Lin et al. 2015): was this photo taken here? Pair distances, P(same place), AP.

``verify_point`` embeds one photo (ground branch) and the tile centred on one point (aerial branch,
the one-tile grid of "What's here", so the footprint is exactly that of ``xview map``) and reports
their embedding distance and the model's calibrated P(same place). ``verify_pairs`` is the paper's
evaluation: every photo of a pairs CSV against its own tile (matched) and ``negatives`` tiles drawn,
seeded, at least ``min_distance_m`` away (unmatched), all read from an index; it reports the
precision-recall curve, the average precision, the distance histograms of both kinds of pair and a
contact sheet of the easiest matched and hardest unmatched pairs (``verification_report``). Any
method whose photos and tiles share one feature space verifies the same way (a Siamese index by its
embeddings; a knn index by the classifier's own features of photo and tile, the paper's
off-the-shelf baseline); `xview verify --pairs` and `xview evaluate --task verify` both call it.

Average precision is the non-interpolated sum over score thresholds of (R_n - R_{n-1}) P_n, the
definition scikit-learn's ``average_precision_score`` uses (tied scores form one threshold).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional

import numpy as np

from xview_engine.errors import LabelFileError, TrainingError
from xview_engine.model.siamese import EMBEDDING, same_place_probability
from xview_engine.progress import CancelCheck, check_cancel

if TYPE_CHECKING:
    from xview_engine.raster.source import RasterSource

# Lin et al. 2015, Table 2: Where-CNN AP on 12.5K matched test pairs with 20x unmatched
PAPER_AP = {"where_cnn_imagenet_init": 0.419, "where_cnn_places_init": 0.414}


@dataclass(frozen=True)
class PairSample:
    """Pairs of (photo row, tile) with label 1 = matched (same place), 0 = unmatched."""

    photo: np.ndarray
    tile: np.ndarray
    label: np.ndarray

    def __len__(self) -> int:
        return len(self.label)


def sample_pairs(distance_m: np.ndarray, matched: np.ndarray, negatives: int, min_distance_m: float,
                 seed: int) -> PairSample:
    """Each photo with its ``matched`` tile, plus ``negatives`` tiles drawn uniformly (with replacement)
    among those at least ``min_distance_m`` away; ``distance_m`` (P, T) are photo-to-tile ground distances."""
    d = np.asarray(distance_m, np.float64)
    n = len(d)
    rng = np.random.default_rng(seed)
    photos, tiles, labels = [np.arange(n)], [np.asarray(matched, np.int64)], [np.ones(n, np.int64)]
    for i in range(n):
        far = np.flatnonzero(d[i] >= min_distance_m)
        if negatives and far.size:
            photos.append(np.full(negatives, i))
            tiles.append(rng.choice(far, size=negatives))
            labels.append(np.zeros(negatives, np.int64))
    if negatives and len(labels) == 1:
        raise TrainingError(f"no tile lies {min_distance_m:g} m from any photo: lower --min-distance-m")
    return PairSample(np.concatenate(photos), np.concatenate(tiles), np.concatenate(labels))


def precision_recall(scores: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Precision and recall at every distinct score threshold, highest threshold first."""
    s = np.asarray(scores, np.float64)
    y = np.asarray(labels, bool)
    if not y.any():
        raise LabelFileError("precision and recall need at least one matched pair")
    order = np.argsort(-s, kind="stable")
    s, y = s[order], y[order]
    last = np.r_[np.flatnonzero(np.diff(s)), len(s) - 1]  # last pair of each run of equal scores
    tp = np.cumsum(y)[last]
    fp = (last + 1) - tp
    return tp / (tp + fp), tp / y.sum()


def average_precision(scores: np.ndarray, labels: np.ndarray) -> float:
    """sum_n (R_n - R_{n-1}) P_n over thresholds (see the module docstring)."""
    precision, recall = precision_recall(scores, labels)
    return float(np.sum(np.diff(np.r_[0.0, recall]) * precision))


def embedding_distance(similarity: np.ndarray) -> np.ndarray:
    """Distance of unit embeddings from their cosine similarity: d = sqrt(2 - 2 cos)."""
    return np.sqrt(np.clip(2.0 - 2.0 * np.asarray(similarity, np.float64), 0.0, None))


def verdict(distance: float, calibration: Optional[dict[str, float]]) -> dict[str, Any]:
    """Distance and P(same place) (None when the model carries no calibration)."""
    p = None if not calibration else float(same_place_probability(distance, calibration))
    return {"distance": float(distance), "p_same_place": p}


def verify_point(photo: str | Path, model: str | Path, raster: Optional[str | Path],
                 lonlat: Optional[tuple[float, float]] = None, xy: Optional[tuple[float, float]] = None,
                 device: str = "auto", source: Optional[RasterSource] = None) -> dict[str, Any]:
    """Was ``photo`` taken in the tile centred at ``lonlat`` (WGS84) or ``xy`` (the source's CRS)?

    The tile is read from ``source`` when given (the plugin's layers; left open), else from ``raster``.
    """
    import contextlib

    import torch

    from xview_engine.localization.siamese import embed_photos
    from xview_engine.mapping.point import point_outputs
    from xview_engine.model.device import resolve_device
    from xview_engine.model.file import load_model
    from xview_engine.raster.source import RasterioSource

    if (lonlat is None) == (xy is None):
        raise LabelFileError("give the place as --at LON,LAT or --xy X,Y (one of the two)")
    loaded = load_model(model, device=resolve_device(device))
    if loaded.manifest.kind != "siamese":
        raise LabelFileError(f"model {model} is a '{loaded.manifest.kind}' model; verification needs a Siamese one")
    net, spec = loaded.model, loaded.manifest.input
    dev = next(net.parameters()).device

    def run(tiles: np.ndarray) -> dict[str, np.ndarray]:
        with torch.inference_mode():
            return {k: v.float().cpu().numpy() for k, v in net(torch.from_numpy(tiles).to(dev)).items()}

    opened = contextlib.nullcontext(source) if source is not None else RasterioSource(raster, len(spec.bands),
                                                                                      spec.bands)
    with opened as source:
        if lonlat is not None:
            from rasterio.warp import transform

            xs, ys = transform("EPSG:4326", source.crs, [lonlat[0]], [lonlat[1]])
            xy = (xs[0], ys[0])
        grid, outputs = point_outputs(source, run, spec, float(xy[0]), float(xy[1]))
    tile = outputs[EMBEDDING][0]
    ground = embed_photos(net, [Path(photo)])[0]
    result = {"photo": str(photo), "x": float(grid.x0), "y": float(grid.y0), "crs": str(source.crs),
              "footprint_m": grid.footprint_m, "similarity": float(ground @ tile)}
    return {**result, **verdict(float(embedding_distance(ground @ tile)), loaded.manifest.network.get("calibration"))}


@dataclass(frozen=True)
class VerifyPairsParams:
    index: str
    photos: str  # pairs CSV
    out_dir: str
    split: Optional[str] = None
    negatives: int = 20
    min_distance_m: float = 100.0
    seed: int = 0
    device: str = "auto"
    overwrite: bool = False
    raster: Optional[str] = None  # where the contact sheet's tiles are cut (default: the index's raster)


def verify_pairs(params: VerifyPairsParams, cancel: Optional[CancelCheck] = None) -> dict[str, Any]:
    """The paper's verification evaluation over an index; writes the report files, returns the JSON.

    Any method that describes photos and tiles in one feature space (``verification_queries``, see
    ``localization.methods``) is verified the same way: a Siamese index by its embeddings, a knn
    index by the classifier's own features of photo and tile (the off-the-shelf baseline).
    """
    from xview_engine.localization.evaluate import EvaluateParams, evaluation_queries, report_paths
    from xview_engine.localization.index import check_index, load_index
    from xview_engine.localization.localize import truth_tiles
    from xview_engine.localization.metrics import geodesic_m
    from xview_engine.localization.verification_report import REPORT_FILES, write_verification

    out_dir = Path(params.out_dir)
    paths = report_paths(out_dir, REPORT_FILES, params.overwrite)
    index = load_index(params.index)
    check_index(index)
    describe = getattr(index.scorer, "verification_queries", None)
    if describe is None:
        raise LabelFileError(f"index {params.index} was built by a '{index.method}' model, whose method does not "
                             "describe photos and tiles in one feature space; verification needs a Siamese or "
                             "knn index")
    queries = evaluation_queries(EvaluateParams(params.index, params.photos, str(out_dir), split=params.split,
                                                device=params.device), index, describe)
    check_cancel(cancel)
    truth = truth_tiles(index, queries.truth_lonlat)
    inside = np.flatnonzero(truth >= 0)
    if inside.size == 0:
        raise LabelFileError(f"none of the photos of {params.photos} lies inside the indexed tiles of {params.index}")
    valid = np.flatnonzero(index.valid)
    lonlat = queries.truth_lonlat[inside]
    dist = geodesic_m(lonlat[:, None, 0], lonlat[:, None, 1], index.lonlat[None, valid, 0],
                      index.lonlat[None, valid, 1])
    position = np.full(index.n_tiles, -1)
    position[valid] = np.arange(len(valid))
    pairs = sample_pairs(dist, position[truth[inside]], params.negatives, params.min_distance_m, params.seed)
    (name, values), = queries.values.items()
    distance = pair_distances(np.asarray(values)[inside], index.arrays[name], pairs.photo, valid[pairs.tile])
    precision, recall = precision_recall(-distance, pairs.label)
    matched = pairs.label == 1
    report = {"index": str(params.index), "photos": str(params.photos), "split": params.split,
              "method": index.method, "features": name,
              "matched_pairs": int(matched.sum()), "unmatched_pairs": int((~matched).sum()),
              "negatives_per_photo": params.negatives, "min_distance_m": params.min_distance_m, "seed": params.seed,
              "average_precision": average_precision(-distance, pairs.label), "random_ap": float(matched.mean()),
              "mean_distance": {"matched": float(distance[matched].mean()),
                                "unmatched": float(distance[~matched].mean()) if (~matched).any() else None},
              "paper_ap": PAPER_AP}
    out_dir.mkdir(exist_ok=True)
    pairs = PairSample(inside[pairs.photo], valid[pairs.tile], pairs.label)  # query rows, index tiles from here on
    write_verification(paths, report, queries.photos, index, pairs, distance, precision, recall,
                       index.manifest.network.get("calibration"), params.raster)
    return report


def unit_rows(values: np.ndarray) -> np.ndarray:
    """Rows scaled to unit Euclidean length (an all-zero row stays zero)."""
    v = np.asarray(values, np.float64)
    norm = np.linalg.norm(v, axis=1, keepdims=True)
    return v / np.where(norm > 0, norm, 1.0)


def pair_distances(photos: np.ndarray, tiles: np.ndarray, photo: np.ndarray, tile: np.ndarray) -> np.ndarray:
    """Distance of each (photo, tile) pair's L2-normalised vectors, ``sqrt(2 - 2 cos)``; only the pairs'
    tiles are read from ``tiles`` (a memory-mapped index array)."""
    used, where = np.unique(tile, return_inverse=True)
    t = unit_rows(np.asarray(tiles[used]))[where]
    return embedding_distance(np.einsum("pd,pd->p", unit_rows(photos)[photo], t))
