"""Distributions over labels, batched in torch on the last axis.

The overhead model predicts the *parameters* of a distribution over what a ground photo would show:
a Dirichlet over categorical label distributions (scenes, object classes), a Poisson rate per
object class (counts), and per attribute (each label on its own): a Beta over a value in [0, 1]
(the share of a view that is water, how "sunny" a photo is), a Bernoulli over yes / no, a Gaussian
with a predicted variance over a continuous value. Everything here is the maths of those
distributions: densities for the NLL loss and for localization, and the summaries shown on maps
(mean, spread, concentration, entropy).

Parameter layout of the two-parameter heads (what a head outputs, K labels): Beta ``[alpha (K) |
beta (K)]``, Gaussian ``[mean (K) | variance (K)]``; ``split_pair`` cuts them apart.

Numerics: inputs are clamped away from zero and normalised where the maths needs a simplex point,
and log-gamma is used throughout, so alphas from 1e-3 to 1e4 and zero counts are all finite. A Beta
value of exactly 0 or 1 is read as ``BETA_VALUE_MIN`` from the end (the density is 0 or infinite
there), a Bernoulli probability is kept ``PROB_EDGE`` from 0 and 1, a variance at least ``VAR_MIN``.
"""

from __future__ import annotations

import torch

ALPHA_MIN = 1e-8  # smallest concentration allowed in any formula
PROB_MIN = 1e-8  # a teacher's probability of 0 is treated as this (log 0 would be -inf)
RATE_MIN = 1e-8
BETA_VALUE_MIN = 1e-3  # a [0, 1] value of 0 or 1 is read as 0.001 or 0.999 (shares are often exactly 0)
PROB_EDGE = 1e-6  # a Bernoulli probability stays in [1e-6, 1 - 1e-6]
VAR_MIN = 1e-6  # smallest Gaussian variance in any formula
LOG_2PI = 1.8378770664093453


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


def split_pair(params: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """A two-parameter head's (..., 2K) output as its two (..., K) halves (Beta alpha, beta; Gaussian mean, var)."""
    k = params.shape[-1] // 2
    return params[..., :k], params[..., k:]


def beta_log_prob(alpha: torch.Tensor, beta: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """log Beta(x | alpha, beta) elementwise; x is clamped to [BETA_VALUE_MIN, 1 - BETA_VALUE_MIN]."""
    a, b = alpha.clamp_min(ALPHA_MIN), beta.clamp_min(ALPHA_MIN)
    x = x.clamp(BETA_VALUE_MIN, 1.0 - BETA_VALUE_MIN)
    log_norm = torch.lgamma(a + b) - torch.lgamma(a) - torch.lgamma(b)
    return log_norm + (a - 1.0) * torch.log(x) + (b - 1.0) * torch.log1p(-x)


def beta_nll(params: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """Mean over samples of the summed (over attributes) Beta NLL; ``params`` is ``[alpha | beta]``."""
    return -beta_log_prob(*split_pair(params), x).sum(-1).mean()


def beta_mean(alpha: torch.Tensor, beta: torch.Tensor) -> torch.Tensor:
    a, b = alpha.clamp_min(ALPHA_MIN), beta.clamp_min(ALPHA_MIN)
    return a / (a + b)


def beta_std(alpha: torch.Tensor, beta: torch.Tensor) -> torch.Tensor:
    """Standard deviation sqrt(ab / ((a + b)^2 (a + b + 1)))."""
    a, b = alpha.clamp_min(ALPHA_MIN), beta.clamp_min(ALPHA_MIN)
    s = a + b
    return torch.sqrt(a * b / (s * s * (s + 1.0)))


def beta_entropy(alpha: torch.Tensor, beta: torch.Tensor) -> torch.Tensor:
    """Differential entropy in nats (<= 0, the uniform Beta(1, 1) has 0)."""
    a, b = alpha.clamp_min(ALPHA_MIN), beta.clamp_min(ALPHA_MIN)
    s = a + b
    log_beta_fn = torch.lgamma(a) + torch.lgamma(b) - torch.lgamma(s)
    return (log_beta_fn - (a - 1.0) * torch.digamma(a) - (b - 1.0) * torch.digamma(b)
            + (s - 2.0) * torch.digamma(s))


def bernoulli_log_prob(q: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """log Bernoulli(x | q) = x log q + (1 - x) log(1 - q); x in {0, 1} (a soft x in [0, 1] is a cross-entropy)."""
    q = q.clamp(PROB_EDGE, 1.0 - PROB_EDGE)
    return x * torch.log(q) + (1.0 - x) * torch.log1p(-q)


def bernoulli_nll(q: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """Mean over samples of the summed (over attributes) Bernoulli NLL."""
    return -bernoulli_log_prob(q, x).sum(-1).mean()


def bernoulli_std(q: torch.Tensor) -> torch.Tensor:
    q = q.clamp(0.0, 1.0)
    return torch.sqrt(q * (1.0 - q))


def bernoulli_entropy(q: torch.Tensor) -> torch.Tensor:
    """Entropy in nats of yes / no with P(yes) = q."""
    q = q.clamp(PROB_EDGE, 1.0 - PROB_EDGE)
    return -(q * torch.log(q) + (1.0 - q) * torch.log1p(-q))


def gaussian_log_prob(mean: torch.Tensor, var: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """log N(x | mean, var) elementwise."""
    var = var.clamp_min(VAR_MIN)
    return -0.5 * (LOG_2PI + torch.log(var) + (x - mean) ** 2 / var)


def gaussian_nll(params: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """Mean over samples of the summed (over attributes) Gaussian NLL; ``params`` is ``[mean | variance]``."""
    return -gaussian_log_prob(*split_pair(params), x).sum(-1).mean()


def gaussian_std(var: torch.Tensor) -> torch.Tensor:
    return torch.sqrt(var.clamp_min(VAR_MIN))


def gaussian_entropy(var: torch.Tensor) -> torch.Tensor:
    """Differential entropy in nats, 0.5 log(2 pi e var)."""
    return 0.5 * (LOG_2PI + 1.0 + torch.log(var.clamp_min(VAR_MIN)))


def head_nll(distribution: str, params: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """The NLL a head of ``distribution`` is trained with (mean over samples; summed over independent labels)."""
    if distribution == "dirichlet":
        return dirichlet_nll(params, target)
    return {"poisson": poisson_nll, "beta": beta_nll, "bernoulli": bernoulli_nll,
            "gaussian": gaussian_nll}[distribution](params, target)
