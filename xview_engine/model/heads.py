"""Distribution heads: two fully connected layers that output the parameters of a distribution.

As in the seed: ``Linear(features, hidden) -> ReLU -> Linear(hidden, P)`` with P = K parameters, or
2K for the two-parameter distributions. Dirichlet heads output concentrations alpha = softplus + eps,
Poisson heads rates = softplus + eps (both strictly positive); the mean-only baseline outputs a
softmax (a categorical mean with no spread). Per-attribute heads: Beta ``[alpha | beta]``, both
softplus + eps; Bernoulli P(yes) = a sigmoid kept ``PROB_EDGE`` from 0 and 1 (log q and log(1 - q)
stay finite); Gaussian ``[mean | variance]``, the mean unbounded, the variance softplus + ``VAR_MIN``.
"""

from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

from xview_engine.model.distributions import PROB_EDGE, VAR_MIN
from xview_engine.model.manifest import params_per_label

POSITIVE_EPS = 1e-4


def _positive(z: torch.Tensor) -> torch.Tensor:
    return F.softplus(z) + POSITIVE_EPS


def _probability(z: torch.Tensor) -> torch.Tensor:
    return torch.sigmoid(z) * (1.0 - 2.0 * PROB_EDGE) + PROB_EDGE


def _mean_and_variance(z: torch.Tensor) -> torch.Tensor:
    k = z.shape[-1] // 2
    return torch.cat([z[..., :k], F.softplus(z[..., k:]) + VAR_MIN], dim=-1)


HEAD_ACTIVATIONS: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "dirichlet": _positive,
    "poisson": _positive,
    "mean": lambda z: torch.softmax(z, dim=-1),
    "beta": _positive,
    "bernoulli": _probability,
    "gaussian": _mean_and_variance,
}


class DistributionHead(nn.Module):
    """``num_classes`` labels, each with ``params_per_label(distribution)`` outputs."""

    def __init__(self, in_features: int, hidden: int, num_classes: int, distribution: str):
        super().__init__()
        self.fc1 = nn.Linear(in_features, hidden)
        self.fc2 = nn.Linear(hidden, num_classes * params_per_label(distribution))
        self.distribution = distribution
        self.activation = HEAD_ACTIVATIONS[distribution]

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.activation(self.fc2(F.relu(self.fc1(features))))
