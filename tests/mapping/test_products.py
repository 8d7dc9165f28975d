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
