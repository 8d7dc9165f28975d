"""The Siamese network (Where-CNN, Lin et al. 2015): ground photos and aerial tiles in one embedding.

Each branch is a registry backbone followed by a linear projection to ``manifest.hidden``
dimensions and L2 normalisation, so the distance between a photo and a tile is
``d^2 = 2 - 2 cos``: ranking tiles by distance is ranking them by one dot product. With shared
weights (the paper's default) one branch embeds both views in a common feature space; with
domain-specific weights a ground branch and an aerial branch are trained together.

``forward`` is the aerial branch and returns ``{"embedding": (B, D)}``, so the mapping and index
pipelines run a Siamese model exactly like any other model file; ``ground`` embeds photos.
The manifest's ``network`` says ``shared`` (bool), the ground input ``photo_px`` (H, W) with its
``photo_mean`` / ``photo_std``, and, after training, the ``calibration`` of distance -> P(same place).
"""

from __future__ import annotations

import math
import reprlib
from collections.abc import Mapping
from typing import Any

import numpy as np
import torch
from torch import nn

from xview_engine.errors import ManifestError
from xview_engine.model.backbones import build_backbone
from xview_engine.model.manifest import MAX_TILE_PX, BackboneSpec, InputSpec, Manifest, bounded_int, finite_number

EMBEDDING = "embedding"
PHOTO_CHANNELS = 3  # ground photos are RGB


class EmbeddingBranch(nn.Module):
    """Backbone -> linear projection -> L2-normalised embedding."""

    def __init__(self, backbone: BackboneSpec, in_channels: int, dim: int):
        super().__init__()
        self.backbone, features = build_backbone(backbone.name, in_channels=in_channels, **dict(backbone.options))
        self.project = nn.Linear(features, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return nn.functional.normalize(self.project(self.backbone(x)).float(), dim=1)


class SiameseModel(nn.Module):
    """Aerial tiles (B, C, h, w) -> {"embedding": (B, D)}; ``ground(photos (B, 3, H, W))`` -> (B, D)."""

    def __init__(self, manifest: Manifest):
        super().__init__()
        check_siamese_manifest(manifest)
        self.manifest = manifest
        bands = len(manifest.input.bands)
        if manifest.network["shared"]:
            self.branches = nn.ModuleDict({"shared": EmbeddingBranch(manifest.backbone, bands, manifest.hidden)})
        else:
            self.branches = nn.ModuleDict({
                "aerial": EmbeddingBranch(manifest.backbone, bands, manifest.hidden),
                "ground": EmbeddingBranch(manifest.backbone, PHOTO_CHANNELS, manifest.hidden)})

    @property
    def aerial_branch(self) -> EmbeddingBranch:
        return self.branches["shared" if "shared" in self.branches else "aerial"]

    @property
    def ground_branch(self) -> EmbeddingBranch:
        return self.branches["shared" if "shared" in self.branches else "ground"]

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        return {EMBEDDING: self.aerial_branch(x)}

    def ground(self, photos: torch.Tensor) -> torch.Tensor:
        return self.ground_branch(photos)


def check_siamese_manifest(manifest: Manifest) -> None:
    """The network entries a Siamese model needs, each named when wrong."""
    net = manifest.network
    if manifest.kind != "siamese":
        raise ManifestError(f"a Siamese model needs a manifest of kind 'siamese', not '{manifest.kind}'")
    if not isinstance(net.get("shared"), bool):
        raise ManifestError("Siamese manifest network.shared must be true (shared weights) or false (domain-specific)")
    _check_photo_input(net)
    calibration = net.get("calibration")
    if calibration is not None and not (isinstance(calibration, Mapping) and
                                        all(finite_number(calibration.get(k)) for k in ("intercept", "slope"))):
        raise ManifestError("Siamese manifest network.calibration must hold finite numbers 'intercept' and 'slope'")
    if net["shared"] and len(manifest.input.bands) != PHOTO_CHANNELS:
        raise ManifestError(f"shared Siamese branches need {PHOTO_CHANNELS}-band tiles like the RGB photos "
                            f"(the model has {len(manifest.input.bands)} bands); train with domain-specific weights")


def _check_photo_input(net: Mapping[str, Any]) -> None:
    """photo_px bounded like a tile (it sets the size photos are resized to), finite mean, positive std."""
    px = net.get("photo_px")
    if not (isinstance(px, (list, tuple)) and len(px) == 2):
        raise ManifestError(f"Siamese manifest network.photo_px must be [height, width], got {reprlib.repr(px)}")
    for value in px:
        bounded_int(value, "network.photo_px", 8, MAX_TILE_PX)
    for key, low in (("photo_mean", -math.inf), ("photo_std", 0.0)):
        values = net.get(key)
        if not (isinstance(values, (list, tuple)) and len(values) == PHOTO_CHANNELS
                and all(finite_number(v) and v > low for v in values)):
            raise ManifestError(f"Siamese manifest network.{key} must be {PHOTO_CHANNELS} finite numbers"
                                f"{' > 0' if low == 0 else ''}, got {reprlib.repr(values)}")


def siamese_manifest(backbone: BackboneSpec, tile_px: int, gsd_m: float, dim: int, shared: bool,
                     photo_px: tuple[int, int], training: dict[str, Any] | None = None) -> Manifest:
    """A validated Siamese manifest: tiles of ``tile_px`` at ``gsd_m``, ``dim``-dimensional embeddings."""
    manifest = Manifest(kind="siamese", backbone=backbone, input=InputSpec(tile_px=tile_px, gsd_m=gsd_m), heads=(),
                        hidden=dim, training=training or {},
                        network={"shared": shared, "photo_px": [int(photo_px[0]), int(photo_px[1])],
                                 "photo_mean": [0.5] * 3, "photo_std": [0.5] * 3})
    manifest.validate()
    check_siamese_manifest(manifest)
    return manifest


def build_siamese(manifest: Manifest, seed: int | None = 0) -> SiameseModel:
    """A freshly initialised Siamese model; seeded so that the same call gives the same weights."""
    from xview_engine.model.crossview import seeded_build

    return seeded_build(SiameseModel, manifest, seed)


def same_place_probability(distance: Any, calibration: dict[str, float]) -> np.ndarray:
    """The logistic calibration P(same place | d) = 1 / (1 + exp(-(a + b d))), b < 0 (monotone in d)."""
    z = float(calibration["intercept"]) + float(calibration["slope"]) * np.asarray(distance, np.float64)
    return 1.0 / (1.0 + np.exp(-z))
