"""The options of `xview train twin` as plain data, importable without torch (the CLI builds its parser
from them before any heavy import)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from xview_engine.errors import TrainingError

TWIN_BRANCH_NAMES = ("twin_small", "vgg16")  # the keys of model.twin.TWIN_BRANCHES (a test keeps them equal)


@dataclass(frozen=True)
class TwinParams:
    branch: str = "twin_small"
    tile_px: int = 64
    gsd_m: float = 1.0
    polar_h: int = 32
    polar_w: int = 128
    train_fov: float = 360.0  # panoramas are cut to this field of view at training time
    alpha: float = 10.0
    epochs: int = 10
    patience: int = 3
    lr: float = 1e-4  # DSM uses 1e-5 for VGG16 from ImageNet; the small branch starts from scratch
    batch_size: int = 16
    seed: int = 0
    backbone_weights: Optional[str] = None  # torchvision VGG16 .pth for both vgg16 branches (ImageNet)

    def check(self) -> None:
        if self.epochs < 1 or self.patience < 1 or self.batch_size < 2 or not self.lr > 0 or not self.alpha > 0:
            raise TrainingError("--epochs and --patience must be >= 1, --batch-size >= 2, --lr and --alpha > 0")
        if not 0 < self.train_fov <= 360:
            raise TrainingError(f"--fov must be in (0, 360] degrees, got {self.train_fov:g}")
