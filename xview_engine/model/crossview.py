"""The cross-view model: one overhead encoder shared by any number of distribution heads."""

from __future__ import annotations

from typing import Callable, Optional, TypeVar

import torch
from torch import nn

from xview_engine.errors import ModelFileError
from xview_engine.model.backbones import build_backbone
from xview_engine.model.heads import DistributionHead
from xview_engine.model.manifest import Manifest
from xview_engine.model.time_features import feature_width

ModelT = TypeVar("ModelT", bound=nn.Module)


class CrossViewModel(nn.Module):
    """Overhead tile batch (B, C, H, W), normalised as the manifest says -> {head: parameters (B, K)}.

    A time-aware manifest (``time_features``) widens every head's input by the time's cyclic
    features (``model.time_features``), concatenated to the overhead features: the heads then give
    P(attribute | overhead, time). ``forward`` takes one time per tile (training: each photo's own);
    ``forward_times`` every tile at each of S times (mapping and indexing: the encoder runs once).
    """

    def __init__(self, manifest: Manifest):
        super().__init__()
        self.manifest = manifest
        self.backbone, features = build_backbone(
            manifest.backbone.name, in_channels=len(manifest.input.bands), **dict(manifest.backbone.options)
        )
        self.time_dim = feature_width(manifest.time_features)
        self.heads = nn.ModuleDict(
            {
                spec.name: DistributionHead(features + self.time_dim, manifest.hidden, spec.num_classes,
                                            spec.distribution)
                for spec in manifest.heads
            }
        )
        self.feature_dim = features

    def forward(self, x: torch.Tensor, time: Optional[torch.Tensor] = None) -> dict[str, torch.Tensor]:
        """{head: (B, K)}; ``time`` (B, F) cyclic time features, required by a time-aware model only."""
        features = self.backbone(x)
        if self.time_dim:
            features = torch.cat([features, self._checked_time(time, len(x)).to(features.dtype)], dim=1)
        return {name: head(features) for name, head in self.heads.items()}

    def forward_times(self, x: torch.Tensor, times: torch.Tensor) -> dict[str, torch.Tensor]:
        """{head: (B, S, K)}: each tile at each of the S times (S, F), the encoder run once."""
        features = self.backbone(x)
        times = self._checked_time(times, None).to(features.dtype)
        b, s = features.shape[0], times.shape[0]
        joint = torch.cat([features[:, None, :].expand(b, s, -1), times[None, :, :].expand(b, s, -1)], dim=2)
        return {name: head(joint) for name, head in self.heads.items()}

    def _checked_time(self, time: Optional[torch.Tensor], rows: Optional[int]) -> torch.Tensor:
        if not self.time_dim:
            raise ModelFileError("this model does not take the time (its manifest has no time_features)")
        if time is None or time.dim() != 2 or time.shape[1] != self.time_dim or (rows is not None
                                                                                 and time.shape[0] != rows):
            shape = None if time is None else tuple(time.shape)
            raise ModelFileError(f"this model takes the time ({', '.join(self.manifest.time_features)}) as "
                                 f"({rows or 'S'}, {self.time_dim}) cyclic features, got {shape}")
        return time


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
