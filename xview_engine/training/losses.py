"""Losses of the two training stages, per head, matched to teacher outputs by head name.

Stage 1 (encoder pre-training): KL(teacher distribution || predicted mean) for every categorical
head (Dirichlet or mean-only); count heads wait for stage 2. Stage 2 (heads, encoder frozen): the
negative log-likelihood of the teacher's output under the predicted distribution (Dirichlet,
Poisson); the mean-only baseline head is fitted by squared error, as the approach the seed improves
on. Validation reports the same stage-2 numbers per head.
"""

from __future__ import annotations

import torch

from xview_engine.model.distributions import categorical_kl, dirichlet_mean, dirichlet_nll, poisson_nll
from xview_engine.model.manifest import Manifest


def predicted_mean(distribution: str, params: torch.Tensor) -> torch.Tensor:
    """The categorical mean a head predicts (Dirichlet alpha / alpha_0; mean heads are already one)."""
    return dirichlet_mean(params) if distribution == "dirichlet" else params


def squared_error(mean: torch.Tensor, p: torch.Tensor) -> torch.Tensor:
    """Mean over samples of the summed squared error: the mean-only baseline's loss."""
    return ((mean - p) ** 2).sum(-1).mean()


def pretrain_losses(manifest: Manifest, outputs: dict[str, torch.Tensor],
                    targets: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Stage 1: KL per categorical head."""
    return {
        spec.name: categorical_kl(targets[spec.name], predicted_mean(spec.distribution, outputs[spec.name].float()))
        .mean()
        for spec in manifest.heads
        if spec.distribution in ("dirichlet", "mean")
    }


def head_losses(manifest: Manifest, outputs: dict[str, torch.Tensor],
                targets: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Stage 2: NLL per Dirichlet / Poisson head, squared error per mean-only head."""
    losses = {}
    for spec in manifest.heads:
        out, target = outputs[spec.name].float(), targets[spec.name]
        if spec.distribution == "dirichlet":
            losses[spec.name] = dirichlet_nll(out, target)
        elif spec.distribution == "poisson":
            losses[spec.name] = poisson_nll(out, target)
        else:
            losses[spec.name] = squared_error(out, target)
    return losses
