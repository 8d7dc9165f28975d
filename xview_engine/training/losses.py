"""Losses of the two training stages, per head, matched to teacher outputs by head name.

Stage 1 (encoder pre-training): KL(teacher distribution || predicted mean) for every categorical
head (Dirichlet or mean-only) and the NLL of every per-attribute head (Beta, Bernoulli, Gaussian:
attributes a user brings are often all the supervision there is); count heads wait for stage 2.
Stage 2 (heads, encoder frozen): the negative log-likelihood of the teacher's output under the
predicted distribution (``distributions.head_nll``); the mean-only baseline head is fitted by
squared error, as the approach the seed improves on. Validation reports the same stage-2 numbers
per head.
"""

from __future__ import annotations

import torch

from xview_engine.model.distributions import categorical_kl, dirichlet_mean, head_nll
from xview_engine.model.manifest import CATEGORICAL, Manifest

PRETRAINED_BY_NLL = ("beta", "bernoulli", "gaussian")


def predicted_mean(distribution: str, params: torch.Tensor) -> torch.Tensor:
    """The categorical mean a head predicts (Dirichlet alpha / alpha_0; mean heads are already one)."""
    return dirichlet_mean(params) if distribution == "dirichlet" else params


def squared_error(mean: torch.Tensor, p: torch.Tensor) -> torch.Tensor:
    """Mean over samples of the summed squared error: the mean-only baseline's loss."""
    return ((mean - p) ** 2).sum(-1).mean()


def pretrain_losses(manifest: Manifest, outputs: dict[str, torch.Tensor],
                    targets: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Stage 1: KL per categorical head, NLL per attribute head."""
    losses = {}
    for spec in manifest.heads:
        out, target = outputs[spec.name].float(), targets[spec.name]
        if spec.distribution in CATEGORICAL:
            losses[spec.name] = categorical_kl(target, predicted_mean(spec.distribution, out)).mean()
        elif spec.distribution in PRETRAINED_BY_NLL:
            losses[spec.name] = head_nll(spec.distribution, out, target)
    return losses


def pretrainable(manifest: Manifest) -> bool:
    """Whether stage 1 has a loss: a categorical or attribute head."""
    return any(s.distribution in CATEGORICAL + PRETRAINED_BY_NLL for s in manifest.heads)


def head_losses(manifest: Manifest, outputs: dict[str, torch.Tensor],
                targets: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Stage 2: NLL per head, squared error per mean-only head."""
    losses = {}
    for spec in manifest.heads:
        out, target = outputs[spec.name].float(), targets[spec.name]
        if spec.distribution == "mean":
            losses[spec.name] = squared_error(out, target)
        else:
            losses[spec.name] = head_nll(spec.distribution, out, target)
    return losses
