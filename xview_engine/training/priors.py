"""Constant priors: the one distribution that fits every tile best, fitted to the training labels.

Two uses. Evaluation: a model beats its constant prior on held-out photos only if it learnt
something from the overhead pixels (``evaluate``). Training: a per-attribute head (Beta, Bernoulli,
Gaussian) starts at its prior (the last layer's bias set so that the head outputs it), so the first
steps learn where tiles differ instead of the scale of the values (a Gaussian over metres starts at
the right metres, not at 0 with variance 0.7).

Fits: Dirichlet and Beta by maximum likelihood (Adam on log parameters from a moment-matched
start); Poisson rate = the mean count; Bernoulli P(yes) = the share of yes; Gaussian = the mean and
the (maximum-likelihood) variance of the values.
"""

from __future__ import annotations

import torch

from xview_engine.model.distributions import (
    PROB_EDGE,
    VAR_MIN,
    beta_log_prob,
    dirichlet_log_prob,
    head_nll,
)
from xview_engine.model.heads import POSITIVE_EPS, DistributionHead

PRIOR_HEADS = ("beta", "bernoulli", "gaussian")  # heads that start at their prior when training


def fit_dirichlet(p: torch.Tensor, steps: int = 400) -> torch.Tensor:
    """Maximum-likelihood Dirichlet alpha for rows p (Adam on log alpha from a moment-matched start)."""
    m = p.mean(0)
    var = p.var(0).clamp_min(1e-8)
    s0 = float(((m * (1 - m)) / var - 1).clamp_min(1e-2).median())
    log_alpha = torch.log(m.clamp_min(1e-6) * s0).clone().requires_grad_(True)
    optimizer = torch.optim.Adam([log_alpha], lr=0.05)
    for _ in range(steps):
        optimizer.zero_grad()
        loss = -dirichlet_log_prob(log_alpha.exp(), p).mean()
        loss.backward()
        optimizer.step()
    return log_alpha.detach().exp()


def fit_beta(x: torch.Tensor, steps: int = 400) -> torch.Tensor:
    """Maximum-likelihood ``[alpha | beta]`` (2K,) for values x (N, K) in [0, 1], each attribute on its own."""
    x = x.double()
    m = x.mean(0).clamp(1e-3, 1 - 1e-3)
    s0 = ((m * (1 - m)) / x.var(0).clamp_min(1e-8) - 1).clamp(1e-2, 1e4)
    log_ab = torch.log(torch.cat([m * s0, (1 - m) * s0])).clone().requires_grad_(True)
    optimizer = torch.optim.Adam([log_ab], lr=0.05)
    k = x.shape[1]
    for _ in range(steps):
        optimizer.zero_grad()
        ab = log_ab.exp()
        loss = -beta_log_prob(ab[:k], ab[k:], x).mean(0).sum()
        loss.backward()
        optimizer.step()
    return log_ab.detach().exp().float()


def constant_params(distribution: str, train: torch.Tensor) -> torch.Tensor:
    """The constant prior's parameters (P,) for a head of ``distribution`` from its training targets (N, K)."""
    if distribution in ("dirichlet", "mean"):
        return fit_dirichlet(train)
    if distribution == "beta":
        return fit_beta(train)
    if distribution == "bernoulli":
        return train.mean(0).clamp(PROB_EDGE, 1 - PROB_EDGE)
    if distribution == "gaussian":
        return torch.cat([train.mean(0), train.var(0, unbiased=False).clamp_min(VAR_MIN)])
    return train.mean(0).clamp_min(1e-4)  # poisson


def constant_prior_nll(distribution: str, train: torch.Tensor, test: torch.Tensor) -> float:
    """NLL on ``test`` of the single distribution fitted to ``train`` (a 'mean' head: its Dirichlet)."""
    params = constant_params(distribution, train)
    family = "dirichlet" if distribution == "mean" else distribution
    return float(head_nll(family, params.expand(len(test), -1), test))


def _inverse_softplus(y: torch.Tensor) -> torch.Tensor:
    return y + torch.log(-torch.expm1(-y))


def start_at_prior(head: DistributionHead, distribution: str, train: torch.Tensor) -> None:
    """Set the head's last bias so that, for average features, it outputs the prior fitted to ``train``."""
    params = constant_params(distribution, train).double()
    if distribution == "bernoulli":
        q = params.clamp(1e-4, 1 - 1e-4)
        bias = torch.log(q) - torch.log1p(-q)
    elif distribution == "beta":
        bias = _inverse_softplus((params - POSITIVE_EPS).clamp_min(1e-4))
    else:
        k = params.shape[0] // 2
        bias = torch.cat([params[:k], _inverse_softplus((params[k:] - VAR_MIN).clamp_min(1e-8))])
    with torch.no_grad():
        head.fc2.bias.copy_(bias.float())
