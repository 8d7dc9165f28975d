"""Progress reporting and cancellation shared by the CLI (terminal bar) and the plugin (QgsTask).

Long engine functions take ``progress: ProgressCallback | None`` called as ``progress(done, total)``
and ``cancel: CancelCheck | None`` returning True when the user asked to stop.
"""

from __future__ import annotations

import sys
import time
from typing import Callable, Optional, TextIO

from xview_engine.errors import Cancelled

ProgressCallback = Callable[[int, int], None]
CancelCheck = Callable[[], bool]
Log = Callable[[str], None]  # one line of what a run is doing, for the terminal or the QGIS log


def check_cancel(cancel: Optional[CancelCheck]) -> None:
    """Raise ``Cancelled`` when the cancel check says so."""
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
