"""Beta, Bernoulli and Gaussian heads against scipy.stats; their activations and output widths."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy import stats

from xview_engine.model import distributions as D
from xview_engine.model.crossview import build_model
from xview_engine.model.heads import HEAD_ACTIVATIONS, DistributionHead
from xview_engine.model.manifest import DISTRIBUTIONS, BackboneSpec, HeadSpec, InputSpec, Manifest

RTOL = 1e-6


@pytest.mark.parametrize("scale", [1e-2, 0.5, 3.0, 1e3])
def test_beta_matches_scipy(scale: float) -> None:
    rng = np.random.default_rng(int(scale * 100))
    a, b = rng.uniform(0.2, 3, (2, 7, 4)) * scale
    x = rng.uniform(0.01, 0.99, (7, 4))
    ta, tb, tx = map(torch.from_numpy, (a, b, x))
    np.testing.assert_allclose(D.beta_log_prob(ta, tb, tx).numpy(), stats.beta.logpdf(x, a, b), rtol=1e-5)
    np.testing.assert_allclose(D.beta_mean(ta, tb).numpy(), stats.beta.mean(a, b), rtol=RTOL)
    np.testing.assert_allclose(D.beta_std(ta, tb).numpy(), stats.beta.std(a, b), rtol=RTOL)
    nll = D.beta_nll(torch.cat([ta, tb], -1), tx).item()
    assert nll == pytest.approx(-stats.beta.logpdf(x, a, b).sum(-1).mean(), rel=1e-6)


def test_beta_entropy_matches_scipy() -> None:
    """Debian's scipy integrates the Beta entropy numerically: reliable for a, b >= 1 (no singular ends)."""
    rng = np.random.default_rng(11)
    a, b = rng.uniform(1.0, 40.0, (2, 20))
    ours = D.beta_entropy(torch.from_numpy(a), torch.from_numpy(b)).numpy()
    np.testing.assert_allclose(ours, [stats.beta.entropy(x, y) for x, y in zip(a, b)], rtol=1e-5, atol=1e-6)
    assert D.beta_entropy(torch.tensor(1.0), torch.tensor(1.0)).item() == pytest.approx(0.0, abs=1e-6)


def test_beta_is_finite_at_zero_and_one() -> None:
    a, b = torch.tensor([[0.3, 4.0]], dtype=torch.float64), torch.tensor([[2.0, 0.2]], dtype=torch.float64)
    x = torch.tensor([[0.0, 1.0]], dtype=torch.float64)
    out = D.beta_log_prob(a, b, x)
    assert torch.isfinite(out).all()
    edge = np.array([[D.BETA_VALUE_MIN, 1 - D.BETA_VALUE_MIN]])
    np.testing.assert_allclose(out.numpy(), stats.beta.logpdf(edge, a.numpy(), b.numpy()), rtol=1e-6)


def test_bernoulli_matches_scipy() -> None:
    rng = np.random.default_rng(5)
    q = rng.uniform(0.01, 0.99, (9, 3))
    x = (rng.random((9, 3)) < 0.5).astype(float)
    tq, tx = torch.from_numpy(q), torch.from_numpy(x)
    np.testing.assert_allclose(D.bernoulli_log_prob(tq, tx).numpy(), stats.bernoulli.logpmf(x, q), rtol=RTOL)
    np.testing.assert_allclose(D.bernoulli_std(tq).numpy(), stats.bernoulli.std(q), rtol=RTOL)
    np.testing.assert_allclose(D.bernoulli_entropy(tq).numpy(), stats.bernoulli.entropy(q), rtol=RTOL)
    assert D.bernoulli_nll(tq, tx).item() == pytest.approx(-stats.bernoulli.logpmf(x, q).sum(-1).mean(), rel=RTOL)
    sure = D.bernoulli_log_prob(torch.tensor([0.0, 1.0]), torch.tensor([1.0, 0.0]))
    assert torch.isfinite(sure).all()  # a certain 'no' seeing a yes: log(1e-6), not -inf


@pytest.mark.parametrize("scale", [1e-2, 1.0, 250.0])
def test_gaussian_matches_scipy(scale: float) -> None:
    rng = np.random.default_rng(int(scale))
    mean = rng.normal(0, scale, (6, 5))
    var = rng.uniform(0.1, 2, (6, 5)) * scale ** 2
    x = rng.normal(0, scale, (6, 5))
    tm, tv, tx = map(torch.from_numpy, (mean, var, x))
    sd = np.sqrt(var)
    np.testing.assert_allclose(D.gaussian_log_prob(tm, tv, tx).numpy(), stats.norm.logpdf(x, mean, sd), rtol=1e-6)
    np.testing.assert_allclose(D.gaussian_std(tv).numpy(), stats.norm.std(mean, sd), rtol=RTOL)
    np.testing.assert_allclose(D.gaussian_entropy(tv).numpy(), stats.norm.entropy(mean, sd), rtol=1e-6)
    nll = D.gaussian_nll(torch.cat([tm, tv], -1), tx).item()
    assert nll == pytest.approx(-stats.norm.logpdf(x, mean, sd).sum(-1).mean(), rel=1e-6)


@pytest.mark.parametrize("distribution", ["beta", "bernoulli", "gaussian"])
def test_attribute_heads_output_valid_parameters(distribution: str) -> None:
    torch.manual_seed(0)
    head = DistributionHead(16, 8, 3, distribution)
    out = head(torch.randn(50, 16) * 100)  # large features: saturated activations stay valid
    width = 6 if distribution in ("beta", "gaussian") else 3
    assert out.shape == (50, width) and torch.isfinite(out).all()
    if distribution == "beta":
        assert (out > 0).all()
    elif distribution == "bernoulli":
        assert ((out >= D.PROB_EDGE) & (out <= 1 - D.PROB_EDGE)).all()
    else:
        assert (out[:, 3:] >= D.VAR_MIN).all() and (out[:, :3] < 0).any()  # the mean is unbounded
    loss = D.head_nll(distribution, out, torch.full((50, 3), 0.5 if distribution != "bernoulli" else 1.0))
    assert torch.isfinite(loss)


def test_every_manifest_distribution_has_an_activation() -> None:
    assert set(HEAD_ACTIVATIONS) == set(DISTRIBUTIONS)


def test_one_label_attribute_heads_build_and_run() -> None:
    heads = (HeadSpec("sunny", "beta", ("sunny",)), HeadSpec("car", "bernoulli", ("car",)),
             HeadSpec("depth", "gaussian", ("metres", "error")))
    manifest = Manifest("distill", BackboneSpec("tiny_cnn", {"width": 4}), InputSpec(16, 1.0), heads, hidden=8)
    assert [h.num_params for h in heads] == [2, 1, 4]
    out = build_model(manifest).eval()(torch.zeros(2, 3, 16, 16))
    assert {k: tuple(v.shape) for k, v in out.items()} == {"sunny": (2, 2), "car": (2, 1), "depth": (2, 4)}


def test_onnx_runtime_gives_the_torch_parameters_of_attribute_heads(tmp_path, monkeypatch) -> None:
    pytest.importorskip("onnxruntime")
    from xview_engine.model.file import save_model
    from xview_engine.model.runtime import load_runtime

    monkeypatch.setenv("XVIEW_HOME", str(tmp_path / "home"))
    heads = (HeadSpec("w", "beta", ("sunny", "snow")), HeadSpec("b", "bernoulli", ("car", "boat")),
             HeadSpec("g", "gaussian", ("depth",)))
    manifest = Manifest("distill", BackboneSpec("tiny_cnn", {"width": 4}), InputSpec(16, 1.0), heads, hidden=8)
    path = save_model(build_model(manifest, seed=3), manifest, tmp_path / "m.safetensors")
    x = np.random.default_rng(0).uniform(-2, 2, (5, 3, 16, 16)).astype(np.float32)
    ref, out = load_runtime(path, "torch", "cpu").run(x), load_runtime(path, "onnx", "cpu").run(x)
    for name in ref:
        np.testing.assert_allclose(out[name], ref[name], rtol=1e-4, atol=1e-6)
