"""Attribute teachers: per-photo values the user already has, read from a CSV (``csv=ATTRIBUTES.csv``).

Not a network: the "teacher" of a photo is its row. The CSV has a photo column (``photo`` or
``path``: the photo file, relative to the CSV's folder or absolute) and one column per attribute or
class. A column ``HEAD:LABEL`` is label LABEL of head HEAD; a column without a ``:`` belongs to the
head named after the file (``transient.csv`` -> head ``transient``), so a table of the 40 transient
attributes of Laffont et al. (``sunny``, ``snow``, ...) is one head with a value per attribute.

What each head's values are (its kind, ``data.label_files.KINDS``; a distribution name is read as
the kind it learns) is said, first found wins, by ``--kind HEAD=KIND`` options, by a header file
beside the CSV, ``ATTRIBUTES.kinds.csv`` with the columns ``head,kind``, or by the spec
``csv:KIND=ATTRIBUTES.csv`` for every head of the file:

- ``categorical`` (Dirichlet): a column per class, each row non-negative and summing to 1;
- ``counts`` (Poisson): non-negative numbers; ``fraction`` (Beta): numbers in [0, 1];
- ``binary`` (Bernoulli): yes / no, 1 / 0, true / false; ``continuous`` (Gaussian): any finite number.

Every problem is one line naming the file, the row (as a spreadsheet numbers it, header = 1) and the
column: a missing photo, an empty or non-numeric cell, a value outside the kind's range.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from xview_engine.data.label_files import KIND_DISTRIBUTIONS, KINDS, value_problem
from xview_engine.errors import TeacherError
from xview_engine.teachers.base import TeacherInfo, file_identity

PHOTO_COLUMNS = ("photo", "path")
KIND_ALIASES = {dist: kind for kind, dist in KIND_DISTRIBUTIONS.items()}
YES_NO = {"1": 1.0, "0": 0.0, "yes": 1.0, "no": 0.0, "true": 1.0, "false": 0.0, "y": 1.0, "n": 0.0}
ALLOWED = {"categorical": "a probability from 0 to 1", "counts": "a finite number >= 0",
           "fraction": "a number from 0 to 1", "binary": "yes / no, 1 / 0, true / false",
           "continuous": "a finite number"}
SUM_TOLERANCE = 1e-2  # a categorical row may sum to 1 +- this (rounded probabilities); it is renormalised
_IDENTIFIER = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,63}\Z")


def kind_name(text: str, where: str) -> str:
    """A kind from its name or its distribution's name (``beta`` -> ``fraction``); the error lists them."""
    value = text.strip().lower()
    value = KIND_ALIASES.get(value, value)
    if value not in KINDS:
        raise TeacherError(f"{where}: unknown kind '{text}' (known: {', '.join(KINDS)}, or the distributions "
                           f"{', '.join(KIND_ALIASES)})")
    return value


class AttributeTable:
    """The CSV read and checked: per head, its labels, kind and (rows, K) values; photos by resolved path."""

    def __init__(self, path: Path, default_kind: str | None, kinds: Mapping[str, str]):
        self.path = path
        rows, columns, photo_column = _read(path)
        self.columns = _head_columns(path, [c for c in columns if c != photo_column])
        self.kinds = _kinds(path, list(self.columns), default_kind, kinds)
        self.photos: dict[Path, int] = {}
        for i, row in enumerate(rows):
            text = (row.get(photo_column) or "").strip()
            if not text:
                raise TeacherError(f"{path} row {i + 2}: column '{photo_column}' is empty (every row names its photo)")
            photo = _resolve(path.parent, text)
            if photo in self.photos:
                raise TeacherError(f"{path} row {i + 2}: photo {text} is already in row {self.photos[photo] + 2}")
            self.photos[photo] = i
        self.values = {h: self._head_values(h, rows) for h in self.columns}

    def _head_values(self, head: str, rows: list[dict[str, str]]) -> np.ndarray:
        kind, columns = self.kinds[head], self.columns[head]
        out = np.zeros((len(rows), len(columns)), np.float32)
        for i, row in enumerate(rows):
            for j, (column, _) in enumerate(columns):
                out[i, j] = _cell(row.get(column), kind, self.path, i, column)
        if kind == "categorical":
            sums = out.sum(axis=1)
            bad = np.flatnonzero(np.abs(sums - 1.0) > SUM_TOLERANCE)
            if bad.size:
                raise TeacherError(f"{self.path} row {bad[0] + 2}: head '{head}' (categorical) sums to "
                                   f"{sums[bad[0]]:.4g}, not 1: give a probability per class, or another kind")
            out /= sums[:, None]
        return out

    def rows_for(self, paths: Sequence[Path]) -> np.ndarray:
        """Row index of each photo; a photo without a row is an error naming it."""
        rows = [self.photos.get(Path(p).resolve(), -1) for p in paths]
        missing = [str(p) for p, r in zip(paths, rows) if r < 0]
        if missing:
            raise TeacherError(f"{self.path} has no row for {len(missing)} photo(s) (first: {missing[0]}); "
                               "every photo needs a row in the attribute CSV (its photo column, relative to the CSV)")
        return np.asarray(rows, dtype=np.int64)


class AttributeTeacher:
    """One head of an attribute CSV: ``label_paths`` looks the photos' rows up (no photo is decoded)."""

    def __init__(self, table: AttributeTable, head: str):
        self.table, self.head = table, head
        labels = tuple(label for _, label in table.columns[head])
        self.info = TeacherInfo(head, table.kinds[head], labels, "custom", file_identity(table.path, head))

    def label_paths(self, paths: Sequence[Path]) -> np.ndarray:
        return self.table.values[self.head][self.table.rows_for(paths)]

    def predict(self, images: list[np.ndarray]) -> np.ndarray:
        raise TeacherError(f"the attribute teacher '{self.head}' labels photos by their path, not their pixels")


def load_attribute_csv(path: str | Path, default_kind: str | None = None,
                       kinds: Mapping[str, str] | None = None) -> list[AttributeTeacher]:
    """One teacher per head of the CSV (see the module docstring)."""
    path = Path(path).expanduser()
    default = kind_name(default_kind, f"teacher csv:{default_kind}") if default_kind else None
    table = AttributeTable(path, default, dict(kinds or {}))
    return [AttributeTeacher(table, head) for head in table.columns]


def _read(path: Path) -> tuple[list[dict[str, str]], list[str], str]:
    if not path.is_file():
        raise TeacherError(f"attribute CSV {path} does not exist (columns: photo, then one per attribute)")
    try:
        with open(path, newline="", encoding="utf-8-sig") as fh:
            reader = csv.DictReader(fh)
            columns = [c.strip() for c in reader.fieldnames or []]
            reader.fieldnames = columns
            rows = list(reader)
    except (UnicodeDecodeError, csv.Error) as exc:
        raise TeacherError(f"attribute CSV {path} is not a readable UTF-8 CSV ({exc})") from None
    photo = next((c for c in PHOTO_COLUMNS if c in columns), None)
    if photo is None:
        raise TeacherError(f"attribute CSV {path} has no photo column ('photo' or 'path'; it has: "
                           f"{', '.join(columns) or 'nothing'})")
    if len(columns) < 2:
        raise TeacherError(f"attribute CSV {path} has no attribute columns beside '{photo}'")
    if not rows:
        raise TeacherError(f"attribute CSV {path} has no rows")
    for i, row in enumerate(rows):
        if None in row or any(v is None for v in row.values()):
            cells = sum(v is not None for k, v in row.items() if k is not None) + len(row.get(None) or ())
            raise TeacherError(f"{path} row {i + 2}: {cells} cells where the header has {len(columns)}")
    return rows, columns, photo


def _head_columns(path: Path, columns: list[str]) -> dict[str, list[tuple[str, str]]]:
    """{head: [(column, label), ...]} in column order."""
    stem = re.sub(r"\W+", "_", path.stem).strip("_")
    heads: dict[str, list[tuple[str, str]]] = {}
    for column in columns:
        head, sep, label = column.partition(":")
        head, label = (head.strip(), label.strip()) if sep else (stem, column)
        if not _IDENTIFIER.match(head):
            raise TeacherError(f"attribute CSV {path} column '{column}': head name '{head}' must be letters, digits "
                               "and _, starting with a letter (write HEAD:LABEL, or rename the file)")
        if not label:
            raise TeacherError(f"attribute CSV {path} column '{column}' has no label after '{head}:'")
        heads.setdefault(head, []).append((column, label))
    return heads


def _kinds(path: Path, heads: list[str], default: str | None, given: Mapping[str, str]) -> dict[str, str]:
    """Each head's kind: ``given`` options, then the ``.kinds.csv`` header file, then the spec's default."""
    side = _header_file(path, heads)
    kinds = {}
    for head in heads:
        if head in given:
            kinds[head] = kind_name(given[head], f"--kind {head}")
        elif head in side:
            kinds[head] = side[head]
        elif default:
            kinds[head] = default
        else:
            raise TeacherError(f"{path}: head '{head}' has no kind; say what its values are with --kind {head}=KIND, "
                               f"a line '{head},KIND' in {path.with_suffix('.kinds.csv').name}, "
                               f"or csv:KIND={path.name} "
                               f"(KIND: {', '.join(KINDS)})")
    return kinds


def _header_file(path: Path, heads: list[str]) -> dict[str, str]:
    """``ATTRIBUTES.kinds.csv`` (head,kind) when it exists; its heads must be the CSV's."""
    side = path.with_suffix(".kinds.csv")
    if not side.is_file():
        return {}
    with open(side, newline="", encoding="utf-8-sig") as fh:
        reader = csv.DictReader(fh)
        if not {"head", "kind"} <= set(reader.fieldnames or []):
            raise TeacherError(f"kinds file {side} needs the columns head,kind (it has: "
                               f"{', '.join(reader.fieldnames or []) or 'nothing'})")
        kinds = {}
        for i, row in enumerate(reader):
            head = (row.get("head") or "").strip()
            if head not in heads:
                raise TeacherError(f"{side} row {i + 2}: head '{head}' is not in {path.name} "
                                   f"(heads: {', '.join(heads)})")
            kinds[head] = kind_name(row.get("kind") or "", f"{side} row {i + 2}")
    return kinds


def _cell(text: str | None, kind: str, path: Path, row: int, column: str) -> float:
    where = f"{path} row {row + 2} column '{column}'"
    value = (text or "").strip()
    if not value:
        raise TeacherError(f"{where} is empty (every photo needs a value for every attribute)")
    if kind == "binary" and value.lower() in YES_NO:
        return YES_NO[value.lower()]
    try:
        number = float(value)
    except ValueError:
        raise TeacherError(f"{where}: '{value}' is not a number"
                           + (" (yes / no, 1 / 0, true / false)" if kind == "binary" else "")) from None
    if value_problem(kind, np.array([number])):
        raise TeacherError(f"{where}: {value} is not a {kind} value ({ALLOWED[kind]})")
    return number


def _resolve(folder: Path, text: str) -> Path:
    photo = Path(text).expanduser()
    return (photo if photo.is_absolute() else folder / photo).resolve()
