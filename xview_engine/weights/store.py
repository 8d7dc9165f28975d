"""The weights folder of the user's cache: where each published file lies, what is there, the check before use.

Files keep their published names (``<cache>/weights/resnet50-11ad3fa6.pth``), so a file fetched by
hand on another machine is simply placed there. A download in progress is ``NAME.partial`` (kept
when interrupted: the next fetch resumes it). Before a file is used its SHA-256 is compared with the
registry's; a file that differs is removed and never loaded. Hashing 500 MB on every run would cost
seconds, so a passed check leaves a stamp ``NAME.verified`` (digest, size, modification time) and
the file is hashed again only when it changes.
"""

from __future__ import annotations

import contextlib
import json
import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from xview_engine.cache import cache_home, file_sha256
from xview_engine.errors import WeightsError, XviewWarning
from xview_engine.outputs import atomic_output
from xview_engine.progress import CancelCheck
from xview_engine.weights.registry import REGISTRY, WeightFile

FOLDER_NAME = "weights"
PARTIAL_SUFFIX = ".partial"
STAMP_SUFFIX = ".verified"


def weights_dir() -> Path:
    """``<cache>/weights``: ``$XVIEW_HOME/weights``, else under the user's cache folder."""
    return cache_home() / FOLDER_NAME


def cached_path(entry: WeightFile, folder: Optional[Path] = None) -> Path:
    return (folder or weights_dir()) / entry.filename


def partial_path(entry: WeightFile, folder: Optional[Path] = None) -> Path:
    return (folder or weights_dir()) / (entry.filename + PARTIAL_SUFFIX)


@dataclass(frozen=True)
class CacheState:
    """What the cache holds of one file: ``cached``, ``partial`` (an interrupted download) or ``missing``."""

    entry: WeightFile
    path: Path
    state: str
    size: int  # bytes on disk (of the partial file while partial)


def cache_state(entry: WeightFile, folder: Optional[Path] = None) -> CacheState:
    """The state from the file system alone (no hashing: cheap enough for the diagnostics report)."""
    path, partial = cached_path(entry, folder), partial_path(entry, folder)
    if path.is_file():
        return CacheState(entry, path, "cached", path.stat().st_size)
    if partial.is_file():
        return CacheState(entry, path, "partial", partial.stat().st_size)
    return CacheState(entry, path, "missing", 0)


def cache_states(folder: Optional[Path] = None) -> list[CacheState]:
    return [cache_state(entry, folder) for entry in REGISTRY.values()]


def verify(entry: WeightFile, path: Path, cancel: Optional[CancelCheck] = None) -> str:
    """The file's SHA-256 once it matches the registry's; a file that does not is removed (WeightsError)."""
    stat = path.stat()
    stamp = _read_stamp(path)
    if stamp.get("size") == stat.st_size and stamp.get("mtime_ns") == stat.st_mtime_ns \
            and entry.digest_matches(str(stamp.get("sha256"))):
        return str(stamp["sha256"])
    digest = _checked_digest(entry, path, f"{path} is", cancel)
    write_stamp(path, digest)
    return digest


def accept_download(entry: WeightFile, partial: Path, path: Path, cancel: Optional[CancelCheck] = None) -> str:
    """A finished download checked, then renamed to its cached name (a mismatch is removed: WeightsError)."""
    digest = _checked_digest(entry, partial, f"the file downloaded from {entry.url} is", cancel)
    os.replace(partial, path)
    write_stamp(path, digest)
    return digest


def _checked_digest(entry: WeightFile, path: Path, what: str, cancel: Optional[CancelCheck]) -> str:
    digest = file_sha256(path, cancel)
    if not entry.digest_matches(digest):
        remove(path)
        raise WeightsError(f"{what} not the published {entry.name}: its SHA-256 is {digest}, the published "
                           f"{entry.digest_text}; it was removed, never loaded (fetch it again: "
                           f"xview weights fetch {entry.name})")
    if entry.sha256 is None and entry.hash_prefix is None:
        warnings.warn(f"{entry.name} has no published SHA-256 to check {path.name} against; its SHA-256 is "
                      f"{digest} (compare it with `make weights-check` on a machine with internet)", XviewWarning,
                      stacklevel=3)
    return digest


def write_stamp(path: Path, digest: str) -> None:
    """Record that ``path`` as it is now (size, modification time) hashes to ``digest``. Best effort: in a
    read-only cache (one an administrator filled) the file is simply hashed again at its next use."""
    stat = path.stat()
    with contextlib.suppress(OSError), atomic_output(_stamp_path(path)) as tmp:
        tmp.write_text(json.dumps({"sha256": digest, "size": stat.st_size, "mtime_ns": stat.st_mtime_ns}),
                       encoding="utf-8")


def remove(path: Path) -> None:
    """A cached file and its stamp gone (a file that failed its check)."""
    for victim in (path, _stamp_path(path)):
        with contextlib.suppress(FileNotFoundError):
            victim.unlink()


def _stamp_path(path: Path) -> Path:
    return path.with_name(path.name + STAMP_SUFFIX)


def _read_stamp(path: Path) -> dict:
    try:
        stamp = json.loads(_stamp_path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return stamp if isinstance(stamp, dict) else {}
