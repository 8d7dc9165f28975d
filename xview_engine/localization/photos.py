"""Query photos: their label distributions per head and, when known, where they were really taken.

The photo side of localization. Distributions come from a label file (``xview synth`` or
``xview teach`` output, read by ``xview_engine.data.label_files``) or from running the teachers on the
photos. Heads are matched to the index's model *by name*, and label columns by label name (a file
listing the same labels in another order is reordered; different labels are refused), so a photo is
never scored against the wrong classes. Truth positions come from each photo's EXIF GPS, else from
the label file's lat/lon columns; the true heading (degrees clockwise from true north) from the EXIF
GPSImgDirection, else the label file's heading column; when it was taken from the label file's
time column, else its EXIF DateTimeOriginal (a time-aware index scores each photo at its time).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Optional

import numpy as np

from xview_engine.data.photo_time import photo_times
from xview_engine.errors import LabelFileError
from xview_engine.model.manifest import Manifest
from xview_engine.progress import CancelCheck, ProgressCallback

if TYPE_CHECKING:
    from xview_engine.data.exif import GeoTag


@dataclass
class Queries:
    """P photos: ``values[head]`` (P, K) with ``labels[head]`` naming the columns; truth lon/lat or NaN."""

    photos: list[Path]
    values: dict[str, np.ndarray]
    labels: dict[str, tuple[str, ...]]
    truth_lonlat: np.ndarray  # (P, 2), NaN where unknown
    truth_source: list[str] = field(default_factory=list)  # per photo: 'exif', 'labels' or ''
    truth_heading: Optional[np.ndarray] = None  # (P,) degrees clockwise from true north, NaN where unknown
    times: Optional[list[Optional[datetime]]] = None  # when each photo was taken (None where unknown)

    def __post_init__(self) -> None:
        if self.truth_heading is None:
            self.truth_heading = np.full(len(self.photos), np.nan)

    def __len__(self) -> int:
        return len(self.photos)

    def subset(self, rows: np.ndarray) -> Queries:
        rows = np.asarray(rows)
        return Queries([self.photos[i] for i in rows], {h: v[rows] for h, v in self.values.items()}, self.labels,
                       self.truth_lonlat[rows], [self.truth_source[i] for i in rows], self.truth_heading[rows],
                       None if self.times is None else [self.times[i] for i in rows])


def from_label_file(path: str | os.PathLike, photos: Optional[Sequence[str | os.PathLike]] = None,
                    split: Optional[str] = None, use_exif: bool = True) -> Queries:
    """Queries from a label file: all its photos, those of ``split``, or the listed ``photos`` in order."""
    from xview_engine.data.label_files import read_label_file

    lf = read_label_file(path)
    paths = lf.photo_paths() if "path" in lf.table else [Path(f"{path}#{i}") for i in range(len(lf))]
    if photos:
        rows = _match_photos(paths, [Path(p) for p in photos], Path(path))
    elif split:
        rows = np.flatnonzero(lf.table["split"] == split) if "split" in lf.table else np.array([], int)
        if rows.size == 0:
            raise LabelFileError(f"label file {path} has no photo of split '{split}'")
    else:
        rows = np.arange(len(lf))
    table_lonlat = np.full((len(lf), 2), np.nan)
    if "lon" in lf.table and "lat" in lf.table:
        table_lonlat = np.column_stack([lf.table["lon"], lf.table["lat"]]).astype(np.float64)
    table_heading = np.asarray(lf.table["heading"], np.float64) if "heading" in lf.table else np.full(len(lf), np.nan)
    chosen = [paths[i] for i in rows]
    table_times = [str(t) for t in np.asarray(lf.table["time"])[rows]] if "time" in lf.table else None
    return Queries(chosen, {h: v[rows] for h, v in lf.heads.items()}, dict(lf.names),
                   *_truths(chosen, table_lonlat[rows], use_exif, table_heading[rows]),
                   times=photo_times(chosen, table_times, use_exif))


def _match_photos(paths: list[Path], wanted: list[Path], label_file: Path) -> np.ndarray:
    """Rows of ``wanted`` photos among the label file's, by resolved path, else by unique file name."""
    by_path = {os.path.realpath(p): i for i, p in enumerate(paths)}
    by_name: dict[str, list[int]] = {}
    for i, p in enumerate(paths):
        by_name.setdefault(p.name, []).append(i)
    rows = []
    for photo in wanted:
        i = by_path.get(os.path.realpath(photo))
        if i is None and len(by_name.get(photo.name, [])) == 1:
            i = by_name[photo.name][0]
        if i is None:
            raise LabelFileError(f"photo {photo} is not in label file {label_file}; label it with 'xview teach' "
                                 "or localize with --teachers")
        rows.append(i)
    return np.array(rows, dtype=np.int64)


def photos_for_model(photos: Sequence[str | os.PathLike], model: Optional[str], missing_model: str) -> list[Path]:
    """The photos a method describes with its own model (embeddings); ``missing_model`` says which to give."""
    if not model:
        raise LabelFileError(missing_model)
    if Path(model).suffix.lower() == ".onnx":
        raise LabelFileError(f"{model} is an ONNX export: it holds only the aerial branch that indexing runs, not "
                             "the one that describes photos; index with the .safetensors model file (--runtime onnx "
                             "still runs the export)")
    if not photos:
        raise LabelFileError("no photo given")
    return [Path(p) for p in photos]


Truths = tuple[np.ndarray, list[str], np.ndarray]  # (P, 2) lon/lat, source per photo, (P,) heading


def photo_truths(photos: list[Path], use_exif: bool = True) -> Truths:
    """Where each photo was taken and which way it looked by its EXIF GPS (NaN and '' where it has none)."""
    return _truths(photos, np.full((len(photos), 2), np.nan), use_exif, np.full(len(photos), np.nan))


def _truths(photos: list[Path], table_lonlat: np.ndarray, use_exif: bool, table_heading: np.ndarray) -> Truths:
    truth = np.full((len(photos), 2), np.nan)
    heading = np.array(table_heading, np.float64)
    source = [""] * len(photos)
    for i, photo in enumerate(photos):
        tag = exif_geotag(photo) if use_exif else None
        if tag is not None:
            truth[i], source[i] = (tag.lon, tag.lat), "exif"
            heading[i] = np.nan if tag.heading is None else tag.heading
        elif np.isfinite(table_lonlat[i]).all():
            truth[i], source[i] = table_lonlat[i], "labels"
    return truth, source, heading


def exif_geotag(photo: Path) -> Optional[GeoTag]:
    """A photo's EXIF GPS position and heading, None without GPS or when the file is not there."""
    from xview_engine.data.exif import read_geotag

    if not photo.is_file():
        return None
    return read_geotag(photo)


def from_teachers(spec: str, photos: Sequence[str | os.PathLike], device: str = "cpu",
                  cache_dir: Optional[str] = None, progress: Optional[ProgressCallback] = None,
                  cancel: Optional[CancelCheck] = None) -> Queries:
    """Queries by running the teachers of ``spec`` (see ``xview_engine.teachers``) on the photos."""
    from xview_engine.model.device import resolve_device
    from xview_engine.teachers import load_teachers

    paths = [Path(p) for p in photos]
    for p in paths:
        if not p.is_file():
            raise LabelFileError(f"photo {p} does not exist")
    teachers = load_teachers(spec, device=resolve_device(device))
    values = teachers.label_photos(paths, progress=progress, cancel=cancel, cache_dir=cache_dir)
    return Queries(paths, values, dict(teachers.labels), *photo_truths(paths), times=photo_times(paths))


def align_to_model(queries: Queries, manifest: Manifest,
                   heads: Optional[Sequence[str]] = None) -> dict[str, np.ndarray]:
    """{head: (P, K)} in the model's label order for the chosen heads (default: every head both have)."""
    model_heads = list(manifest.head_names)
    if heads:
        unknown = [h for h in heads if h not in model_heads]
        if unknown:
            raise LabelFileError(f"--heads names {unknown} but the model's heads are {model_heads}")
        chosen = list(heads)
    else:
        chosen = [h for h in model_heads if h in queries.values]
    missing = [h for h in chosen if h not in queries.values]
    if not chosen or missing:
        raise LabelFileError(f"the photo labels have heads {sorted(queries.values)} but the model's heads are "
                             f"{model_heads}; head names must match (label the photos with the teachers the "
                             "model was trained on, or choose heads with --heads)")
    return {h: _reorder(h, queries.values[h], queries.labels[h], manifest.head(h).labels) for h in chosen}


def _reorder(head: str, values: np.ndarray, have: tuple[str, ...], want: tuple[str, ...]) -> np.ndarray:
    if tuple(have) == tuple(want):
        return values
    if sorted(have) != sorted(want):
        extra, lacking = sorted(set(have) - set(want))[:5], sorted(set(want) - set(have))[:5]
        raise LabelFileError(f"head '{head}': the photo labels and the model use different label lists "
                             f"(labels only in the photos: {extra}; only in the model: {lacking})")
    position = {name: i for i, name in enumerate(have)}
    return values[:, [position[name] for name in want]]
