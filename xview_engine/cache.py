"""The per-user cache folder and the content digest that keys what lies in it.

Two things are cached per user, not per project: ONNX exports of model files (``onnx/``, keyed by
the model file's SHA-256) and published weight files (``weights/``, checked against their published
SHA-256). Both live under one folder: ``$XVIEW_HOME``, else ``$XDG_CACHE_HOME/xview``, else
``~/.cache/xview``. Standard library only: ``xview weights list`` and ``xview doctor`` read it
without importing torch.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Optional

from xview_engine.progress import CancelCheck, check_cancel

HOME_ENV = "XVIEW_HOME"
BLOCK_BYTES = 2**22


def cache_home() -> Path:
    """``$XVIEW_HOME``, ``$XDG_CACHE_HOME/xview`` or ``~/.cache/xview`` (the first one set)."""
    if os.environ.get(HOME_ENV):
        return Path(os.environ[HOME_ENV])
    base = Path(os.environ["XDG_CACHE_HOME"]) if os.environ.get("XDG_CACHE_HOME") else Path.home() / ".cache"
    return base / "xview"


def file_sha256(path: str | os.PathLike, cancel: Optional[CancelCheck] = None) -> str:
    """SHA-256 of a file's bytes, read in 4 MiB blocks (a cancel check between blocks for big files)."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(BLOCK_BYTES), b""):
            digest.update(block)
            check_cancel(cancel)
    return digest.hexdigest()
