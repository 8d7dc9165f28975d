"""Training data: overhead tiles around each photo's location, paired with the photo's teacher labels.

Tiles are cut through the mapping engine's own ``RasterioSource`` at the model's GSD (same
resampling, same [0, 1] scaling, and the manifest's mean/std applied later by the trainer), so
what the model learns from is exactly what ``xview map`` will show it. Tiles can also come from
image files named in a ``tile`` column of the pairs CSV (already cut, any size: resized here).
Everything is held in memory: training sets for this CPU-first tool are thousands of tiles.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from xview_engine.data.label_files import LabelFile
from xview_engine.data.pairs import Pairs
from xview_engine.errors import TrainingError, XviewWarning
from xview_engine.model.manifest import InputSpec
from xview_engine.progress import CancelCheck, ProgressCallback, check_cancel

MIN_VALID_FRACTION = 0.5  # same rule as mapping: a tile more than half no-data is not used
SPLITS = ("train", "val", "test")


@dataclass
class TrainingData:
    """Tiles (N, C, H, W) float32 in [0, 1], targets per head (N, K), split name per row; for a
    time-aware model, each photo's time as cyclic features (N, F) (``model.time_features``)."""

    tiles: np.ndarray
    targets: dict[str, np.ndarray]
    split: np.ndarray
    times: np.ndarray | None = None

    def subset(self, split: str) -> TrainingData:
        return self.rows(self.split == split)

    def rows(self, keep: np.ndarray) -> TrainingData:
        return TrainingData(self.tiles[keep], {h: v[keep] for h, v in self.targets.items()}, self.split[keep],
                            None if self.times is None else self.times[keep])

    def __len__(self) -> int:
        return len(self.tiles)


def cut_raster_tiles(raster: str | Path, lon: np.ndarray, lat: np.ndarray, spec: InputSpec,
                     progress: ProgressCallback | None = None,
                     cancel: CancelCheck | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Tiles of ``spec`` centred on each (lon, lat), and the valid-pixel fraction of each tile."""
    from rasterio.crs import CRS
    from rasterio.warp import transform

    from xview_engine.raster import crs as geo
    from xview_engine.raster.extent import work_crs_for
    from xview_engine.raster.source import RasterioSource, raster_crs_and_bounds

    crs, bounds = raster_crs_and_bounds(raster)
    work_crs = work_crs_for(crs, bounds, None, None, None)
    n, px = len(lon), spec.tile_px
    tiles = np.zeros((n, len(spec.bands), px, px), np.float32)
    valid = np.zeros(n, np.float32)
    with RasterioSource(raster, len(spec.bands), spec.bands, work_crs=work_crs) as src:
        xs, ys = transform(CRS.from_epsg(4326), geo.as_crs(src.crs), list(lon), list(lat))
        b = src.bounds
        kx, ky = geo.ground_scale(src.crs, (b[0] + b[2]) / 2, (b[1] + b[3]) / 2,
                                  reference=max(b[2] - b[0], b[3] - b[1]))
        half_x, half_y = spec.footprint_m * kx / 2, spec.footprint_m * ky / 2
        for i, (x, y) in enumerate(zip(xs, ys)):
            if i % 64 == 0:
                check_cancel(cancel)
            pixels, mask = src.read_window((x - half_x, y - half_y, x + half_x, y + half_y), (px, px))
            tiles[i], valid[i] = pixels, mask.mean()
            if progress is not None and (i % 64 == 63 or i == n - 1):
                progress(i + 1, n)
    return tiles, valid


def image_tiles(paths: tuple[Path, ...], spec: InputSpec) -> np.ndarray:
    """Tiles from image files (already cut around each photo), resized to the model's tile size."""
    from xview_engine.data.images import read_rgb

    out = np.zeros((len(paths), len(spec.bands), spec.tile_px, spec.tile_px), np.float32)
    for i, path in enumerate(paths):
        if not path.is_file():
            raise TrainingError(f"tile image {path} (tile column of the pairs CSV) does not exist")
        rgb = read_rgb(path, TrainingError, size=(spec.tile_px, spec.tile_px))
        out[i] = rgb.astype(np.float32).transpose(2, 0, 1)[: len(spec.bands)] / 255.0
    return out


def match_labels(pairs: Pairs, labels: LabelFile) -> np.ndarray:
    """Row of the label file for each photo of the pairs CSV (matched by resolved photo path)."""
    index = {p.resolve(): i for i, p in enumerate(labels.photo_paths())}
    rows = [index.get(p.resolve(), -1) for p in pairs.photos]
    missing = [str(p) for p, r in zip(pairs.photos, rows) if r < 0]
    if missing:
        raise TrainingError(f"{len(missing)} photo(s) of {pairs.csv_path} have no labels in the label file "
                            f"(first: {missing[0]}); run 'xview teach' on this pairs CSV")
    return np.asarray(rows)


def assign_splits(pairs: Pairs, seed: int, val: float = 0.02, test: float = 0.05) -> np.ndarray:
    """The CSV's split column when every row has one, else a seeded random 93/2/5 split (the seed's)."""
    split = pairs.columns["split"]
    if all(s in SPLITS for s in split):
        return split
    rng = np.random.default_rng(seed)
    u = rng.random(len(pairs))
    return np.where(u < test, "test", np.where(u < test + val, "val", "train"))


def photo_time_features(pairs: Pairs, labels: LabelFile, rows: np.ndarray,
                        features: tuple[str, ...]) -> tuple[np.ndarray, np.ndarray]:
    """(N, F) time features of each photo and whether it has a time: the pairs CSV's ``time`` column,
    else the label file's, else the photo's EXIF DateTimeOriginal (``data.photo_time``)."""
    from xview_engine.data.photo_time import photo_times
    from xview_engine.model.time_features import feature_width, time_vector

    table = pairs.columns.get("time")
    if table is None and "time" in labels.table:
        table = np.asarray(labels.table["time"])[rows]
    times = photo_times(pairs.photos, None if table is None else [str(t) for t in table])
    known = np.array([t is not None for t in times], bool)
    out = np.zeros((len(times), feature_width(features)), np.float32)
    for i, when in enumerate(times):
        if when is not None:
            out[i] = time_vector(when, features)
    if not known.any():
        raise TrainingError(f"a time-aware model needs when each photo was taken, and no photo of {pairs.csv_path} "
                            "says: add a 'time' column (ISO 8601) to the pairs CSV, or photos with EXIF "
                            "DateTimeOriginal")
    if not known.all():
        warnings.warn(f"{int((~known).sum())} photo(s) of {pairs.csv_path} have no usable time and are left out "
                      "of training the time-aware model", XviewWarning, stacklevel=2)
    return out, known


def build_training_data(pairs: Pairs, labels: LabelFile, heads: tuple[str, ...], spec: InputSpec,
                        raster: str | Path | None, seed: int = 0, progress: ProgressCallback | None = None,
                        cancel: CancelCheck | None = None, time_features: tuple[str, ...] = ()) -> TrainingData:
    """Tiles + targets + splits (+ times); photos whose tile is mostly outside the raster are dropped, and
    for a time-aware model (``time_features``) photos with no known time."""
    rows = match_labels(pairs, labels)
    times, timed = (photo_time_features(pairs, labels, rows, time_features) if time_features
                    else (None, np.ones(len(pairs), bool)))
    targets = {h: labels.head(h)[rows] for h in heads}
    split = assign_splits(pairs, seed)
    if raster is not None:
        tiles, valid = cut_raster_tiles(raster, pairs.columns["lon"], pairs.columns["lat"], spec, progress, cancel)
        keep = valid >= MIN_VALID_FRACTION
    elif pairs.tiles is not None:
        tiles, keep = image_tiles(pairs.tiles, spec), np.ones(len(pairs), bool)
    else:
        raise TrainingError("no overhead source: give --raster R, or a 'tile' column of tile images in the pairs CSV")
    if not keep.any():
        raise TrainingError(f"no photo of {pairs.csv_path} lies inside the overhead raster {raster}; "
                            "check that they cover the same place")
    keep = keep & timed
    data = TrainingData(tiles, targets, split, times).rows(keep)
    if not (data.split == "train").any() or not (data.split == "val").any():
        raise TrainingError(f"training needs photos in both the train and val splits (got "
                            f"{dict(zip(*np.unique(data.split, return_counts=True)))})")
    return data
