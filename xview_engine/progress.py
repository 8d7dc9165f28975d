"""Progress reporting and cancellation shared by the CLI (terminal bar) and the plugin (QgsTask).

Long engine functions take ``progress: ProgressCallback | None`` called as ``progress(done, total)``
and ``cancel: CancelCheck | None`` returning True when the user asked to stop.

A signal (SIGTERM, Ctrl-C) is a stop request too: the CLI's handler records it with ``request_stop``
and the next ``check_cancel`` raises it. Raised from the handler itself, at whatever bytecode the
main thread was on, it had landed inside ``threading``'s lock code ("cannot release un-acquired
lock") and between a reader thread's start and the ``try`` that stops it (the raster then closed
under a running GDAL read: a segfault). ``check_cancel`` runs only between units of work.
"""

from __future__ import annotations

import sys
import threading
import time
from typing import Callable, Optional, TextIO

from xview_engine.errors import Cancelled

ProgressCallback = Callable[[int, int], None]
CancelCheck = Callable[[], bool]
Log = Callable[[str], None]  # one line of what a run is doing, for the terminal or the QGIS log


class Terminated(KeyboardInterrupt):
    """SIGTERM (kill, systemd, CI): unwinds like Ctrl-C so temporary outputs are removed."""


_stop_requests: list[BaseException] = []  # what the main thread's next ``check_cancel`` raises, once


def request_stop(stop: Optional[BaseException]) -> None:
    """Have the main thread's next ``check_cancel`` raise ``stop`` (None withdraws it): safe in a signal handler."""
    _stop_requests[:] = [] if stop is None else [stop]


def stop_requested() -> Optional[BaseException]:
    """The stop request no ``check_cancel`` has raised yet, if any."""
    return _stop_requests[0] if _stop_requests else None


def check_cancel(cancel: Optional[CancelCheck]) -> None:
    """Raise a pending stop request (a signal's, in the main thread), or ``Cancelled`` when ``cancel`` says so."""
    if _stop_requests and threading.current_thread() is threading.main_thread():
        raise _stop_requests.pop()
    if cancel is not None and cancel():
        raise Cancelled("cancelled by the user; no output was written")


class TerminalProgress:
    """A one-line progress bar (done/total, rate, ETA) drawn on stderr only when it is a terminal."""

    def __init__(self, label: str, unit: str = "tiles", stream: TextIO | None = None, min_interval: float = 0.2):
        self.label, self.unit = label, unit
        self.stream = stream or sys.stderr
        self.enabled = hasattr(self.stream, "isatty") and self.stream.isatty()
        self.min_interval = min_interval
        self.start = time.perf_counter()
        self.last_draw = 0.0

    def __call__(self, done: int, total: int) -> None:
        if not self.enabled:
            return
        now = time.perf_counter()
        if done < total and now - self.last_draw < self.min_interval:
            return
        self.last_draw = now
        elapsed = max(now - self.start, 1e-9)
        rate = done / elapsed
        eta = (total - done) / rate if rate > 0 else float("inf")
        frac = done / total if total else 1.0
        bar = "#" * int(frac * 30)
        eta_text = f"{eta:5.0f}s" if eta != float("inf") else "    ?"
        self.stream.write(
            f"\r{self.label} [{bar:<30}] {done}/{total} {self.unit} {rate:7.1f} {self.unit}/s ETA {eta_text}"
        )
        if done >= total:
            self.stream.write("\n")
        self.stream.flush()
