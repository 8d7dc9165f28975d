"""When a photo was taken, as a model input: month and hour of day as cyclic features.

A time-aware model (manifest ``time_features``, e.g. ``["month", "hour"]``) takes, beside the
overhead tile, the sine and cosine of each named cycle, as in the cross-view time model of Workman
et al. ("learning to map anything anytime"): December sits next to January and 23:30 next to
00:30. The month cycle is the fraction of the year at the given day (15 January = 0.5 / 12), the
hour cycle the fraction of the day, both from the *local* wall-clock time as given (EXIF gives
local time; its OffsetTimeOriginal only says which zone that is, and seasons and daylight follow
the local clock). Times are ISO 8601 text (``2026-01-15T08:00``, with or without seconds and an
offset). Pure numpy: mapping, localization and the plugin use it without torch.
"""

from __future__ import annotations

import calendar
import math
from collections.abc import Sequence
from datetime import datetime

import numpy as np

TIME_FEATURES = ("month", "hour")
FEATURES_PER_CYCLE = 2  # sin, cos
DEFAULT_HOUR = 12  # maps over months with no hour given: noon
DEFAULT_YEAR = 2026  # the nominal year of a month-only map's time steps


class TimeFormatError(ValueError):
    """A time that is not ISO 8601 (the caller turns it into its own one-line error)."""


def parse_time(text: str) -> datetime:
    """An ISO 8601 date and time (``YYYY-MM-DDTHH:MM[:SS][+HH:MM]``); a bare date is noon of that day."""
    value = str(text).strip()
    if not value:
        raise TimeFormatError("the time is empty")
    try:
        when = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise TimeFormatError(f"'{value}' is not an ISO 8601 time such as 2026-01-15T08:00") from None
    if "T" not in value and " " not in value:
        when = when.replace(hour=DEFAULT_HOUR)
    return when


def cycle_fractions(when: datetime) -> dict[str, float]:
    """The fraction of the year and of the day at ``when`` (local wall-clock time), each in [0, 1)."""
    days = calendar.monthrange(when.year, when.month)[1]
    seconds = when.hour * 3600 + when.minute * 60 + when.second
    month = (when.month - 1 + (when.day - 1 + seconds / 86400) / days) / 12
    return {"month": month, "hour": seconds / 86400}


def time_vector(when: datetime, features: Sequence[str]) -> np.ndarray:
    """(2 * len(features),) float32: sin and cos of each named cycle at ``when``."""
    fractions = cycle_fractions(when)
    out = []
    for name in features:
        angle = 2 * math.pi * fractions[name]
        out += [math.sin(angle), math.cos(angle)]
    return np.asarray(out, np.float32)


def time_matrix(times: Sequence[datetime], features: Sequence[str]) -> np.ndarray:
    """(len(times), 2 * len(features)) float32: one ``time_vector`` per row."""
    width = FEATURES_PER_CYCLE * len(features)
    if not times:
        return np.zeros((0, width), np.float32)
    return np.stack([time_vector(t, features) for t in times])


def feature_width(features: Sequence[str]) -> int:
    """How many numbers the model's time input has (0 for a time-blind model)."""
    return FEATURES_PER_CYCLE * len(features)


def parse_months(text: str) -> tuple[int, ...]:
    """``1-12``, ``12,1,2`` or ``6`` -> months in the order given; a range may wrap (``11-2``)."""
    months: list[int] = []
    for part in str(text).split(","):
        part = part.strip()
        ends = part.split("-") if part else []
        try:
            numbers = [int(e) for e in ends]
        except ValueError:
            numbers = []
        if not 1 <= len(numbers) <= 2 or not all(1 <= m <= 12 for m in numbers):
            raise TimeFormatError(f"months '{text}' must be month numbers 1-12, as 1-12, 12,1,2 or 11-2")
        first, last = numbers[0], numbers[-1]
        months += [(first - 1 + k) % 12 + 1 for k in range((last - first) % 12 + 1)]
    if len(set(months)) != len(months):
        raise TimeFormatError(f"months '{text}' repeat a month")
    return tuple(months)


def month_steps(months: Sequence[int], reference: datetime | None = None) -> list[datetime]:
    """One time per month: the reference's day (capped to the month's length), hour and year.

    Without a reference: the 15th at noon of ``DEFAULT_YEAR``.
    """
    ref = reference or datetime(DEFAULT_YEAR, 1, 15, DEFAULT_HOUR)
    return [ref.replace(month=m, day=min(ref.day, calendar.monthrange(ref.year, m)[1])) for m in months]


def month_range(when: datetime) -> tuple[datetime, datetime]:
    """The calendar month holding ``when``: its first instant and the next month's first instant."""
    start = when.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    end = start.replace(year=start.year + 1, month=1) if start.month == 12 else start.replace(month=start.month + 1)
    return start, end


def format_time(when: datetime) -> str:
    """ISO 8601 to the minute (seconds when there are any), offset when known."""
    return when.isoformat(timespec="seconds" if when.second else "minutes")
