"""Pairs CSV: which ground photo was taken where (the table ``xview synth`` writes and users supply).

Columns: ``path`` (photo file, relative to the CSV's folder or absolute), ``lat``, ``lon`` (WGS84
degrees); optional ``heading``, ``fov``, ``split`` (train / val / test), ``x``, ``y`` (CRS metres)
``tile`` (an overhead tile image file, for training without a raster) and ``time`` (when the
photo was taken, ISO 8601 such as ``2026-01-15T08:00``, local time; an offset may follow). Missing
optional numbers are NaN; a missing split or time is empty; a time that is not ISO 8601 is an
error naming the row.
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from xview_engine.errors import PairsError

REQUIRED = ("path", "lat", "lon")
NUMBERS = ("lat", "lon", "heading", "fov", "x", "y")


@dataclass(frozen=True)
class Pairs:
    """The CSV as columns; ``photos`` and ``tiles`` are absolute paths."""

    csv_path: Path
    photos: tuple[Path, ...]
    columns: dict[str, np.ndarray]
    tiles: tuple[Path, ...] | None = None

    def __len__(self) -> int:
        return len(self.photos)

    def split_mask(self, split: str) -> np.ndarray:
        return self.columns["split"] == split


def csv_rows(path: Path, required: tuple[str, ...], error: type[Exception], what: str, hint: str,
             fix: str = "") -> list[dict[str, str]]:
    """The rows of a CSV that must exist, have the ``required`` columns and at least one row; each
    failure is ``error`` naming the file (``what`` says which kind, ``hint`` what it holds, ``fix`` what
    to write when columns are missing)."""
    if not path.is_file():
        raise error(f"{what} {path} does not exist ({hint})")
    with open(path, newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        columns = reader.fieldnames or []
        missing = [c for c in required if c not in columns]
        if missing:
            raise error(f"{what} {path} lacks the column(s) {', '.join(missing)} "
                        f"(it has: {', '.join(columns) or 'nothing'}){fix}")
        rows = list(reader)
    if not rows:
        raise error(f"{what} {path} has no rows")
    return rows


def read_pairs(path: str | Path) -> Pairs:
    """Read and check a pairs CSV; errors name the file, the row and the column."""
    path = Path(path)
    rows = csv_rows(path, REQUIRED, PairsError, "pairs CSV", "xview synth writes one; columns path, lat, lon, ...")
    columns = {c: np.array([_number(r.get(c), path, i, c) for i, r in enumerate(rows)]) for c in NUMBERS}
    columns["split"] = np.array([(r.get("split") or "").strip() for r in rows])
    if "time" in rows[0]:
        columns["time"] = np.array([_time(r.get("time"), path, i) for i, r in enumerate(rows)])
    folder = path.parent
    photos = tuple(_resolve(folder, r["path"]) for r in rows)
    tiles = tuple(_resolve(folder, r["tile"]) for r in rows) if "tile" in rows[0] else None
    return Pairs(path, photos, columns, tiles)


def _number(text: str | None, path: Path, row: int, column: str) -> float:
    if text is None or not text.strip():
        if column in REQUIRED:
            raise PairsError(f"pairs CSV {path} row {row + 2}: column '{column}' is empty")
        return math.nan
    try:
        return float(text)
    except ValueError:
        raise PairsError(f"pairs CSV {path} row {row + 2}: column '{column}' is '{text}', not a number") from None


def _time(text: str | None, path: Path, row: int) -> str:
    """The row's time as written (ISO 8601, checked), '' when empty."""
    from xview_engine.model.time_features import TimeFormatError, parse_time

    value = (text or "").strip()
    if value:
        try:
            parse_time(value)
        except TimeFormatError as exc:
            raise PairsError(f"pairs CSV {path} row {row + 2}: column 'time': {exc}") from None
    return value


def _resolve(folder: Path, text: str) -> Path:
    p = Path(text.strip())
    return p if p.is_absolute() else folder / p
