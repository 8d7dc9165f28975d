"""The synthetic world's photo CNN, as a network: what the synthetic teacher runs and a knn model can keep.

The synthetic teacher (``teachers/synthetic.py``) labels ground photos with this network; a knn
model (``model/feature_net.py``) may keep the same network as its off-the-shelf feature extractor,
which is why it lives here, below both: a strided conv stack, average + max pooled, then a
two-layer head per label space. Parameter names are the teacher file's, so state dicts load as is.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import nn


class PhotoCNN(nn.Module):
    """(B, 3, H, W) -> {head: raw (B, K)}; ``pooled`` gives the (B, 2C) input the heads share."""

    def __init__(self, heads: Mapping[str, int], channels: int = 16, depth: int = 4, hidden: int = 128):
        super().__init__()
        layers: list[nn.Module] = []
        width = 3
        for level in range(depth):
            out = channels * 2 ** min(level, 3)
            layers += [nn.Conv2d(width, out, 3, stride=2, padding=1), nn.BatchNorm2d(out), nn.ReLU(inplace=True)]
            width = out
        self.features = nn.Sequential(*layers)
        self.pooled_width = 2 * width
        self.heads = nn.ModuleDict({
            name: nn.Sequential(nn.Linear(2 * width, hidden), nn.ReLU(inplace=True), nn.Linear(hidden, classes))
            for name, classes in heads.items()
        })

    def pooled(self, x: torch.Tensor) -> torch.Tensor:
        f = self.features(x)
        return torch.cat([f.mean(dim=(2, 3)), f.amax(dim=(2, 3))], dim=1)

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """Raw outputs: logits for categorical heads, pre-softplus rates for count heads."""
        pooled = self.pooled(x)
        return {name: head(pooled) for name, head in self.heads.items()}
