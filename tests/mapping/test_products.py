"""Products computed in numpy equal the torch maths of ``model.distributions`` (training's)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from xview_engine.mapping import products
from xview_engine.model import distributions as dist
from xview_engine.model.manifest import HeadSpec


def _head(distribution: str, k: int = 6) -> HeadSpec:
    return HeadSpec("h", distribution, tuple(f"c{i}" for i in range(k)))


def test_dirichlet_products_equal_the_torch_distributions() -> None:
    rng = np.random.default_rng(3)
    alpha = np.exp(rng.uniform(-4, 6, size=(200, 6))).astype(np.float32)
    alpha[0, 2] = 0.0  # clamped to ALPHA_MIN, not a division by zero
    head, t = _head("dirichlet"), torch.from_numpy(alpha)
    mean = products.class_values(head, alpha)
    assert mean.dtype == np.float32
    np.testing.assert_allclose(mean, dist.dirichlet_mean(t).numpy(), rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(products.PRODUCTS["concentration"].compute(head, alpha),
                               dist.dirichlet_concentration(t).numpy(), rtol=1e-6)
    np.testing.assert_allclose(products.PRODUCTS["entropy"].compute(head, alpha),
                               dist.dirichlet_mean_entropy(t).numpy(), rtol=1e-5, atol=1e-6)
    assert (products.PRODUCTS["top"].compute(head, alpha) == alpha.argmax(axis=1)).all()


def test_entropy_of_a_one_hot_mean_head_is_zero_and_uniform_is_log_k() -> None:
    head = _head("mean", 4)
    p = np.array([[1, 0, 0, 0], [0.25, 0.25, 0.25, 0.25]], np.float32)
    assert products.PRODUCTS["entropy"].compute(head, p) == pytest.approx([0.0, np.log(4)], abs=1e-6)


def test_compute_product_keeps_nan_rows_as_nodata() -> None:
    head = _head("poisson", 3)
    rates = np.array([[1.0, 2.0, 3.0], [np.nan, np.nan, np.nan]], np.float32)
    out = products.compute_product("count", head, rates, (2, 0))
    assert out[0] == pytest.approx([3.0, 1.0]) and np.isnan(out[1]).all()


def _pair(rng: np.random.Generator, n: int, k: int, scale: float = 3.0) -> np.ndarray:
    return rng.uniform(0.2, scale, size=(n, 2 * k)).astype(np.float32)


def test_beta_products_equal_scipy() -> None:
    from scipy import stats

    rng = np.random.default_rng(4)
    params = _pair(rng, 50, 6)
    a, b = params[:, :6].astype(np.float64), params[:, 6:].astype(np.float64)
    head = _head("beta")
    np.testing.assert_allclose(products.class_values(head, params), stats.beta.mean(a, b), rtol=1e-5)
    np.testing.assert_allclose(products.PRODUCTS["spread"].compute(head, params), stats.beta.std(a, b), rtol=1e-5)
    np.testing.assert_allclose(products.PRODUCTS["exceed"].compute(head, params, 0.3), stats.beta.sf(0.3, a, b),
                               rtol=1e-6, atol=1e-12)
    torch_mean = dist.beta_mean(*dist.split_pair(torch.from_numpy(params))).numpy()
    np.testing.assert_allclose(products.class_values(head, params), torch_mean, rtol=1e-6)


def test_gaussian_bernoulli_poisson_and_dirichlet_exceedance_equal_scipy() -> None:
    from scipy import stats

    rng = np.random.default_rng(6)
    mean, var = rng.normal(0, 5, (40, 6)), rng.uniform(0.1, 9, (40, 6))
    params = np.concatenate([mean, var], 1).astype(np.float32)
    head = _head("gaussian")
    np.testing.assert_allclose(products.class_values(head, params), mean, rtol=1e-6)
    np.testing.assert_allclose(products.PRODUCTS["spread"].compute(head, params), np.sqrt(var), rtol=1e-6)
    np.testing.assert_allclose(products.PRODUCTS["exceed"].compute(head, params, 1.5),
                               stats.norm.sf(1.5, mean, np.sqrt(var)), rtol=1e-5, atol=1e-12)
    q = rng.uniform(0, 1, (40, 6)).astype(np.float32)
    np.testing.assert_allclose(products.PRODUCTS["spread"].compute(_head("bernoulli"), q),
                               stats.bernoulli.std(q.astype(np.float64)), rtol=1e-6)  # numpy 2 keeps float32 float32
    rate = rng.uniform(0.1, 6, (40, 6)).astype(np.float32)
    np.testing.assert_allclose(products.PRODUCTS["exceed"].compute(_head("poisson"), rate, 2.5),
                               stats.poisson.sf(2, rate), rtol=1e-5)
    alpha = rng.uniform(0.2, 5, (40, 6)).astype(np.float32)
    marginal = stats.beta.sf(0.2, alpha, alpha.sum(1, keepdims=True) - alpha)
    np.testing.assert_allclose(products.PRODUCTS["exceed"].compute(_head("dirichlet"), alpha, 0.2), marginal,
                               rtol=1e-5, atol=1e-12)


def test_products_that_fit_each_new_head_and_the_threshold_rules() -> None:
    from xview_engine.errors import QueryError

    assert products.resolve_products(_head("beta"), ()) == ("mean", "spread")
    assert products.resolve_products(_head("beta"), (), 0.5) == ("mean", "spread", "exceed")
    assert products.resolve_products(_head("bernoulli"), ()) == ("prob", "spread")
    assert products.resolve_products(_head("gaussian"), ("exceed",), -3.0) == ("exceed",)
    assert "exceed" not in products.resolve_products(_head("dirichlet"), ())  # defaults unchanged without t
    with pytest.raises(QueryError, match="give the threshold t with --threshold"):
        products.resolve_products(_head("gaussian"), ("exceed",))
    with pytest.raises(QueryError, match="from 0 to 1 for head 'h'"):
        products.resolve_products(_head("beta"), ("exceed",), 1.5)
    with pytest.raises(QueryError, match="does not apply to head 'h' \\(bernoulli\\); choose from prob, spread"):
        products.resolve_products(_head("bernoulli"), ("mean",))
