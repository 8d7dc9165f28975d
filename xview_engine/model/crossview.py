"""The cross-view model: one overhead encoder shared by any number of distribution heads."""

from __future__ import annotations

from typing import Callable, TypeVar

import torch
from torch import nn

from xview_engine.model.backbones import build_backbone
from xview_engine.model.heads import DistributionHead
from xview_engine.model.manifest import Manifest

ModelT = TypeVar("ModelT", bound=nn.Module)


class CrossViewModel(nn.Module):
    """Overhead tile batch (B, C, H, W), normalised as the manifest says -> {head: parameters (B, K)}."""

    def __init__(self, manifest: Manifest):
        super().__init__()
        self.manifest = manifest
        self.backbone, features = build_backbone(
            manifest.backbone.name, in_channels=len(manifest.input.bands), **dict(manifest.backbone.options)
        )
        self.heads = nn.ModuleDict(
            {
                spec.name: DistributionHead(features, manifest.hidden, spec.num_classes, spec.distribution)
                for spec in manifest.heads
            }
        )
        self.feature_dim = features

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        features = self.backbone(x)
        return {name: head(features) for name, head in self.heads.items()}


def build_model(manifest: Manifest, seed: int | None = 0) -> CrossViewModel:
    """A freshly initialised model for a manifest; seeded so that the same call gives the same weights."""
    return seeded_build(CrossViewModel, manifest, seed)


def seeded_build(network: Callable[[Manifest], ModelT], manifest: Manifest, seed: int | None) -> ModelT:
    """``network(manifest)`` after validation, its random initialisation drawn from ``seed`` (None: global RNG)."""
    manifest.validate()
    if seed is None:
        return network(manifest)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return network(manifest)
