"""Distributions over labels, batched in torch on the last axis.

The overhead model predicts the *parameters* of a distribution over what a ground photo would show:
a Dirichlet over categorical label distributions (scenes, object classes) and a Poisson rate per
object class (counts). Everything here is the maths of those distributions: densities for the NLL
loss and for localization, and the summaries shown on maps (mean, concentration, entropy).

Numerics: inputs are clamped away from zero and normalised where the maths needs a simplex point,
and log-gamma is used throughout, so alphas from 1e-3 to 1e4 and zero counts are all finite.
"""

from __future__ import annotations

import torch

ALPHA_MIN = 1e-8  # smallest concentration allowed in any formula
PROB_MIN = 1e-8  # a teacher's probability of 0 is treated as this (log 0 would be -inf)
RATE_MIN = 1e-8


def clamp_simplex(p: torch.Tensor, eps: float = PROB_MIN) -> torch.Tensor:
    """Move points of the probability simplex away from its faces (clamp, then renormalise)."""
    p = p.clamp_min(eps)
    return p / p.sum(dim=-1, keepdim=True)


def dirichlet_log_norm(alpha: torch.Tensor) -> torch.Tensor:
    """log B(alpha)^-1 = lgamma(alpha_0) - sum lgamma(alpha_i): the per-tile constant of the density.

    Localization precomputes this once per tile so that scoring a photo is a matrix product.
    """
    alpha = alpha.clamp_min(ALPHA_MIN)
    return torch.lgamma(alpha.sum(-1)) - torch.lgamma(alpha).sum(-1)


def dirichlet_log_prob(alpha: torch.Tensor, p: torch.Tensor) -> torch.Tensor:
    """log Dir(p | alpha); alpha and p broadcast on the leading axes, K on the last."""
    alpha = alpha.clamp_min(ALPHA_MIN)
    log_p = torch.log(clamp_simplex(p))
    return dirichlet_log_norm(alpha) + ((alpha - 1.0) * log_p).sum(-1)


def dirichlet_nll(alpha: torch.Tensor, p: torch.Tensor) -> torch.Tensor:
    """Mean negative log-likelihood of teacher distributions ``p`` under predicted ``alpha``."""
    return -dirichlet_log_prob(alpha, p).mean()


def poisson_log_prob(rate: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
    """log Poisson(k | rate) elementwise; k may be 0 and need not be an integer (teacher averages)."""
    rate = rate.clamp_min(RATE_MIN)
    k = k.clamp_min(0.0)
    return k * torch.log(rate) - rate - torch.lgamma(k + 1.0)


def poisson_nll(rate: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
    """Mean over samples of the summed (over classes) Poisson negative log-likelihood."""
    return -poisson_log_prob(rate, k).sum(-1).mean()


def dirichlet_concentration(alpha: torch.Tensor) -> torch.Tensor:
    """alpha_0 = sum alpha_i: how sure the model is (large = photos here all look alike)."""
    return alpha.clamp_min(ALPHA_MIN).sum(-1)


def dirichlet_mean(alpha: torch.Tensor) -> torch.Tensor:
    """E[p] = alpha / alpha_0: the expected label distribution of a photo taken here."""
    alpha = alpha.clamp_min(ALPHA_MIN)
    return alpha / alpha.sum(-1, keepdim=True)


def categorical_entropy(p: torch.Tensor) -> torch.Tensor:
    """Shannon entropy in nats of categorical distributions on the last axis (0 log 0 = 0)."""
    p = p.clamp_min(0.0)
    return -torch.where(p > 0, p * torch.log(p.clamp_min(1e-30)), torch.zeros_like(p)).sum(-1)


def dirichlet_mean_entropy(alpha: torch.Tensor) -> torch.Tensor:
    """Entropy of the Dirichlet mean: how mixed the expected view is (not the Dirichlet's own entropy)."""
    return categorical_entropy(dirichlet_mean(alpha))


def categorical_kl(p: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
    """KL(p || q) per row, for pre-training the encoder on teacher distributions; q is clamped."""
    log_q = torch.log(clamp_simplex(q))
    log_p = torch.log(p.clamp_min(1e-30))
    return torch.where(p > 0, p * (log_p - log_q), torch.zeros_like(p)).sum(-1)
