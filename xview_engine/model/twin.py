"""The twin network (DSM, Shi et al. 2020): an overhead and a ground branch, no shared weights.

Both branches map an image to a 16-channel feature map whose columns are viewing directions: the
overhead branch takes the polar transform of the tile (``model.polar``) with circular horizontal
padding in every convolution, so its map wraps around at north; the ground branch takes the photo
resized to the panorama height and ``fov / 360`` of the panorama width, so a limited field of view
gives a narrower map that slides over the overhead one (``localization.twin``).

Branches come from ``TWIN_BRANCHES``: ``twin_small`` (four convolutions, for CPU training, tests and
the synthetic model) and ``vgg16`` (torchvision VGG16 conv1_1..conv4_3, conv1-3 frozen, then the
three new 3x3 convolutions 512->256->64->16, the first two with stride (2, 1)). The manifest's
``backbone.name`` picks the branch, its options the panorama size (``polar_h``, ``polar_w``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import torch
import torch.nn.functional as F
from torch import nn

from xview_engine.errors import ManifestError
from xview_engine.model.manifest import BackboneSpec, InputSpec, Manifest, bounded_int
from xview_engine.model.polar import polar_grid, polar_transform

CHANNELS = 16
VGG_LAYERS = 23  # torchvision VGG16 features[:23]: conv1_1 .. conv4_3 and its ReLU
MAX_PANORAMA_PX = 4096  # polar panorama height and width
OVERHEAD = "overhead"  # the runtime output: (B, CHANNELS * h * w) flattened overhead maps


class RingConv(nn.Conv2d):
    """A 3x3 convolution padded circularly along the width (azimuth) and with zeros along the height."""

    def __init__(self, in_channels: int, out_channels: int, stride: tuple[int, int] | int = 1):
        super().__init__(in_channels, out_channels, 3, stride=stride, padding=0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.pad(x, (1, 1, 0, 0), mode="circular")
        return super().forward(F.pad(x, (0, 0, 1, 1)))


def _conv(circular: bool, c_in: int, c_out: int, stride: tuple[int, int] | int = 1) -> nn.Conv2d:
    return RingConv(c_in, c_out, stride) if circular else nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1)


@dataclass(frozen=True)
class Branch:
    """A branch builder(in_channels, circular) -> module, and its (height, width) downsampling."""

    build: Callable[[int, bool], nn.Module]
    down: tuple[int, int]


def _small(in_channels: int, circular: bool) -> nn.Module:
    """Three strided convolutions and a 16-channel output: /8 in height, /4 in width."""
    layers: list[nn.Module] = []
    for c_in, c_out, stride in ((in_channels, 16, 2), (16, 32, 2), (32, 64, (2, 1))):
        layers += [_conv(circular, c_in, c_out, stride), nn.BatchNorm2d(c_out), nn.ReLU(inplace=True)]
    layers.append(_conv(circular, 64, CHANNELS))
    return nn.Sequential(*layers)


def _vgg16(in_channels: int, circular: bool) -> nn.Module:
    """VGG16 conv1_1..conv4_3 (torchvision layout and names), conv1-3 frozen, then 512->256->64->16."""
    import torchvision

    if in_channels != 3:
        raise ManifestError(f"the vgg16 twin branch takes 3 bands, the manifest gives {in_channels}")
    features = torchvision.models.vgg16(weights=None).features[:VGG_LAYERS]
    if circular:
        for k, layer in enumerate(features):
            if isinstance(layer, nn.Conv2d):
                ring = RingConv(layer.in_channels, layer.out_channels)
                features[k] = ring
    for k in range(17):  # conv1_1 .. conv3_3 and their pools
        for p in features[k].parameters():
            p.requires_grad_(False)
    head = nn.Sequential(_conv(circular, 512, 256, (2, 1)), nn.ReLU(inplace=True),
                         _conv(circular, 256, 64, (2, 1)), nn.ReLU(inplace=True), _conv(circular, 64, CHANNELS))
    return nn.Sequential(features, head)


TWIN_BRANCHES: dict[str, Branch] = {"twin_small": Branch(_small, (8, 4)), "vgg16": Branch(_vgg16, (32, 8))}


def load_vgg16_weights(model: nn.Module, path: str | Path) -> None:
    """Torchvision VGG16 ImageNet weights (``features.0`` .. ``features.21``) into both vgg16 branches.

    The rest of the file (conv5, the classifier) is not used; a file that lacks a tensor of conv1_1 ..
    conv4_3 or has one of another shape is refused (strict), never loaded partly.
    """
    from xview_engine.model.backbones import load_strictly, read_state_dict

    if model.manifest.backbone.name != "vgg16":
        raise ManifestError(f"VGG16 weights need the vgg16 twin branch, not '{model.manifest.backbone.name}'")
    state = {k.removeprefix("features."): v for k, v in read_state_dict(path).items()
             if k.startswith("features.") and int(k.split(".")[1]) < VGG_LAYERS}
    for branch in (model.overhead_branch, model.ground_branch):
        load_strictly(branch[0], state, path)


def branch_spec(manifest: Manifest) -> Branch:
    name = manifest.backbone.name
    if name not in TWIN_BRANCHES:
        raise ManifestError(f"unknown twin branch '{name}' (known: {', '.join(sorted(TWIN_BRANCHES))})")
    return TWIN_BRANCHES[name]


def panorama_size(manifest: Manifest) -> tuple[int, int]:
    """(height, width) in pixels of the polar panorama and of a 360-degree ground photo."""
    options = manifest.backbone.options
    return (bounded_int(options.get("polar_h", 32), "backbone.options.polar_h", 1, MAX_PANORAMA_PX),
            bounded_int(options.get("polar_w", 128), "backbone.options.polar_w", 1, MAX_PANORAMA_PX))


def ground_width_px(manifest: Manifest, fov_deg: float) -> int:
    """Pixel width a photo of ``fov_deg`` is resized to: fov / 360 of the panorama width."""
    if not 0 < fov_deg <= 360:
        raise ManifestError(f"field of view must be in (0, 360] degrees, got {fov_deg:g}")
    return max(1, round(panorama_size(manifest)[1] * fov_deg / 360))


def feature_shape(manifest: Manifest, fov_deg: float = 360.0) -> tuple[int, int, int]:
    """(channels, height, width) of the map of a tile (360) or of a photo of ``fov_deg``."""
    dh, dw = branch_spec(manifest).down
    height, _ = panorama_size(manifest)
    return CHANNELS, math.ceil(height / dh), math.ceil(ground_width_px(manifest, fov_deg) / dw)


class TwinModel(nn.Module):
    """Overhead tiles (B, C, S, S) -> {'overhead': (B, 16*h*w)}; ``ground(photos)`` -> (B, 16, h, w_fov)."""

    def __init__(self, manifest: Manifest):
        super().__init__()
        self.manifest = manifest
        spec, bands = branch_spec(manifest), len(manifest.input.bands)
        height, width = panorama_size(manifest)
        dh, dw = spec.down
        if height % dh or width % dw:
            raise ManifestError(f"twin panorama {height} x {width} must be a multiple of {dh} x {dw} for "
                                f"branch '{manifest.backbone.name}'")
        self.overhead_branch = spec.build(bands, True)
        self.ground_branch = spec.build(bands, False)
        self.register_buffer("grid", polar_grid(manifest.input.tile_px, height, width), persistent=False)

    def overhead(self, tiles: torch.Tensor) -> torch.Tensor:
        height, width = self.grid.shape[1:3]
        return self.overhead_branch(polar_transform(tiles, height, width, self.grid))

    def ground(self, photos: torch.Tensor) -> torch.Tensor:
        return self.ground_branch(photos)

    def forward(self, tiles: torch.Tensor) -> dict[str, torch.Tensor]:
        return {OVERHEAD: self.overhead(tiles).flatten(1)}


def twin_manifest(branch: str = "twin_small", tile_px: int = 64, gsd_m: float = 1.0, polar_h: int = 32,
                  polar_w: int = 128, training: dict[str, Any] | None = None) -> Manifest:
    """A twin model's manifest: the branch and panorama size in the backbone options, no heads."""
    manifest = Manifest(kind="twin", backbone=BackboneSpec(branch, {"polar_h": polar_h, "polar_w": polar_w}),
                        input=InputSpec(tile_px=tile_px, gsd_m=gsd_m), heads=(), training=training or {})
    manifest.validate()
    branch_spec(manifest)
    return manifest


def build_twin(manifest: Manifest, seed: int | None = 0) -> TwinModel:
    """A freshly initialised twin model; seeded so that the same call gives the same weights."""
    if seed is None:
        return TwinModel(manifest)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return TwinModel(manifest)
