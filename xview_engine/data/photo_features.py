"""Per-photo feature files and per-photo label CSVs: what the photo classifiers train and score on.

A feature file is an ``.npz`` read with ``allow_pickle=False`` (nothing is unpickled): ``features``
float32 (P, D), ``photos`` (P,) absolute paths as a unicode array, ``names`` (D,) the feature
columns, and ``meta`` a JSON string (the feature model, its layer, the pairs CSV it came from).
`xview features --model KNN --photos PAIRS.csv -o F.npz` writes one.

A label CSV has the columns ``photo`` and ``label``: a photo path (relative to the CSV's folder or
absolute; a bare file name also matches when it names one photo of the feature file) and the
user's label for it, e.g. ``usable`` / ``closeup`` or the region it was taken in.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from xview_engine.data.pairs import csv_rows
from xview_engine.errors import LabelFileError
from xview_engine.outputs import atomic_output

LABEL_COLUMNS = ("photo", "label")


@dataclass(frozen=True)
class PhotoFeatures:
    photos: tuple[str, ...]
    features: np.ndarray  # (P, D) float32
    names: tuple[str, ...]
    meta: dict[str, Any] = field(default_factory=dict)

    def rows_of(self, photos: list[str], where: Path) -> np.ndarray:
        """Row of each photo (resolved against ``where``; a unique bare file name also matches)."""
        exact = {p: i for i, p in enumerate(self.photos)}
        by_name: dict[str, list[int]] = {}
        for i, p in enumerate(self.photos):
            by_name.setdefault(Path(p).name, []).append(i)
        rows = []
        for text in photos:
            path = Path(text) if Path(text).is_absolute() else where / text
            row = exact.get(str(path.resolve()), exact.get(text))
            if row is None and len(by_name.get(Path(text).name, [])) == 1:
                row = by_name[Path(text).name][0]
            if row is None:
                raise LabelFileError(f"photo '{text}' is not in the feature file ({len(self.photos)} photos, e.g. "
                                     f"{self.photos[0] if self.photos else 'none'}); compute its features first")
            rows.append(row)
        return np.asarray(rows, np.int64)


def write_photo_features(path: str | Path, photos: list[str], features: np.ndarray, names: tuple[str, ...],
                         meta: dict[str, Any]) -> Path:
    feats = np.asarray(features, np.float32)
    if feats.shape != (len(photos), len(names)):
        raise LabelFileError(f"features {feats.shape} do not fit {len(photos)} photos x {len(names)} columns")
    with atomic_output(path) as tmp:
        with open(tmp, "wb") as fh:
            np.savez(fh, features=feats, photos=np.array(photos, dtype=str), names=np.array(names, dtype=str),
                     meta=np.array(json.dumps(meta, sort_keys=True)))
    return Path(path)


def read_photo_features(path: str | Path) -> PhotoFeatures:
    """Read and check a feature file; a pickle or a file without the arrays is refused by name."""
    path = Path(path)
    if not path.is_file():
        raise LabelFileError(f"feature file {path} does not exist; write one with "
                             "'xview features --model KNN.safetensors --photos PAIRS.csv -o F.npz'")
    try:
        with np.load(path, allow_pickle=False) as data:
            missing = [k for k in ("features", "photos", "names", "meta") if k not in data.files]
            if missing:
                raise LabelFileError(f"{path} is not an xview feature file (it lacks {', '.join(missing)})")
            feats, photos, names = data["features"], data["photos"], data["names"]
            meta = json.loads(str(data["meta"]))
    except (ValueError, OSError, json.JSONDecodeError) as exc:
        raise LabelFileError(f"{path} cannot be read as a feature file ({exc})") from None
    if feats.ndim != 2 or feats.shape != (len(photos), len(names)) or not np.isfinite(feats).all():
        raise LabelFileError(f"{path}: features {feats.shape} must be finite and fit {len(photos)} photos x "
                             f"{len(names)} columns")
    return PhotoFeatures(tuple(str(p) for p in photos), feats.astype(np.float32), tuple(str(n) for n in names), meta)


def read_photo_labels(path: str | Path) -> tuple[list[str], list[str]]:
    """(photos, labels) of a label CSV; errors name the file, the row and what to fix."""
    rows = csv_rows(Path(path), LABEL_COLUMNS, LabelFileError, "label CSV", "columns photo,label",
                    fix="; write photo,label")
    photos, labels = [], []
    for i, row in enumerate(rows):
        photo, label = (row.get("photo") or "").strip(), (row.get("label") or "").strip()
        if not photo or not label:
            raise LabelFileError(f"label CSV {path} row {i + 2}: column '{'photo' if not photo else 'label'}' "
                                 "is empty")
        photos.append(photo)
        labels.append(label)
    return photos, labels
