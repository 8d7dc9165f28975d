"""Atomic outputs: write to a temporary name beside the target, rename when complete.

A failed or cancelled run leaves no partial file; an existing output stops a command before any
work unless the caller allows overwriting.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path

from xview_engine.errors import OutputError


def check_outputs_free(paths: Iterable[str | os.PathLike], overwrite: bool) -> None:
    """Refuse, before any work, outputs that exist (unless overwrite) or whose folder is missing."""
    for path in map(Path, paths):
        if not path.parent.exists():
            raise OutputError(f"output folder {path.parent} does not exist; create it or choose another path")
        if path.exists() and not overwrite:
            raise OutputError(f"output {path} already exists; pass --overwrite to replace it")


@contextlib.contextmanager
def atomic_output(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path in the target folder; rename it to ``path`` only if the block succeeds."""
    target = Path(path)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".part" + target.suffix, dir=target.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    os.chmod(tmp, 0o666 & ~_current_umask())  # mkstemp makes 0600; outputs get the usual permissions
    try:
        yield tmp
        os.replace(tmp, target)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


def _current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
