"""Tile -> ground photos: what would I see at this spot on the map, shown with real photos.

For any method, the photos of a collection are ranked by the method's score against one map tile
(``LocalizationMethod.score_tile``). Which collection: the photos the user gives (described by the
method as for localization), or, when none are given, the one the model carries itself
(``reference_queries``): for the kNN method of off-the-shelf features those are the reference
photos described by the features of *their* aerial tiles, so the answer is Workman & Jacobs'
aerial-based photo search (Fig. 8): the reference tiles that look most like this one, and the
photos taken there. The results go to a contact sheet PNG (the tile's chip, then the photos with
their rank and score or distance) and a CSV; ``retrieve --tile`` and the plugin call these, and
``photos_at_point`` answers for a point of any raster source without an index (the plugin's
"What's here").
"""

from __future__ import annotations

import csv
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Optional

import numpy as np

from xview_engine.localization.methods import PhotoOptions
from xview_engine.localization.photos import Queries
from xview_engine.localization.ranking import best_tiles
from xview_engine.localization.sheets import image_sheet
from xview_engine.outputs import atomic_output

if TYPE_CHECKING:
    from xview_engine.localization.index import TileIndex
    from xview_engine.model.runtime import ModelRuntime
    from xview_engine.progress import CancelCheck
    from xview_engine.raster.source import RasterSource

@dataclass(frozen=True)
class PhotoHit:
    """One photo found for a tile: its rank (1 = best), the method's score and, where the score stands
    for one, the feature distance; where the photo was taken when known (NaN otherwise)."""

    rank: int
    photo: str
    score: float
    distance: Optional[float]
    lon: float
    lat: float

    def to_dict(self) -> dict:
        return asdict(self)


def own_collection(index: TileIndex, options: PhotoOptions) -> Optional[Queries]:
    """The photo collection the index's model carries (``reference_queries``), or None."""
    hook = getattr(index.scorer, "reference_queries", None)
    return hook(options) if hook is not None else None


def photos_near_tile(index: TileIndex, tile: int, queries: Queries, top_k: int = 8, heads: Sequence[str] = (),
                     weights: Optional[Mapping[str, float]] = None) -> list[PhotoHit]:
    """The ``top_k`` photos of ``queries`` that score best against ``tile``, best first (ties in order)."""
    column = np.asarray(index.scorer.score_tile(index, tile, queries, heads, weights), np.float64)
    order = best_tiles(column[None, :], top_k)[0]
    to_distance = getattr(index.scorer, "score_to_distance", None)
    distances = to_distance(column[order]) if to_distance is not None else [None] * len(order)
    return [PhotoHit(r + 1, str(queries.photos[i]), float(column[i]), None if d is None else float(d),
                     float(queries.truth_lonlat[i, 0]), float(queries.truth_lonlat[i, 1]))
            for r, (i, d) in enumerate(zip(order, distances))]


def photos_at_point(source: RasterSource, runtime: ModelRuntime, options: PhotoOptions, x: float, y: float,
                    top_k: int = 8, cancel: Optional[CancelCheck] = None) -> Optional[list[PhotoHit]]:
    """The model's own collection ranked against the tile centred at (x, y) of ``source``, with no index.

    The plugin's "What's here": the one-tile grid of ``mapping.point`` (the footprint of ``xview map``)
    becomes a one-tile index, so the ranking is ``photos_near_tile``'s. None when the model carries no
    collection (its method has no ``reference_queries``, or this model file has no references).
    """
    from xview_engine.localization.index import TileIndex
    from xview_engine.localization.methods import method_for
    from xview_engine.mapping.point import point_outputs

    manifest = runtime.manifest
    method = method_for(manifest.kind)
    hook = getattr(method, "reference_queries", None)
    queries = hook(options) if hook is not None else None
    if queries is None:
        return None
    grid, outputs = point_outputs(source, runtime.run, manifest.input, x, y, cancel)
    ran = method.tile_arrays(manifest, outputs, "float32")
    if ran is None:
        return None
    index = TileIndex(Path("point"), {}, manifest, grid, np.ones(1, bool), np.array([[grid.x0, grid.y0]]),
                      np.full((1, 2), np.nan), manifest.kind, ran[1])
    return photos_near_tile(index, 0, queries, top_k)


def write_hits_csv(hits: list[PhotoHit], path: Path) -> Path:
    with atomic_output(path) as tmp, open(tmp, "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(PhotoHit.__dataclass_fields__))
        writer.writeheader()
        for hit in hits:
            writer.writerow({k: ("" if v is None else v) for k, v in hit.to_dict().items()})
    return path


def contact_sheet(hits: list[PhotoHit], path: Path, chip: Optional[Path] = None, title: str = "") -> Path:
    """A PNG grid (``sheets.image_sheet``): the tile's chip first (when given), then each photo's
    thumbnail with its rank and distance (or score)."""
    cells = ([(chip, title or "this tile")] if chip is not None else []) + \
        [(Path(h.photo), _caption(h)) for h in hits]
    return image_sheet(cells, path)


def _caption(hit: PhotoHit) -> str:
    value = f"d {hit.distance:.3g}" if hit.distance is not None else f"score {hit.score:.4g}"
    return f"#{hit.rank} {value} {Path(hit.photo).stem[:10]}"
