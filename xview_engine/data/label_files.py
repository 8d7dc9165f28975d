"""Label files: per-photo label distributions per head, the one format ``xview synth``, ``xview teach``,
training and localization all read and write.

A label file is an ``.npz`` (no pickles) holding, for each head ``H``:

- ``H``: float32 (N, K), one row per photo: a distribution (rows sum to 1), counts (>= 0), or per
  attribute values in [0, 1], yes / no as 1 / 0, or continuous values (any finite number);
- ``H_names``: str (K,), the label names in column order;
- ``H_kind`` (optional, 0-d str): one of ``KINDS``; when absent it is ``categorical`` or ``counts``,
  inferred (rows summing to 1 are categorical), which is how ``xview synth`` files are read.
  ``KIND_DISTRIBUTIONS`` says which head distribution learns each kind;

and the per-photo table: ``path`` (photo paths, relative to the label file's folder or absolute),
and when known ``lat``, ``lon`` (WGS84), ``heading``, ``fov``, ``x``, ``y`` (CRS), ``split``
(``train`` / ``val`` / ``test``), ``time`` (when taken, ISO 8601; '' unknown). Heads are the keys that
have a ``_names`` partner.
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from xview_engine.errors import LabelFileError
from xview_engine.outputs import atomic_output

# what a head's rows are -> the distribution a model head learns them with (model/distributions.py)
KIND_DISTRIBUTIONS = {"categorical": "dirichlet", "counts": "poisson", "fraction": "beta", "binary": "bernoulli",
                      "continuous": "gaussian"}
KINDS = tuple(KIND_DISTRIBUTIONS)
TABLE_COLUMNS = ("path", "lat", "lon", "heading", "fov", "x", "y", "split", "time")


@dataclass
class LabelFile:
    """Heads (name -> (N, K) rows), their label names and kinds, and the per-photo table."""

    heads: dict[str, np.ndarray]
    names: dict[str, tuple[str, ...]]
    kinds: dict[str, str]
    table: dict[str, np.ndarray] = field(default_factory=dict)
    folder: Path = Path(".")

    def __len__(self) -> int:
        return len(next(iter(self.heads.values())))

    @property
    def head_names(self) -> tuple[str, ...]:
        return tuple(self.heads)

    def photo_paths(self) -> list[Path]:
        """Photo paths made absolute against the label file's folder."""
        if "path" not in self.table:
            raise LabelFileError("label file has no 'path' column, so its photos cannot be found")
        return [p if (p := Path(str(s))).is_absolute() else self.folder / p for s in self.table["path"]]

    def head(self, name: str) -> np.ndarray:
        if name not in self.heads:
            raise LabelFileError(f"label file has no head '{name}' (heads: {', '.join(self.heads)})")
        return self.heads[name]


def infer_kind(rows: np.ndarray) -> str:
    """Rows that are non-negative and sum to 1 are distributions; anything else is counts."""
    if rows.size and (rows >= 0).all() and np.allclose(rows.sum(axis=1), 1.0, atol=1e-3):
        return "categorical"
    return "counts"


def read_label_file(path: str | Path) -> LabelFile:
    """Read and check a label file; every problem names the file and the key."""
    path = Path(path)
    if not path.is_file():
        raise LabelFileError(f"label file {path} does not exist (make one with 'xview teach' or 'xview synth')")
    try:
        with path.open("rb") as f:  # np.load calls anything that is not a zip or .npy "pickled data"
            if f.read(2) != b"PK":
                why = "it is empty" if f.tell() == 0 else "it is not a zip of arrays"
                raise LabelFileError(f"{path} is not an .npz label file ({why}); make it with 'xview teach'")
        with np.load(path, allow_pickle=False) as data:
            arrays = {k: data[k] for k in data.files}
    except (OSError, ValueError, zipfile.BadZipFile) as exc:
        raise LabelFileError(f"{path} is not a readable .npz label file ({exc})") from None
    heads = {k[: -len("_names")]: arrays[k[: -len("_names")]] for k in arrays
             if k.endswith("_names") and k[: -len("_names")] in arrays}
    if not heads:
        raise LabelFileError(f"label file {path} has no heads (arrays H with a partner H_names)")
    names = {h: tuple(str(n) for n in arrays[f"{h}_names"]) for h in heads}
    kinds = {h: str(arrays[f"{h}_kind"]) if f"{h}_kind" in arrays else infer_kind(heads[h]) for h in heads}
    table = {k: arrays[k] for k in TABLE_COLUMNS if k in arrays}
    _check(path, heads, names, kinds, table)
    return LabelFile({h: v.astype(np.float32) for h, v in heads.items()}, names, kinds, table, path.parent)


def _check(path: Path, heads, names, kinds, table) -> None:
    lengths = {h: len(v) for h, v in heads.items()} | {k: len(v) for k, v in table.items()}
    if len(set(lengths.values())) > 1:
        raise LabelFileError(f"label file {path}: arrays have different photo counts {lengths}")
    for h, rows in heads.items():
        if rows.ndim != 2 or rows.shape[1] != len(names[h]):
            raise LabelFileError(f"label file {path}: head '{h}' has shape {rows.shape} but {len(names[h])} names")
        if kinds[h] not in KINDS:
            raise LabelFileError(f"label file {path}: head '{h}' has unknown kind '{kinds[h]}' (known: {KINDS})")
        problem = value_problem(kinds[h], rows)
        if problem:
            raise LabelFileError(f"label file {path}: head '{h}' ({kinds[h]}) has {problem}")


def value_problem(kind: str, values: np.ndarray) -> str:
    """What is wrong with values of a kind ('' when nothing): non-finite, negative, outside [0, 1], not 0 / 1."""
    if not np.isfinite(values).all():
        return "non-finite values"
    if kind == "continuous":
        return ""
    if (values < 0).any():
        return "negative values"
    if kind == "fraction" and (values > 1).any():
        return "values above 1 (a fraction is in [0, 1])"
    if kind == "binary" and not np.isin(values, (0.0, 1.0)).all():
        return "values other than 0 and 1 (yes / no)"
    return ""


def write_label_file(path: str | Path, heads: Mapping[str, np.ndarray], names: Mapping[str, tuple[str, ...]],
                     kinds: Mapping[str, str], table: Mapping[str, np.ndarray] | None = None) -> Path:
    """Write a label file atomically with a fixed zip date (same inputs, same bytes)."""
    arrays: dict[str, np.ndarray] = {}
    for h, rows in heads.items():
        arrays[h] = np.asarray(rows, np.float32)
        arrays[f"{h}_names"] = np.array(list(names[h]), dtype=str)
        arrays[f"{h}_kind"] = np.array(kinds[h], dtype=str)
    arrays.update({k: np.asarray(v) for k, v in (table or {}).items()})
    _check(Path(path), {h: arrays[h] for h in heads}, dict(names), dict(kinds),
           {k: v for k, v in arrays.items() if k in TABLE_COLUMNS})
    with atomic_output(path) as tmp, zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for key, arr in arrays.items():
            buf = io.BytesIO()
            np.lib.format.write_array(buf, arr, allow_pickle=False)
            zf.writestr(zipfile.ZipInfo(f"{key}.npy", date_time=(1980, 1, 1, 0, 0, 0)), buf.getvalue(),
                        compress_type=zipfile.ZIP_DEFLATED)
    return Path(path)
