"""The times an index of a time-aware model is built at, and which of them a photo's time falls in.

A time-aware model's tile distributions depend on when the photo was taken, so its index keeps
each tile's likelihood table at S fixed times (month-major): the 15th of each month when the model
takes the month, at hours 00, 03, ... 21 when it takes the hour (S = 12, 8 or 96). A photo with a
known time is scored against the step its time falls in (its calendar month, the nearest 3-hour
step); a photo whose time is unknown, or when the time is not to be used, against all of them: its
likelihood is the mean over the steps, P(photo | tile) = mean_s P(photo | tile, t_s), i.e. the
time marginalised over the year and the day (``marginal``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import datetime
from typing import Optional

import numpy as np

from xview_engine.model.time_features import DEFAULT_YEAR, cycle_fractions, time_matrix

HOUR_STEP = 3  # hours between an index's hour steps


def _hours(features: Sequence[str]) -> list[int]:
    return list(range(0, 24, HOUR_STEP)) if "hour" in features else [12]


def _months(features: Sequence[str]) -> list[int]:
    return list(range(1, 13)) if "month" in features else [7]


def index_times(features: Sequence[str]) -> list[datetime]:
    """The S times of the index of a model taking ``features`` (month-major)."""
    return [datetime(DEFAULT_YEAR, m, 15, h) for m in _months(features) for h in _hours(features)]


def index_time_features(features: Sequence[str]) -> np.ndarray:
    """(S, F) cyclic features of ``index_times``: what the model is run at when indexing."""
    return time_matrix(index_times(features), features)


def step_of(when: datetime, features: Sequence[str]) -> int:
    """The index step ``when`` falls in: its calendar month, the nearest ``HOUR_STEP`` hour."""
    hours = _hours(features)
    month = when.month - 1 if "month" in features else 0
    hour = round(cycle_fractions(when)["hour"] * 24 / HOUR_STEP) % len(hours) if "hour" in features else 0
    return month * len(hours) + hour


def photo_steps(times: Optional[Sequence[Optional[datetime]]], n: int, features: Sequence[str]) -> np.ndarray:
    """(n,) step of each photo, -1 where its time is unknown (``times`` None: all unknown)."""
    if times is None:
        return np.full(n, -1, np.int64)
    return np.array([-1 if t is None else step_of(t, features) for t in times], np.int64)


def marginal(total: Optional[np.ndarray], scores: np.ndarray, steps: int, last: bool) -> np.ndarray:
    """Running log-mean-exp over time steps: fold ``scores`` (P, T) into ``total``; ``last`` finishes it."""
    if total is None:
        total = scores.astype(np.float64)
    else:
        np.logaddexp(total, scores, out=total)
    if last:
        total -= math.log(steps)
    return total
