"""The options of `xview train twin` as plain data, importable without torch (the CLI builds its parser
from them before any heavy import)."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Optional, Union

from xview_engine.errors import TrainingError

TWIN_BRANCH_NAMES = ("twin_small", "vgg16")  # the keys of model.twin.TWIN_BRANCHES (a test keeps them equal)


def parse_fovs(text: str) -> tuple[tuple[float, ...], bool]:
    """``--fov`` text -> (fields of view in degrees, is a range): ``360``, ``360,180,90,70`` (a set: each
    batch draws one) or ``70-360`` (a range: each batch draws a whole number of panorama columns in it)."""
    spec = str(text).strip()
    span = re.fullmatch(r"([^,\-]+)-([^,\-]+)", spec)
    parts = span.groups() if span else spec.split(",")
    try:
        values = tuple(float(v) for v in parts)
    except ValueError:
        raise TrainingError(f"--fov '{text}': give degrees, several as 360,180,90,70 or a range as 70-360") from None
    if not values or any(not (math.isfinite(v) and 0 < v <= 360) for v in values):
        raise TrainingError(f"--fov '{text}': every field of view must be in (0, 360] degrees")
    if span and not values[0] < values[1]:
        raise TrainingError(f"--fov '{text}': a range goes from the narrower to the wider field of view, e.g. 70-360")
    return (values, bool(span)) if span else (tuple(sorted(set(values), reverse=True)), False)


@dataclass(frozen=True)
class TwinParams:
    branch: str = "twin_small"
    tile_px: int = 64
    gsd_m: float = 1.0
    polar_h: int = 32
    polar_w: int = 128
    train_fov: Union[tuple[float, ...], float] = (360.0,)  # panoramas are cut to one of these per batch
    fov_range: bool = False  # train_fov is (narrowest, widest): each batch draws a width in between
    alpha: float = 10.0
    epochs: int = 10
    patience: int = 3
    lr: float = 1e-4  # DSM uses 1e-5 for VGG16 from ImageNet; the small branch starts from scratch
    batch_size: int = 16
    seed: int = 0
    backbone_weights: Optional[str] = None  # torchvision VGG16 .pth for both vgg16 branches (ImageNet)

    def __post_init__(self) -> None:
        if isinstance(self.train_fov, (int, float)):  # one field of view given as a number
            object.__setattr__(self, "train_fov", (float(self.train_fov),))
        object.__setattr__(self, "train_fov", tuple(float(v) for v in self.train_fov))

    def check(self) -> None:
        if self.epochs < 1 or self.patience < 1 or self.batch_size < 2 or not self.lr > 0 or not self.alpha > 0:
            raise TrainingError("--epochs and --patience must be >= 1, --batch-size >= 2, --lr and --alpha > 0")
        fovs = self.train_fov
        if not fovs or any(not (math.isfinite(v) and 0 < v <= 360) for v in fovs):
            raise TrainingError(f"--fov must be in (0, 360] degrees, got {', '.join(f'{v:g}' for v in fovs)}")
        if self.fov_range and not (len(fovs) == 2 and fovs[0] < fovs[1]):
            raise TrainingError("a --fov range needs two fields of view, the narrower first (e.g. 70-360)")

    @property
    def fov_text(self) -> str:
        """The training fields of view as ``--fov`` takes them."""
        return ("-" if self.fov_range else ",").join(f"{v:g}" for v in self.train_fov)
