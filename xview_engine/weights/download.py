"""One HTTP download into a ``.partial`` file that survives interruption and is resumed with a Range request.

Standard library only (``urllib``; proxies from the environment apply). The part already on disk is
asked for no more: ``Range: bytes=N-``; a server answering 206 from byte N appends, one answering
200 (it ignores ranges) starts the file again. Every connect and every read waits at most
``timeout`` seconds, so a server that never answers is an error naming it, not a hang. Whether the
bytes are the right ones is not decided here: the caller checks the digest before the rename.
"""

from __future__ import annotations

import http.client
import socket
import urllib.error
import urllib.request
from pathlib import Path
from typing import BinaryIO, Optional
from urllib.parse import urlsplit

from xview_engine import __version__
from xview_engine.errors import Cancelled, WeightsError
from xview_engine.progress import CancelCheck, ProgressCallback, check_cancel

CHUNK_BYTES = 2**18
DEFAULT_TIMEOUT_S = 30.0


class DownloadFailed(WeightsError):
    """The server could not be reached, never answered, refused, or stopped part way (the part is kept)."""


def download(url: str, partial: Path, *, timeout: float = DEFAULT_TIMEOUT_S,
             progress: Optional[ProgressCallback] = None, cancel: Optional[CancelCheck] = None,
             size: Optional[int] = None) -> Path:
    """Fetch ``url`` into ``partial``, resuming what is there; returns ``partial`` once the server sent it all.

    ``progress(done_bytes, total_bytes)`` (total from Content-Length, else ``size``); ``cancel`` is
    checked between chunks and keeps the part for the next call.
    """
    offset = partial.stat().st_size if partial.is_file() else 0
    response = _open(url, offset, timeout)
    if response is None:  # 416: nothing beyond what we have; the digest check decides
        return partial
    with response:
        resumed = offset > 0 and response.status == 206
        if resumed and _range_start(response) != offset:
            partial.unlink()
            raise DownloadFailed(f"{_host(url)} answered a range from byte {_range_start(response)}, not the "
                                 f"{offset:,} asked for; the part was dropped, the next fetch starts again")
        offset = offset if resumed else 0
        length = response.headers.get("Content-Length")
        total = offset + int(length) if length and length.isdigit() else size
        with open(partial, "ab" if resumed else "wb") as out:
            done = _copy(response, out, offset, total, url, timeout, progress, cancel)
    if total is not None and done < total:
        raise DownloadFailed(f"{_host(url)} closed the connection after {done:,} of {total:,} bytes; the part is "
                             f"kept in {partial} and the next fetch resumes it")
    if progress is not None:
        progress(done, done)
    return partial


def _open(url: str, offset: int, timeout: float):
    headers = {"User-Agent": f"xview/{__version__}"}
    if offset:
        headers["Range"] = f"bytes={offset}-"
    try:
        return urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=timeout)
    except urllib.error.HTTPError as exc:
        if exc.code == 416 and offset:
            return None
        raise DownloadFailed(f"{url} answered HTTP {exc.code} {exc.reason}") from None
    except urllib.error.URLError as exc:
        if isinstance(exc.reason, (socket.timeout, TimeoutError)):
            raise DownloadFailed(_silent(url, timeout)) from None
        raise DownloadFailed(f"cannot reach {_host(url)} ({exc.reason})") from None
    except (socket.timeout, TimeoutError):
        raise DownloadFailed(_silent(url, timeout)) from None
    except (OSError, http.client.HTTPException) as exc:
        raise DownloadFailed(f"cannot reach {_host(url)} ({type(exc).__name__}: {exc})") from None


def _copy(response, out: BinaryIO, done: int, total: Optional[int], url: str, timeout: float,
          progress: Optional[ProgressCallback], cancel: Optional[CancelCheck]) -> int:
    """Chunks from the response to the file; returns the bytes the file holds."""
    while True:
        check_cancel(None)  # a signal's stop request
        if cancel is not None and cancel():
            raise Cancelled(f"download of {url} cancelled; the {done:,} bytes received stay in {out.name} and the "
                            "next fetch resumes them")
        try:
            chunk = response.read(CHUNK_BYTES)
        except (socket.timeout, TimeoutError):
            raise DownloadFailed(f"{_host(url)} sent nothing for {timeout:g} s after {done:,} bytes; the part is "
                                 f"kept in {out.name} and the next fetch resumes it") from None
        except (http.client.IncompleteRead, ConnectionError) as exc:
            chunk = getattr(exc, "partial", b"")
            out.write(chunk)
            return done + len(chunk)
        if not chunk:
            return done
        out.write(chunk)
        done += len(chunk)
        if progress is not None and total:
            progress(min(done, total), total)


def _range_start(response) -> Optional[int]:
    """The first byte a 206 answer holds (``Content-Range: bytes 100-199/200``), or None."""
    value = response.headers.get("Content-Range", "")
    unit, _, rest = value.partition(" ")
    start = rest.split("-", 1)[0]
    return int(start) if unit == "bytes" and start.isdigit() else None


def _silent(url: str, timeout: float) -> str:
    return f"{_host(url)} did not answer within {timeout:g} s"


def _host(url: str) -> str:
    return urlsplit(url).netloc or url
