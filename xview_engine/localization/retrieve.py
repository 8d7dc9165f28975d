"""Cross-view retrieval both ways, with the same likelihood as localization.

* photo -> tiles: the k overhead tiles under whose predicted distributions a photo's labels are most
  likely, each cut out of the raster as a PNG chip (what the model saw there);
* tile -> photos: for one overhead tile (a point on the map), the photos of a collection whose
  labels are most likely under that tile's predicted distributions: "what would I see here",
  answered with real photos of similar predicted content; with no photos or labels given, the
  collection the model carries (a knn model's reference photos, ranked by the aerial features of
  their tiles: ``localization/photo_search.py``), shown on a contact sheet PNG with a CSV beside it.

Both read the same (P, T) log-likelihood: rows rank tiles for a photo, a column ranks photos for a
tile (only that column is computed). ``retrieve(RetrieveParams)`` is `xview retrieve` minus parsing.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

import numpy as np

from xview_engine.errors import LabelFileError, OutputError
from xview_engine.localization.index import TileIndex, check_index, load_index
from xview_engine.localization.localize import photo_results, score_queries
from xview_engine.localization.methods import PhotoOptions
from xview_engine.localization.photo_search import contact_sheet, own_collection, photos_near_tile, write_hits_csv
from xview_engine.localization.photos import Queries
from xview_engine.localization.sheets import ChipSource, write_chip
from xview_engine.outputs import atomic_output, check_outputs_free


@dataclass(frozen=True)
class RetrieveParams:
    index: str
    out_dir: str
    photos: tuple[str, ...] = ()  # photo -> tiles for these photos (or, with tile, the collection)
    tile: Optional[tuple[float, float]] = None  # tile -> photos at this point
    tile_crs: Optional[str] = None  # CRS of ``tile`` (default: the index grid's), e.g. EPSG:4326
    labels: Optional[str] = None
    teachers: Optional[str] = None
    raster: Optional[str] = None  # where chips are cut (default: the raster recorded in the index)
    heads: tuple[str, ...] = ()
    weights: Mapping[str, float] = field(default_factory=dict)
    top_k: int = 5
    device: str = "auto"
    overwrite: bool = False


def retrieve(params: RetrieveParams) -> dict[str, Any]:
    """Run one direction (``tile`` given: tile -> photos; else photo -> tiles); returns retrieve.json."""
    if params.top_k < 1:
        raise LabelFileError(f"--top-k {params.top_k} must be at least 1")
    out = Path(params.out_dir)
    if not out.parent.exists():
        raise OutputError(f"cannot create {out}: its parent folder {out.parent} does not exist")
    index = load_index(params.index)
    check_index(index, params.raster)
    if params.tile is not None:
        return _tile_to_photos(params, index, out)
    return _photos_to_tiles(params, index, out)


def _queries(params: RetrieveParams, index: TileIndex) -> Queries:
    options = PhotoOptions(labels=params.labels, teachers=params.teachers,
                           model=(index.header.get("model") or {}).get("path"), device=params.device)
    return index.scorer.describe_photos(params.photos, options)


def _photos_to_tiles(params: RetrieveParams, index: TileIndex, out: Path) -> dict[str, Any]:
    if not params.photos:
        raise LabelFileError("photo -> tiles needs at least one PHOTO (or --tile X,Y for tile -> photos)")
    queries = _queries(params, index)
    stems = [Path(p).stem for p in queries.photos]
    chips = {s: [out / f"{s}_rank{r + 1:02d}.png" for r in range(params.top_k)] for s in stems}
    _check_free(out, [p for ps in chips.values() for p in ps], params.overwrite)
    scores = score_queries(index, queries, params.heads, params.weights)
    results = photo_results(index, queries, scores, params.top_k)
    with ChipSource(index, params.raster) as source:
        for stem, result in zip(stems, results):
            for cand, path in zip(result.candidates, chips[stem]):
                write_chip(source, index, cand.tile, path)
    report = {"direction": "photo->tiles", "index": params.index,
              "photos": [{**r.to_dict(), "chips": [str(p) for p in chips[s][:len(r.candidates)]]}
                         for s, r in zip(stems, results)]}
    return _write_json(out, report)


def _tile_to_photos(params: RetrieveParams, index: TileIndex, out: Path) -> dict[str, Any]:
    tile = tile_at_point(index, params.tile, params.tile_crs)  # type: ignore[arg-type]
    chip, sheet, table = out / f"tile_{tile}.png", out / f"tile_{tile}_photos.png", out / f"tile_{tile}_photos.csv"
    _check_free(out, [chip, sheet, table], params.overwrite)
    queries = _collection(params, index)
    hits = photos_near_tile(index, tile, queries, params.top_k, params.heads, params.weights)
    with ChipSource(index, params.raster) as source:
        write_chip(source, index, tile, chip)
    x, y = index.xy[tile]
    lon, lat = index.lonlat[tile]
    contact_sheet(hits, sheet, chip, f"tile {tile}")
    write_hits_csv(hits, table)
    report = {"direction": "tile->photos", "index": params.index, "chip": str(chip), "contact_sheet": str(sheet),
              "csv": str(table),
              "tile": {"tile": tile, "x": float(x), "y": float(y), "lon": float(lon), "lat": float(lat)},
              "photos": [_finite(h.to_dict()) for h in hits]}
    return _write_json(out, report)


def _collection(params: RetrieveParams, index: TileIndex) -> Queries:
    """The photos given (or the label file's), else the collection the model carries (kNN references)."""
    if not (params.photos or params.labels or params.teachers):
        options = PhotoOptions(model=(index.header.get("model") or {}).get("path"), device=params.device)
        own = own_collection(index, options)
        if own is not None:
            return own
    return _queries(params, index)


def _finite(entry: dict[str, Any]) -> dict[str, Any]:
    """NaN (an unknown place) as null, so retrieve.json stays strict JSON."""
    return {k: (None if isinstance(v, float) and not np.isfinite(v) else v) for k, v in entry.items()}


def tile_at_point(index: TileIndex, point: tuple[float, float], crs: Optional[str]) -> int:
    """The indexed tile nearest a point given in ``crs`` (default: the index grid CRS)."""
    x, y = point
    if crs:
        from rasterio.warp import transform

        from xview_engine.raster.crs import as_crs

        xs, ys = transform(as_crs(crs), index.grid.crs, [x], [y])
        x, y = xs[0], ys[0]
    tile = int(index.tile_at(np.array([x]), np.array([y]))[0])
    if tile < 0:
        raise LabelFileError(f"--tile {point[0]:g},{point[1]:g} is not on an indexed tile of {index.path} "
                             f"(grid CRS {index.header['grid']['crs'][:40]}...; give --tile-crs for other CRSs)")
    return tile


def _check_free(out: Path, paths: list[Path], overwrite: bool) -> None:
    if out.exists():
        check_outputs_free([*paths, out / "retrieve.json"], overwrite)
    out.mkdir(exist_ok=True)


def _write_json(out: Path, report: dict[str, Any]) -> dict[str, Any]:
    with atomic_output(out / "retrieve.json") as tmp:
        tmp.write_text(json.dumps(report, indent=2), encoding="utf-8")
    return report
