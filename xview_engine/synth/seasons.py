"""Time in the synthetic world: seasons (snow, foliage, bare fields) and the hour's light.

A world made with months (``SynthParams.months``) gives every photo a time (seeded: month among
the chosen ones, day, hour and minute uniform), written to EXIF DateTimeOriginal and pairs.csv,
and renders it at that time. The overhead image stays timeless (one acquisition), so what a
time-aware model must learn is P(attribute | overhead, time): which ground holds snow in winter
(grass and fields, not roads or water), when trees are bare, when it is dark.

The laws, all smooth in the fraction ``f`` of the year (``model.time_features.cycle_fractions``):

- snow level ``s(f) = clip(1.1 cos(2 pi (f - 0.04)) - 0.1, 0, 1)``: 1 in mid-January, 0 from
  April to mid-October. A ground pixel of class c lies under snow when ``u < s(f) * SNOW_HOLD[c]``,
  ``u`` a fixed hash of its position (so the snow pattern is the same in every photo of a day);
  its probability, ``s(f) * SNOW_HOLD[c]``, is ``snow_probability``, the truth the figures compare
  a mapped P(snow) with;
- leaves ``l(f) = clip(0.5 - 0.75 cos(2 pi (f - 0.08)), 0, 1)``, autumn colour peaking late October;
- daylight ``d = clip(2 (-cos(2 pi h) - 0.3 cos(2 pi f)) + 0.5, 0, 1)`` for the day fraction ``h``:
  shorter days in winter; below 1 the scene darkens, the sky turns navy and windows light up.

A photo's transient attributes, as two-label distributions (heads of ``labels.npz``): ``snow``
(share of the visible ground under snow), ``night`` (1 - daylight), ``foliage`` (leaves on), each
squeezed into [0.01, 0.99] so a Dirichlet head's density stays finite.
"""

from __future__ import annotations

import calendar
import math
from dataclasses import dataclass
from datetime import datetime

import numpy as np

from xview_engine.model.time_features import cycle_fractions
from xview_engine.synth import landcover as lc
from xview_engine.synth.noise import hash01

YEAR = 2026
SNOW_HOLD = np.zeros(8, np.float32)
for _code, _hold in ((lc.GRASS, 1.0), (lc.FARMLAND, 1.0), (lc.FOREST, 0.6), (lc.BUILDING, 0.7), (lc.SAND, 0.4),
                     (lc.PARKING, 0.3), (lc.ROAD, 0.15)):
    SNOW_HOLD[_code] = _hold
SNOW = np.array([236, 240, 246], np.float32)
BARE_CROWN = np.array([112, 96, 82], np.float32)
AUTUMN_CROWN = np.array([196, 120, 40], np.float32)
BARE_FIELD = np.array([128, 104, 78], np.float32)
NIGHT_SKY = np.array([14, 20, 42], np.float32)
LIT_WINDOW = np.array([250, 214, 120], np.float32)
TRUTH_EPS = 0.01  # a transient attribute's two-label row is kept off 0 and 1, as the scene rows are by labels.EPS
TRANSIENT_HEADS = {"snow": ("snow", "no snow"), "night": ("night", "day"), "foliage": ("leaves", "bare")}


@dataclass(frozen=True)
class Conditions:
    """The state of the world at one time: snow level, leaves, autumn colour, daylight (each in [0, 1])."""

    snow: float
    leaves: float
    autumn: float
    daylight: float


def conditions_at(when: datetime) -> Conditions:
    """The laws of the module docstring at ``when`` (local time)."""
    frac = cycle_fractions(when)
    f, h = frac["month"], frac["hour"]
    snow = min(1.0, max(0.0, 1.1 * math.cos(2 * math.pi * (f - 0.04)) - 0.1))
    leaves = min(1.0, max(0.0, 0.5 - 0.75 * math.cos(2 * math.pi * (f - 0.08))))
    autumn = math.exp(-(((f - 0.80 + 0.5) % 1.0 - 0.5) / 0.06) ** 2)
    daylight = min(1.0, max(0.0, 2 * (-math.cos(2 * math.pi * h) - 0.3 * math.cos(2 * math.pi * f)) + 0.5))
    return Conditions(snow, leaves, autumn, daylight)


def snow_probability(classes: np.ndarray, when: datetime) -> np.ndarray:
    """P(snow) of each ground pixel of a class map at ``when``: ``s(f) * SNOW_HOLD[class]``."""
    return conditions_at(when).snow * SNOW_HOLD[classes]


def draw_times(n: int, months: tuple[int, ...], rng: np.random.Generator) -> list[datetime]:
    """``n`` photo times: a month among ``months``, then day, hour and minute uniform, in ``YEAR``."""
    month = rng.choice(np.asarray(months), size=n)
    day_u, hour, minute = rng.random(n), rng.integers(0, 24, n), rng.integers(0, 60, n)
    return [datetime(YEAR, int(m), 1 + int(u * calendar.monthrange(YEAR, int(m))[1]), int(hh), int(mm))
            for m, u, hh, mm in zip(month, day_u, hour, minute)]


def season_ground(colours: np.ndarray, classes: np.ndarray, rows: np.ndarray, cols: np.ndarray,
                  cond: Conditions) -> tuple[np.ndarray, np.ndarray]:
    """Ground pixel colours at ``cond`` (bare fields, snow), and which pixels lie under snow."""
    out = colours.copy()
    fields = classes == lc.FARMLAND
    bare = 1.0 - cond.leaves
    out[fields] = out[fields] * (1 - 0.7 * bare) + BARE_FIELD * (0.7 * bare)
    grass = classes == lc.GRASS
    out[grass] = out[grass] * (1 - 0.35 * bare) + BARE_FIELD * (0.35 * bare)
    u = hash01(rows.astype(np.int64) + (1 << 32), cols.astype(np.int64) + (1 << 32), salt=11)
    snowy = u < cond.snow * SNOW_HOLD[classes]
    out[snowy] = SNOW * (0.92 + 0.08 * u[snowy, None] / max(cond.snow, 1e-6))
    return out, snowy


def season_crowns(colours: np.ndarray, cond: Conditions) -> np.ndarray:
    """Tree crown colours: green with leaves, orange in autumn, bare brown-grey in winter."""
    leafy = colours * (1 - cond.autumn * 0.8) + AUTUMN_CROWN * (cond.autumn * 0.8)
    return leafy * cond.leaves + BARE_CROWN * (1 - cond.leaves)


def light(img: np.ndarray, sky: np.ndarray, windows: np.ndarray, cond: Conditions) -> None:
    """Darken the photo by the daylight (in place): navy sky, lit windows after dusk."""
    dark = 1.0 - cond.daylight
    if dark <= 0:
        return
    img[sky] = img[sky] * cond.daylight + NIGHT_SKY * dark
    scene = ~sky
    img[scene] *= 0.1 + 0.9 * cond.daylight
    img[scene] += np.array([0, 2, 10], np.float32) * dark  # moonlight blue
    if dark > 0.5:
        img[windows] = LIT_WINDOW * (dark - 0.5) * 2 + img[windows] * (1 - (dark - 0.5) * 2)


def transient_truth(cond: Conditions, snowy_share: float) -> dict[str, np.ndarray]:
    """The photo's transient attributes, each as a two-label distribution (rows of ``labels.npz``)."""
    values = {"snow": snowy_share, "night": 1.0 - cond.daylight, "foliage": cond.leaves}
    return {name: np.array([TRUTH_EPS + (1 - 2 * TRUTH_EPS) * v, TRUTH_EPS + (1 - 2 * TRUTH_EPS) * (1 - v)],
                           np.float32) for name, v in values.items()}
