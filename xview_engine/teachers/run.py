"""The guts of ``xview teach``: label every photo of a pairs CSV with a set of teachers, write a label file."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import torch

from xview_engine.data.label_files import write_label_file
from xview_engine.data.pairs import read_pairs
from xview_engine.outputs import check_outputs_free
from xview_engine.progress import CancelCheck, ProgressCallback


def teach(pairs_csv: str | Path, spec: str, out: str | Path, *, device: torch.device | str = "cpu",
          coco_threshold: float = 0.5, cache_dir: str | Path | None = None, overwrite: bool = False,
          batch_size: int = 16, progress: ProgressCallback | None = None,
          cancel: CancelCheck | None = None, kinds: Mapping[str, str] | None = None) -> Path:
    """Run the teachers of ``spec`` over the photos of ``pairs_csv``; the label file keeps the pairs table.

    ``kinds`` ({head: kind}) says what an attribute CSV's heads hold (``teachers.attributes``).
    """
    from xview_engine.teachers import load_teachers

    out = Path(out)
    check_outputs_free([out], overwrite)
    pairs = read_pairs(pairs_csv)
    teachers = load_teachers(spec, device=device, coco_threshold=coco_threshold, kinds=kinds)
    rows = teachers.label_photos(pairs.photos, progress=progress, cancel=cancel, cache_dir=cache_dir,
                                 batch_size=batch_size)
    table = {k: v for k, v in pairs.columns.items() if not (v.dtype.kind == "f" and np.isnan(v).all())}
    table["path"] = np.array([_relative(p, out.parent) for p in pairs.photos], dtype=str)
    return write_label_file(out, rows, teachers.labels, teachers.kinds, table)


def _relative(photo: Path, folder: Path) -> str:
    """Photo path relative to the label file's folder when possible, so a world folder can move."""
    try:
        return os.path.relpath(photo.resolve(), folder.resolve())
    except ValueError:  # another drive on Windows
        return str(photo.resolve())
