"""A published weight file by name, on disk and checked: the cached copy, else a download, else what to do.

``weights_path(name)`` is what a teacher or backbone spec naming a registry file calls: the cached
file once its digest matches; a missing one is downloaded (a progress bar on a terminal) unless the
machine is offline (``XVIEW_OFFLINE=1``) or the download cannot start, and then the error names the
URL, the digest and the path to place the file at, so it can be fetched on another machine.
``fetch(name)`` is ``xview weights fetch`` and the plugin's "Get weights": the same with the
caller's progress and cancel. A download goes to ``NAME.partial`` under the file's lock, is checked,
then renamed: a half or wrong file never carries the published name.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Callable, Optional

from xview_engine.errors import WeightsError
from xview_engine.outputs import output_lock
from xview_engine.progress import CancelCheck, ProgressCallback, TerminalProgress
from xview_engine.weights.download import DEFAULT_TIMEOUT_S, DownloadFailed, download
from xview_engine.weights.registry import WeightFile, find, looks_like_name, lookup
from xview_engine.weights.store import accept_download, cached_path, partial_path, verify

OFFLINE_ENV = "XVIEW_OFFLINE"
MIB = 2**20


def offline() -> bool:
    """Whether downloads are off (``XVIEW_OFFLINE`` set to anything but empty, 0, no or false)."""
    return os.environ.get(OFFLINE_ENV, "").strip().lower() not in ("", "0", "no", "false")


def weights_path(name: str, *, progress: Optional[ProgressCallback] = None, cancel: Optional[CancelCheck] = None,
                 timeout: float = DEFAULT_TIMEOUT_S, folder: Optional[Path] = None) -> Path:
    """The checked local file of the published weights ``name``, downloaded first when missing and allowed
    (a bar on the terminal unless ``progress`` is given)."""
    return fetch(name, progress=progress or mib_progress(f"download {name}"), cancel=cancel, timeout=timeout,
                 folder=folder)


def weight_file(text: str | os.PathLike) -> Path:
    """A weights argument as a local file: a registry name (``imagenet:resnet50``) through ``weights_path``, an
    unknown ``family:arch`` that is no file an error listing the names, anything else the path itself."""
    text = os.fspath(text)
    if find(text.strip()) is not None:
        return weights_path(text.strip())
    if looks_like_name(text) and not Path(text).exists():
        lookup(text)  # raises, listing the known names
    return Path(text).expanduser()


def fetch(name: str | WeightFile, *, progress: Optional[ProgressCallback] = None,
          cancel: Optional[CancelCheck] = None, timeout: float = DEFAULT_TIMEOUT_S, folder: Optional[Path] = None,
          log: Optional[Callable[[str], None]] = None) -> Path:
    """Download (resuming a partial file), check and cache one published file; a cached one is only checked.
    Nothing is downloaded while ``XVIEW_OFFLINE`` is set: the error says what to fetch and where to put it."""
    entry = lookup(name) if isinstance(name, str) else name
    path = cached_path(entry, folder)
    if path.is_file():
        verify(entry, path, cancel)
        return path
    if offline():
        raise WeightsError(missing_message(entry, path, f"{OFFLINE_ENV} is set, so nothing is downloaded"))
    path.parent.mkdir(parents=True, exist_ok=True)
    with output_lock(path, log or (lambda line: None)):
        partial = partial_path(entry, folder)
        try:
            download(entry.url, partial, timeout=timeout, progress=progress, cancel=cancel, size=entry.size)
        except DownloadFailed as exc:
            raise WeightsError(missing_message(entry, path, str(exc))) from None
        accept_download(entry, partial, path, cancel)
    return path


def missing_message(entry: WeightFile, path: Path, reason: str) -> str:
    """The one line for a file that is not here and cannot be fetched now: what to download, where to put it."""
    size = f", {entry.size / MIB:.1f} MiB" if entry.size else ""
    return (f"published weights {entry.name} are not in the cache and cannot be downloaded now ({reason}): "
            f"download {entry.url} ({entry.digest_text}{size}) and place it at {path}, or run "
            f"`xview weights fetch {entry.name}` once online")


def mib_progress(label: str) -> ProgressCallback:
    """A terminal bar counting MiB for ``progress(done_bytes, total_bytes)``."""
    bar = TerminalProgress(label, unit="MiB")
    return lambda done, total: bar(-(-done // MIB), -(-total // MIB))
