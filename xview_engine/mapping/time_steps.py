"""The times a map is made at: `--time` (one) or `--months` (one band per month), for time-aware models.

A time-aware model (manifest ``time_features``) predicts P(attribute | overhead, time), so a map
of it is a map *at* a time. ``--time 2026-01-15T08:00`` maps at that time; ``--months 1-12`` maps
at each month (the 15th at noon of 2026, or the day, hour and year of ``--time`` when both are
given) and every product gets one band per month (per class, month-major). Each band carries its
time in its description (``snow:prob:snow @2026-01``) and as GDAL band metadata (``xview_time``,
and for months the calendar month it stands for as ``xview_time_start`` / ``xview_time_end``, ISO
8601), and products.json lists them per band: what the plugin sets the layers' QGIS temporal
properties from.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Optional

import numpy as np

from xview_engine.errors import SourceError
from xview_engine.model.manifest import Manifest
from xview_engine.model.time_features import (
    TimeFormatError,
    format_time,
    month_range,
    month_steps,
    parse_months,
    parse_time,
    time_matrix,
)

TIME_MARK = " @"  # band descriptions of a time step: 'snow:prob:snow @2026-01'; what precedes it is as before


@dataclass(frozen=True)
class TimeSteps:
    """The S times of a map, their cyclic features for the model, and the span each band stands for."""

    times: tuple[datetime, ...]
    features: np.ndarray  # (S, F) float32
    spans: tuple[Optional[tuple[datetime, datetime]], ...]  # per step: [start, end) for months, else None

    def __len__(self) -> int:
        return len(self.times)

    def band_tags(self, step: int) -> dict[str, str]:
        """GDAL metadata of the bands of ``step``."""
        tags = {"xview_time": format_time(self.times[step])}
        span = self.spans[step]
        if span is not None:
            tags.update(xview_time_start=format_time(span[0]), xview_time_end=format_time(span[1]))
        return tags

    def label(self, step: int) -> str:
        """What a band description says of its time: the month for month steps, else the time."""
        if self.spans[step] is not None:
            return self.times[step].strftime("%Y-%m")
        return format_time(self.times[step])

    def describe(self) -> dict[str, Any]:
        return {"steps": [self.band_tags(s) for s in range(len(self))]}


def resolve_time_steps(manifest: Manifest, model: str, time: Optional[str],
                       months: Optional[str]) -> Optional[TimeSteps]:
    """The map's times, or None for a time-blind model; every misuse is one line naming the option."""
    if not manifest.takes_time:
        given = [option for option, value in (("--time", time), ("--months", months)) if value]
        if given:
            one = len(given) == 1
            raise SourceError(f"{model} does not take the time (its manifest has no time_features), so "
                              f"{' and '.join(given)} {'does' if one else 'do'} not change its outputs; leave "
                              f"{'it' if one else 'them'} out")
        return None
    if not time and not months:
        raise SourceError(f"{model} maps P(attribute | overhead, time): give --time 2026-01-15T08:00, or "
                          "--months 1-12 for one band per month")
    try:
        reference = parse_time(time) if time else None
    except TimeFormatError as exc:
        raise SourceError(f"--time: {exc}") from None
    try:
        if months:
            times = month_steps(parse_months(months), reference)
            spans: tuple[Optional[tuple[datetime, datetime]], ...] = tuple(month_range(t) for t in times)
        else:
            times, spans = [reference], (None,)  # type: ignore[list-item]
    except TimeFormatError as exc:
        raise SourceError(f"--months: {exc}") from None
    return TimeSteps(tuple(times), time_matrix(times, manifest.time_features), spans)
