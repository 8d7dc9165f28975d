"""When each photo was taken: the table's ``time`` column (pairs CSV, label file) first, else its EXIF.

One answer for training (``xview train distill`` with a time-aware model) and localization (a
time-aware index scores each photo at its own time). A photo with no usable time is None: the
callers decide (training drops it, localization averages over the year).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Optional

from xview_engine.data.exif import read_taken_time
from xview_engine.model.time_features import TimeFormatError, parse_time


def photo_times(photos: Sequence[Path], table_times: Optional[Sequence[str]] = None,
                use_exif: bool = True) -> list[Optional[datetime]]:
    """Per photo: the table's time when it has one, else EXIF DateTimeOriginal, else None."""
    out: list[Optional[datetime]] = []
    for i, photo in enumerate(photos):
        text = str(table_times[i]).strip() if table_times is not None else ""
        when = None
        if text:
            try:
                when = parse_time(text)
            except TimeFormatError:
                when = None
        if when is None and use_exif and Path(photo).is_file():
            when = read_taken_time(photo)
        out.append(when)
    return out
