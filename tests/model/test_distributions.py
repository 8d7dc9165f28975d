"""Distributions against scipy on random values, extreme alphas and zero counts."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy import stats
from scipy.special import gammaln

from xview_engine.model import distributions as D

RTOL = 1e-5


def _dirichlet_points(rng: np.random.Generator, k: int, n: int) -> np.ndarray:
    """Points well inside the simplex (scipy's logpdf needs strictly positive coordinates)."""
    p = rng.dirichlet(np.full(k, 2.0), size=n)
    p = np.clip(p, 1e-6, None)
    return p / p.sum(-1, keepdims=True)


@pytest.mark.parametrize("scale", [1e-3, 0.5, 1.0, 30.0, 1e4])
@pytest.mark.parametrize("k", [2, 5, 365])
def test_dirichlet_log_prob_matches_scipy(scale: float, k: int) -> None:
    rng = np.random.default_rng(k + int(scale * 1000))
    alpha = rng.uniform(0.5, 2.0, size=(8, k)) * scale
    p = _dirichlet_points(rng, k, 8)
    ours = D.dirichlet_log_prob(torch.from_numpy(alpha), torch.from_numpy(p)).numpy()
    ref = np.array([stats.dirichlet.logpdf(p[i], alpha[i]) for i in range(8)])
    np.testing.assert_allclose(ours, ref, rtol=RTOL)


def test_dirichlet_nll_is_mean_negative_log_prob() -> None:
    rng = np.random.default_rng(1)
    alpha = rng.uniform(0.1, 5, size=(6, 4))
    p = _dirichlet_points(rng, 4, 6)
    ref = -np.mean([stats.dirichlet.logpdf(p[i], alpha[i]) for i in range(6)])
    assert D.dirichlet_nll(torch.from_numpy(alpha), torch.from_numpy(p)).item() == pytest.approx(ref, rel=RTOL)


def test_dirichlet_broadcasts_one_photo_against_many_tiles() -> None:
    rng = np.random.default_rng(2)
    alpha = rng.uniform(0.1, 5, size=(10, 3))
    p = _dirichlet_points(rng, 3, 1)[0]
    ours = D.dirichlet_log_prob(torch.from_numpy(alpha), torch.from_numpy(p)).numpy()
    assert ours.shape == (10,)
    np.testing.assert_allclose(ours, [stats.dirichlet.logpdf(p, a) for a in alpha], rtol=RTOL)


def test_dirichlet_log_norm_is_minus_log_beta() -> None:
    alpha = np.array([[0.3, 2.0, 7.5], [1e-3, 1e4, 1.0]])
    expected = gammaln(alpha.sum(-1)) - gammaln(alpha).sum(-1)
    np.testing.assert_allclose(D.dirichlet_log_norm(torch.from_numpy(alpha)).numpy(), expected, rtol=RTOL)


def test_dirichlet_is_finite_at_simplex_faces() -> None:
    alpha = torch.tensor([[0.5, 2.0, 3.0]], dtype=torch.float64)
    p = torch.tensor([[0.0, 0.3, 0.7]], dtype=torch.float64)
    assert torch.isfinite(D.dirichlet_log_prob(alpha, p)).all()
    assert torch.isfinite(D.dirichlet_log_prob(torch.zeros(1, 3), torch.full((1, 3), 1 / 3))).all()


@pytest.mark.parametrize("rate_scale", [1e-3, 1.0, 50.0, 1e4])
def test_poisson_log_prob_matches_scipy_including_zero_counts(rate_scale: float) -> None:
    rng = np.random.default_rng(int(rate_scale * 10))
    rate = rng.uniform(0.2, 3.0, size=(5, 91)) * rate_scale
    k = rng.poisson(rate).astype(np.float64)
    k[:, :10] = 0.0
    ours = D.poisson_log_prob(torch.from_numpy(rate), torch.from_numpy(k)).numpy()
    np.testing.assert_allclose(ours, stats.poisson.logpmf(k, rate), rtol=RTOL)
    nll = D.poisson_nll(torch.from_numpy(rate), torch.from_numpy(k)).item()
    assert nll == pytest.approx(-stats.poisson.logpmf(k, rate).sum(-1).mean(), rel=RTOL)


def test_poisson_zero_rate_zero_count_is_certain() -> None:
    assert D.poisson_log_prob(torch.tensor([0.0]), torch.tensor([0.0])).item() == pytest.approx(0.0, abs=1e-7)


def test_mean_concentration_and_entropy_by_hand() -> None:
    alpha = torch.tensor([[1.0, 1.0, 2.0], [5.0, 5.0, 0.0]], dtype=torch.float64)
    np.testing.assert_allclose(D.dirichlet_concentration(alpha).numpy(), [4.0, 10.0], rtol=1e-6)
    np.testing.assert_allclose(D.dirichlet_mean(alpha).numpy()[0], [0.25, 0.25, 0.5], rtol=1e-9)
    np.testing.assert_allclose(D.dirichlet_mean(alpha).sum(-1).numpy(), [1.0, 1.0])
    expected = [stats.entropy([0.25, 0.25, 0.5]), np.log(2.0)]
    np.testing.assert_allclose(D.dirichlet_mean_entropy(alpha).numpy(), expected, rtol=1e-6)


def test_categorical_kl_matches_scipy() -> None:
    rng = np.random.default_rng(3)
    p, q = _dirichlet_points(rng, 6, 2), _dirichlet_points(rng, 6, 2)
    ours = D.categorical_kl(torch.from_numpy(p), torch.from_numpy(q)).numpy()
    np.testing.assert_allclose(ours, [stats.entropy(p[i], q[i]) for i in range(2)], rtol=1e-5)


def test_gradients_flow_through_the_nll() -> None:
    alpha = torch.full((4, 3), 2.0, requires_grad=True)
    D.dirichlet_nll(alpha, torch.full((4, 3), 1 / 3)).backward()
    assert alpha.grad is not None and torch.isfinite(alpha.grad).all() and alpha.grad.abs().sum() > 0
