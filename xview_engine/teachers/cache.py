"""A cache of teacher outputs per (teacher weights, photo file), so re-labelling a photo set is free.

Running a detector over thousands of photos is the slow part of ``xview teach``; the same photos are
labelled again whenever a teacher is added or a run is interrupted. One ``.npz`` per teacher
identity (weights file + options) maps a photo key (absolute path, size, mtime) to its row. The file
is written atomically, so an interrupted run keeps what it had finished before.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np

from xview_engine.outputs import atomic_output
from xview_engine.teachers.base import TeacherInfo


def photo_key(path: Path) -> str:
    stat = path.stat()
    return hashlib.sha1(f"{path.resolve()}|{stat.st_size}|{stat.st_mtime_ns}".encode()).hexdigest()


class TeacherCache:
    """Rows of one teacher; a no-op when ``folder`` is None."""

    def __init__(self, folder: str | Path | None, info: TeacherInfo):
        self.path = Path(folder) / f"{info.identity}.npz" if folder is not None else None
        self.width = len(info.labels)
        self.rows: dict[str, np.ndarray] = {}
        self.dirty = False
        if self.path is not None and self.path.is_file():
            self._load()

    def _load(self) -> None:
        try:
            with np.load(self.path, allow_pickle=False) as data:
                keys, values = data["keys"], data["values"]
        except (OSError, ValueError, KeyError):
            return  # a damaged cache is only a slower run
        if values.ndim == 2 and values.shape[1] == self.width:
            self.rows = {str(k): v for k, v in zip(keys, values)}

    def get(self, photo: Path) -> np.ndarray | None:
        if self.path is None or not photo.is_file():
            return None
        return self.rows.get(photo_key(photo))

    def put(self, photo: Path, value: np.ndarray) -> None:
        if self.path is not None:
            self.rows[photo_key(photo)] = np.asarray(value, np.float32)
            self.dirty = True

    def save(self) -> None:
        if self.path is None or not self.dirty:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        keys = np.array(list(self.rows), dtype=str)
        values = np.stack(list(self.rows.values())).astype(np.float32)
        with atomic_output(self.path) as tmp, open(tmp, "wb") as f:
            np.savez(f, keys=keys, values=values)
        self.dirty = False
