"""Distribution heads: two fully connected layers that output the parameters of a distribution.

As in the seed: ``Linear(features, hidden) -> ReLU -> Linear(hidden, K)``. Dirichlet heads output
concentrations alpha = softplus + eps, Poisson heads rates = softplus + eps (both strictly positive);
the mean-only baseline outputs a softmax (a categorical mean with no spread).
"""

from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

POSITIVE_EPS = 1e-4


def _positive(z: torch.Tensor) -> torch.Tensor:
    return F.softplus(z) + POSITIVE_EPS


HEAD_ACTIVATIONS: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "dirichlet": _positive,
    "poisson": _positive,
    "mean": lambda z: torch.softmax(z, dim=-1),
}


class DistributionHead(nn.Module):
    def __init__(self, in_features: int, hidden: int, num_classes: int, distribution: str):
        super().__init__()
        self.fc1 = nn.Linear(in_features, hidden)
        self.fc2 = nn.Linear(hidden, num_classes)
        self.distribution = distribution
        self.activation = HEAD_ACTIVATIONS[distribution]

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.activation(self.fc2(F.relu(self.fc1(features))))
