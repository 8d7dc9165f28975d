"""Bounds on every size a user can set: how far an argument may grow before it is refused.

A size a user types decides an allocation (a batch of tiles, a hidden layer, a grid of tiles, a
synthetic world), so each has a ceiling that is generous for real work and far below what would
exhaust a machine: ``--batch-size 1000000000`` is refused here, before it asks for terabytes. The
CLI's argument types (``xview_engine.cli._numbers``) and the engine's own checks (for the dock and
Processing) read the same numbers. No imports beyond the standard library: the CLI reads this at
parser-building time.
"""

from __future__ import annotations

import math

from xview_engine.errors import XviewError

DEFAULT_MAX_TILES = 500_000  # tiles a grid run lays without --max-tiles
MAX_TILES = 100_000_000  # the most --max-tiles may allow
MAX_BATCH_SIZE = 4096  # tiles or photos per forward pass
MAX_BATCH_BYTES = 8 * 2**30  # float32 pixels of one batch of tiles
MAX_STRIDE_M = 1_000_000.0  # 1000 km between tile centres
MAX_GSD_M = 100_000.0  # metres per pixel
MAX_TILE_PX = 4096  # model input side in pixels
MAX_WIDTH = 65_536  # hidden width, embedding size, backbone option values
MAX_EPOCHS = 100_000
MAX_TOP_K = 10_000  # candidates reported per photo
MAX_CHIPS = 1_000  # PNG chips `xview retrieve` writes per query
MAX_PHOTOS = 1_000_000  # photos of a synthetic world
MAX_NEGATIVES = 10_000  # unmatched pairs per matched one
MAX_WORLD_M = 1_000_000.0  # side of a synthetic world
MAX_DISTANCE_M = 40_075_000.0  # the equator
MAX_SEED = 2**32 - 1
MAX_WEIGHT = 1e6  # a head's combination weight
MAX_PHOTO_PIXELS = 89_478_485  # a photo's declared width x height (Pillow's own default, 0.33 GiB as RGB)


def check_count(name: str, value: int, low: int, high: int, error: type[XviewError] = XviewError) -> int:
    """``value`` as a whole number in [low, high], else ``error`` naming the argument and the range."""
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise error(f"{_named(name, value)} must be a whole number from {low:,} to {high:,}")
    return value


def check_number(name: str, value: float, low: float, high: float, error: type[XviewError] = XviewError,
                 *, low_open: bool = False, high_open: bool = False) -> float:
    """``value`` as a finite number in the range (open at either end on request), else ``error``."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise error(f"{_named(name, repr(value))} must be a number") from None
    below = number <= low if low_open else number < low
    above = number >= high if high_open else number > high
    if not math.isfinite(number) or below or above:
        span = f"{'(' if low_open else '['}{_fmt(low)}, {_fmt(high)}{')' if high_open else ']'}"
        raise error(f"{_named(name, f'{number:g}')} must be a finite number in {span}")
    return number


def _fmt(bound: float) -> str:
    """1000000.0 -> '1,000,000'; 0.5 -> '0.5'."""
    return f"{int(bound):,}" if float(bound).is_integer() and abs(bound) < 1e15 else f"{bound:g}"


def _named(name: str, value: object) -> str:
    """'--top-k' and 0 -> '--top-k 0'; '--weights scene=' and nan -> '--weights scene=nan'."""
    gap = "" if name.endswith("=") or not name else " "
    return f"{name}{gap}{value}"
