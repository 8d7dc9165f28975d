"""The localization tool: where was this photo taken? Photos -> what the method scores -> every tile.

``localize(LocalizeParams)`` is `xview localize` minus argument parsing, and what the plugin's
Geolocate task calls. Stages: refuse existing outputs -> find the method of the index (or of the
model that will build a temporary one) -> describe the photos as that method scores them (label
distributions for distillation) -> open the index and refuse it when stale or built by another
method -> score all photos against every tile -> per photo: top-k candidates (with what the method
adds, e.g. a heading), the true tile's rank when the photo's position is known, heatmap.
``score_queries`` is the reusable middle (evaluation and retrieval call it too).
"""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Optional

import numpy as np

from xview_engine.errors import LabelFileError
from xview_engine.limits import MAX_WEIGHT, check_number
from xview_engine.localization.index import TileIndex, check_index, load_index
from xview_engine.localization.methods import LocalizationMethod, PhotoOptions, Scores, method_for
from xview_engine.localization.metrics import geodesic_m, ranks_from_scores
from xview_engine.localization.photos import Queries
from xview_engine.localization.ranking import COMBINED, best_tiles, posterior
from xview_engine.model.runtime import read_model_manifest
from xview_engine.outputs import check_outputs_free
from xview_engine.progress import CancelCheck, ProgressCallback


@dataclass(frozen=True)
class LocalizeParams:
    """Plain data built the same way by the CLI, the dock and the Processing algorithm."""

    photos: tuple[str, ...]
    out: str  # heatmap .tif for one photo; a folder (made if missing) for several
    index: Optional[str] = None
    raster: Optional[str] = None  # with model: index on the fly (temporary)
    model: Optional[str] = None
    labels: Optional[str] = None  # label file with the photos' distributions
    teachers: Optional[str] = None  # or a teacher spec to label them now
    heads: tuple[str, ...] = ()
    weights: Mapping[str, float] = field(default_factory=dict)
    top_k: int = 10
    device: str = "auto"
    batch_size: int = 32
    stride_m: Optional[float] = None
    overwrite: bool = False
    fov_deg: Optional[float] = None  # the photos' field of view (twin models; None: 360-degree panoramas)


@dataclass
class Candidate:
    rank: int
    tile: int
    row: int
    col: int
    x: float
    y: float
    lon: float
    lat: float
    score: float
    posterior: float
    extras: dict[str, float] = field(default_factory=dict)  # what the method adds, e.g. heading_deg


@dataclass
class PhotoResult:
    """One photo's answer: candidates best first, and the truth's ranks when its position is known."""

    photo: str
    candidates: list[Candidate]
    heatmap: Optional[str] = None
    truth: Optional[dict[str, Any]] = None

    def to_dict(self) -> dict[str, Any]:
        return {"photo": self.photo, "heatmap": self.heatmap, "candidates": [asdict(c) for c in self.candidates],
                "truth": self.truth}


def truth_tiles(index: TileIndex, lonlat: np.ndarray) -> np.ndarray:
    """Index of the tile nearest each (lon, lat); -1 when unknown, outside the grid or never run."""
    from rasterio.warp import transform

    lonlat = np.asarray(lonlat, np.float64).reshape(-1, 2)
    known = np.isfinite(lonlat).all(axis=1)
    tiles = np.full(len(lonlat), -1, np.int64)
    if known.any():
        xs, ys = transform("EPSG:4326", index.grid.crs, lonlat[known, 0].tolist(), lonlat[known, 1].tolist())
        tiles[known] = index.tile_at(np.array(xs), np.array(ys))
    return tiles


def score_queries(index: TileIndex, queries: Queries, heads: Sequence[str] = (),
                  weights: Optional[Mapping[str, float]] = None, keep_heads: bool = True,
                  progress: Optional[ProgressCallback] = None, cancel: Optional[CancelCheck] = None) -> Scores:
    """(P, T) scores per head and combined, by the index's own method; tiles that never ran score -inf.

    ``weights`` are checked here, not only by the CLI, so Processing and the dock get the same refusal
    of a NaN, negative or absurd weight (which would silently turn every score into NaN)."""
    for name, value in (weights or {}).items():
        check_number(f"--weights {name}=", value, 0, MAX_WEIGHT, LabelFileError)
    return index.scorer.score(index, queries, heads, weights, keep_heads, progress, cancel)


def truth_report(index: TileIndex, scores: Mapping[str, np.ndarray], p: int, tile: int, lonlat: np.ndarray,
                 best: int, source: str, heading: float = float("nan")) -> dict[str, Any]:
    """Ranks of the true tile per head and combined, its best-x %, how far the best candidate is, and
    the true heading (degrees clockwise from north) when the photo's EXIF or label file gives it."""
    report: dict[str, Any] = {"lon": float(lonlat[0]), "lat": float(lonlat[1]), "source": source,
                              "tile": int(tile) if tile >= 0 else None, "candidates": index.n_valid,
                              "heading_deg": float(heading) if np.isfinite(heading) else None}
    if tile < 0:
        report["note"] = "the true position lies outside the indexed tiles"
    else:
        report["rank"] = {h: int(ranks_from_scores(s[p:p + 1], [tile])[0]) for h, s in scores.items()}
        report["best_percent"] = {h: 100.0 * r / index.n_valid for h, r in report["rank"].items()}
    blon, blat = index.lonlat[best]
    report["best_candidate_distance_m"] = float(geodesic_m(blon, blat, lonlat[0], lonlat[1]))
    return report


def photo_results(index: TileIndex, queries: Queries, scores: Scores, top_k: int) -> list[PhotoResult]:
    """Top-k candidates (and truth ranks) for every photo, from the score matrices."""
    combined = scores.heads[COMBINED]
    top = best_tiles(combined, top_k)
    truths = truth_tiles(index, queries.truth_lonlat)
    results = []
    for p, photo in enumerate(queries.photos):
        post = posterior(combined[p:p + 1])[0]
        cands = [_candidate(index, rank + 1, int(t), float(combined[p, t]), float(post[t]),
                            {k: float(v[p, t]) for k, v in scores.extras.items()})
                 for rank, t in enumerate(top[p]) if np.isfinite(combined[p, t])]
        truth = None
        if np.isfinite(queries.truth_lonlat[p]).all():
            truth = truth_report(index, scores.heads, p, int(truths[p]), queries.truth_lonlat[p], int(top[p, 0]),
                                 queries.truth_source[p], queries.truth_heading[p])
        results.append(PhotoResult(str(photo), cands, truth=truth))
    return results


def _candidate(index: TileIndex, rank: int, tile: int, score: float, post: float,
               extras: dict[str, float]) -> Candidate:
    row, col = divmod(tile, index.grid.cols)
    x, y = index.xy[tile]
    lon, lat = index.lonlat[tile]
    return Candidate(rank, tile, row, col, float(x), float(y), float(lon), float(lat), score, post, extras)


def heatmap_paths(photos: Sequence[str], out: str) -> list[Path]:
    """One photo: ``out`` itself; several: ``out/<photo name>.tif`` (names must then be unique)."""
    if len(photos) == 1:
        return [Path(out)]
    stems = [Path(p).stem for p in photos]
    if len(set(stems)) != len(stems):
        raise LabelFileError("several photos share a file name; localize them in separate runs")
    return [Path(out) / f"{s}.tif" for s in stems]


@contextlib.contextmanager
def open_index(params: LocalizeParams, progress: Optional[ProgressCallback] = None,
               cancel: Optional[CancelCheck] = None) -> Iterator[TileIndex]:
    """The given index (checked against its raster and, if given, the model), or a temporary one."""
    if params.index:
        index = load_index(params.index)
        check_index(index, params.raster, params.model)
        yield index
        return
    if not (params.raster and params.model):
        raise LabelFileError("give --index INDEX, or --raster R with --model M to index on the fly")
    from xview_engine.localization.build import IndexParams, build_index

    with tempfile.TemporaryDirectory(prefix="xview-index-") as tmp:
        build_index(IndexParams(raster=params.raster, model=params.model, device=params.device,
                                batch_size=params.batch_size, stride_m=params.stride_m, out=str(Path(tmp) / "index")),
                    progress, cancel)
        yield load_index(Path(tmp) / "index")


def localize_method(params: LocalizeParams) -> LocalizationMethod:
    """The method of the given index, or of the model a temporary index would be built with."""
    if params.index:
        return load_index(params.index).scorer
    if params.raster and params.model:
        return method_for(read_model_manifest(params.model).kind)
    raise LabelFileError("give --index INDEX, or --raster R with --model M to index on the fly")


def photo_options(params: LocalizeParams) -> PhotoOptions:
    model = params.model  # an embedding method describes photos with the index's own model
    if model is None and params.index:
        model = (load_index(params.index).header.get("model") or {}).get("path")
    return PhotoOptions(labels=params.labels, teachers=params.teachers, model=model, device=params.device,
                        fov_deg=params.fov_deg)


def localize(params: LocalizeParams, progress: Optional[ProgressCallback] = None,
             cancel: Optional[CancelCheck] = None) -> list[PhotoResult]:
    """See the module docstring; returns one result per photo, heatmaps written."""
    from xview_engine.localization.heatmap import write_heatmap

    if not params.photos:
        raise LabelFileError("no photo given")
    if params.top_k < 1:
        raise LabelFileError(f"--top-k {params.top_k} must be at least 1")
    paths = heatmap_paths(params.photos, params.out)
    if len(paths) > 1:
        Path(params.out).mkdir(exist_ok=True)
    check_outputs_free(paths, params.overwrite)
    queries = localize_method(params).describe_photos(params.photos, photo_options(params))
    with open_index(params, progress, cancel) as index:
        scores = score_queries(index, queries, params.heads, params.weights, cancel=cancel)
        results = photo_results(index, queries, scores, params.top_k)
        for p, (result, path) in enumerate(zip(results, paths)):
            write_heatmap(path, index, {h: s[p] for h, s in scores.heads.items()}, {"xview_photo": result.photo})
            result.heatmap = str(path)
    return results
