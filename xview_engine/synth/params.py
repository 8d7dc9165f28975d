"""Parameters of a synthetic world: one frozen, validated value object.

The CLI, the demo and the tests build the same ``SynthParams``; validation lives here so every
caller gets the same one-line messages.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from xview_engine.errors import SynthError
from xview_engine.limits import MAX_PHOTOS, MAX_SEED, check_count

# The default world sits on a real coast (Adriatic, near Split) in its real UTM zone.
DEFAULT_CRS = "EPSG:32633"
DEFAULT_ANCHOR_LONLAT = (16.40, 43.50)
CYLINDRICAL_FROM_DEG = 180.0  # photos this wide or wider are cylindrical (panorama columns), narrower pinhole
PANORAMA_WIDTH_PX = 512


@dataclass(frozen=True)
class SynthParams:
    """Everything that decides a world's bytes: same params, same files."""

    seed: int = 0
    size_m: float = 3000.0
    gsd: float = 0.5
    photos: int = 2000
    fov: float = 360.0
    crs: str = DEFAULT_CRS
    photo_width: int = 0  # 0: 512 x fov / 360 for cylindrical photos (fov >= 180), 256 for perspective ones
    split_blocks: int = 5  # the world is cut into split_blocks x split_blocks spatial blocks
    water_photo_share: float = 0.12  # share of photos taken afloat (boats, piers, ferries)
    months: tuple[int, ...] = ()  # photos taken in these months, rendered at their time (synth.seasons); () timeless

    def __post_init__(self) -> None:
        if not math.isfinite(self.size_m) or not math.isfinite(self.gsd):
            raise SynthError(f"--size-m {self.size_m:g} and --gsd {self.gsd:g} must be finite numbers")
        if not self.size_m > 0:
            raise SynthError(f"--size-m must be positive, got {self.size_m:g}")
        if not self.gsd > 0:
            raise SynthError(f"--gsd must be positive, got {self.gsd:g}")
        if self.size_m / self.gsd < 64:
            raise SynthError(
                f"--size-m {self.size_m:g} at --gsd {self.gsd:g} gives {self.size_m / self.gsd:.0f} pixels; "
                "the world needs at least 64 pixels a side: raise --size-m or lower --gsd"
            )
        if self.size_m / self.gsd > 40000:
            raise SynthError(
                f"--size-m {self.size_m:g} at --gsd {self.gsd:g} gives {self.size_m / self.gsd:.0f} pixels a side; "
                "keep it under 40000 (raise --gsd)"
            )
        check_count("--photos", self.photos, 0, MAX_PHOTOS, SynthError)
        check_count("--seed", self.seed, 0, MAX_SEED, SynthError)
        if not 0 < self.fov <= 360:
            raise SynthError(f"--fov {self.fov:g} is not a field of view synth can render: give degrees in (0, 360] "
                             "(under 180 a perspective photo, from 180 a cylindrical crop of the panorama)")
        if self.photo_width < 0 or 0 < self.photo_width < 32:
            raise SynthError(f"photo width must be at least 32 pixels, got {self.photo_width}")
        if not 0 <= self.water_photo_share <= 1:
            raise SynthError(f"water_photo_share must be in [0, 1], got {self.water_photo_share:g}")
        if not all(type(m) is int and 1 <= m <= 12 for m in self.months) or len(set(self.months)) != len(self.months):
            raise SynthError(f"--months must be distinct month numbers 1-12, got {list(self.months)}")
        if self.split_blocks < 2:
            raise SynthError(f"split_blocks must be at least 2, got {self.split_blocks}")

    @property
    def size_px(self) -> int:
        """Raster side in pixels."""
        return round(self.size_m / self.gsd)

    @property
    def panorama(self) -> bool:
        return self.fov >= 360

    @property
    def cylindrical(self) -> bool:
        """From 180 degrees a pinhole photo is impossible: the photo is a crop of the panorama."""
        return self.fov >= CYLINDRICAL_FROM_DEG

    @property
    def photo_shape(self) -> tuple[int, int]:
        """(height, width) of every photo: 4:3 perspective photos; cylindrical ones as the columns of a
        4:1 panorama of 512 px (``fov / 360`` of its width, its full height, the same pixel pitch)."""
        if self.cylindrical:
            width = self.photo_width or max(1, round(PANORAMA_WIDTH_PX * self.fov / 360))
            return max(1, round(width * 90 / self.fov)), width
        width = self.photo_width or 256
        return (width * 3) // 4, width
