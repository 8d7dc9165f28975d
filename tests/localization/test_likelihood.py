"""Matrix scoring equals per-tile scipy densities; heads combined with weights."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from xview_engine.localization import likelihood as scoring


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(7)


def _simplex(rng: np.random.Generator, n: int, k: int) -> np.ndarray:
    return rng.dirichlet(np.full(k, 0.7), size=n)


def test_dirichlet_matches_scipy(rng) -> None:
    alpha = rng.uniform(0.05, 30.0, size=(13, 6))
    photos = _simplex(rng, 4, 6)
    table = scoring.tile_table("scene", "dirichlet", alpha)
    got = scoring.score_head(table, photos)
    for p in range(4):
        expected = [stats.dirichlet.logpdf(photos[p], alpha[t]) for t in range(13)]
        assert got[p] == pytest.approx(expected, rel=1e-5, abs=1e-3)


def test_dirichlet_zero_probability_is_clamped_not_minus_infinity(rng) -> None:
    table = scoring.tile_table("scene", "dirichlet", rng.uniform(0.5, 5, size=(3, 4)))
    got = scoring.score_head(table, np.array([[0.5, 0.5, 0.0, 0.0]]))
    assert np.isfinite(got).all()


def test_poisson_matches_scipy_including_zero_counts(rng) -> None:
    rate = rng.uniform(0.01, 12.0, size=(11, 5))
    counts = rng.poisson(3.0, size=(3, 5)).astype(float)
    counts[0, :2] = 0.0
    got = scoring.score_head(scoring.tile_table("obj", "poisson", rate), counts)
    for p in range(3):
        expected = [stats.poisson.logpmf(counts[p], rate[t]).sum() for t in range(11)]
        assert got[p] == pytest.approx(expected, rel=1e-5, abs=1e-3)


def test_mean_baseline_is_minus_squared_distance(rng) -> None:
    means = _simplex(rng, 9, 5)
    photos = _simplex(rng, 2, 5)
    got = scoring.score_head(scoring.tile_table("m", "mean", means), photos)
    expected = -((photos[:, None, :] - means[None, :, :]) ** 2).sum(-1)
    assert got == pytest.approx(expected, abs=1e-6)


def test_chunking_and_float16_tables(rng, monkeypatch) -> None:
    alpha = rng.uniform(0.1, 50, size=(5000, 8))
    photos = _simplex(rng, 3, 8)
    full = scoring.score_head(scoring.tile_table("s", "dirichlet", alpha), photos)
    monkeypatch.setattr(scoring, "CHUNK_BYTES", 1)  # 64-tile chunks
    assert len(scoring.tile_chunks(5000, 8, 1)) == 79
    chunked = scoring.score_head(scoring.tile_table("s", "dirichlet", alpha), photos)
    assert chunked == pytest.approx(full, rel=1e-6)
    half = scoring.tile_table("s", "dirichlet", alpha, dtype="float16")
    assert half.weights.dtype == np.float16
    rounded = half.weights.astype(np.float64)  # constants follow the stored (rounded) alphas exactly
    expected = [stats.dirichlet.logpdf(photos[0], rounded[t]) for t in range(0, 5000, 500)]
    assert scoring.score_head(half, photos)[0, ::500] == pytest.approx(expected, rel=1e-5, abs=1e-3)


def test_float16_memory_mapped_scores_equal_float32_within_rounding(rng, tmp_path, monkeypatch) -> None:
    """The fast float16 path (torch cast into a reused buffer, chunk by chunk) scores like float32."""
    monkeypatch.setattr(scoring, "CHUNK_BYTES", 1)  # 64-tile chunks, the last one partial
    alpha = rng.uniform(0.1, 50, size=(2500, 16))
    photos = _simplex(rng, 5, 16)
    full = scoring.score_head(scoring.tile_table("s", "dirichlet", alpha), photos)
    half = scoring.tile_table("s", "dirichlet", alpha, dtype="float16")
    np.save(tmp_path / "w.npy", half.weights)
    mapped = np.load(tmp_path / "w.npy", mmap_mode="r")
    got = scoring.score_head(scoring.HeadTable("s", "dirichlet", mapped, half.const), photos)
    assert isinstance(mapped, np.memmap) and not mapped.flags.writeable
    assert got == pytest.approx(scoring.score_head(half, photos), rel=1e-6)  # the same as an in-memory table
    assert got == pytest.approx(full, rel=2e-3, abs=0.05)  # alphas rounded to float16 (11-bit mantissa)


def test_combination_weights_and_errors(rng) -> None:
    tables = {
        "scene": scoring.tile_table("scene", "dirichlet", rng.uniform(0.5, 5, size=(20, 4))),
        "obj": scoring.tile_table("obj", "poisson", rng.uniform(0.1, 3, size=(20, 3))),
    }
    values = {"scene": _simplex(rng, 2, 4), "obj": rng.poisson(1.0, size=(2, 3))}
    out = scoring.score_photos(tables, values)
    assert out["combined"] == pytest.approx(out["scene"] + out["obj"], rel=1e-6)
    weighted = scoring.score_photos(tables, values, weights={"obj": 0.25}, keep_heads=False)
    assert set(weighted) == {"combined"}
    assert weighted["combined"] == pytest.approx(out["scene"] + 0.25 * out["obj"], rel=1e-5)
    with pytest.raises(scoring.ScoringError, match="unknown heads"):
        scoring.score_photos(tables, values, weights={"places": 1.0})
    with pytest.raises(scoring.ScoringError, match="index lacks"):
        scoring.score_photos(tables, {"coco": values["obj"]})
    with pytest.raises(scoring.ScoringError, match="same label space"):
        scoring.score_head(tables["scene"], _simplex(rng, 1, 5))
    with pytest.raises(scoring.ScoringError, match="cannot score"):
        scoring.tile_table("x", "lognormal", np.ones((2, 2)))


def test_tile_params_round_trip(rng) -> None:
    rate = rng.uniform(0.1, 3, size=(4, 3))
    assert scoring.tile_params(scoring.tile_table("o", "poisson", rate)) == pytest.approx(rate, rel=1e-6)


def _straight_scores(table: scoring.HeadTable, values: np.ndarray) -> np.ndarray:
    """The unchunked way: widen every weight by numpy, one float32 product, constants added in float32."""
    v, d = scoring.photo_vectors(table.distribution, values)
    out = v @ np.asarray(table.weights, np.float32).T
    out += table.const.astype(np.float32)
    out += d.astype(np.float32)[:, None]
    return out


@pytest.mark.parametrize("torch_there", [True, False])
@pytest.mark.parametrize("n_photos", [1, 7])
def test_chunked_workers_score_like_one_straight_product(rng, tmp_path, monkeypatch, torch_there, n_photos) -> None:
    """Worker threads over 64-tile chunks (or numpy alone without torch) give the straight product's scores."""
    import sys

    if torch_there:
        torch = pytest.importorskip("torch")
        threads = torch.get_num_threads()
    else:
        monkeypatch.setitem(sys.modules, "torch", None)  # `import torch` raises ImportError: the numpy path
    monkeypatch.setattr(scoring, "CHUNK_BYTES", 1)
    alpha = rng.uniform(0.1, 50, size=(1000, 24))
    half = scoring.tile_table("s", "dirichlet", alpha, dtype="float16")
    np.save(tmp_path / "w.npy", half.weights)
    table = scoring.HeadTable("s", "dirichlet", np.load(tmp_path / "w.npy", mmap_mode="r"), half.const)
    photos = _simplex(rng, n_photos, 24)
    got = scoring.score_head(table, photos)
    assert got.shape == (n_photos, 1000) and got.dtype == np.float32
    straight = _straight_scores(half, photos)
    # float32 products summed in another order: within the dot product's rounding bound, K eps sum|v w|
    v, _ = scoring.photo_vectors("dirichlet", photos)
    bound = 24 * 2.0**-24 * (np.abs(v) @ np.abs(half.weights.astype(np.float32)).T) + 2.0**-22 * np.abs(straight)
    assert (np.abs(got - straight) <= bound).all()
    if not torch_there:
        return
    assert torch.get_num_threads() == threads  # the workers' single thread does not leak into the caller
    seen = []
    worker = __import__("threading").Thread(target=lambda: seen.append(torch.get_num_threads()))
    worker.start()
    worker.join()
    assert seen == [threads]  # nor into threads started later


def test_cancel_inside_a_worker_stops_scoring(rng, monkeypatch) -> None:
    from xview_engine.errors import Cancelled

    monkeypatch.setattr(scoring, "CHUNK_BYTES", 1)
    table = scoring.tile_table("s", "dirichlet", rng.uniform(0.1, 5, size=(2000, 8)), dtype="float16")
    calls = []

    def cancel() -> bool:
        calls.append(1)
        return len(calls) > 5

    with pytest.raises(Cancelled):
        scoring.score_head(table, _simplex(rng, 1, 8), cancel=cancel)
    assert len(calls) < len(scoring.tile_chunks(2000, 8, 1)) + 2  # stopped well before the last chunk


@pytest.mark.parametrize("dtype", ["float32", "float16"])
def test_attribute_heads_score_their_log_density(rng, dtype) -> None:
    """Beta, Bernoulli and Gaussian tables give sum log-density (scipy) of a photo's values at every tile."""
    from scipy import stats

    k, tiles = 4, 300
    a, b = rng.uniform(0.5, 8, (2, tiles, k))
    x = rng.uniform(0.05, 0.95, (3, k))
    q = rng.uniform(0.02, 0.98, (tiles, k))
    yes = (rng.random((3, k)) < 0.5).astype(float)
    mean, var = rng.normal(0, 2, (tiles, k)), rng.uniform(0.2, 3, (tiles, k))
    y = rng.normal(0, 2, (3, k))
    cases = [("beta", np.concatenate([a, b], 1), x, lambda p, t: stats.beta.logpdf(p, a[t], b[t])),
             ("bernoulli", q, yes, lambda p, t: stats.bernoulli.logpmf(p, q[t])),
             ("gaussian", np.concatenate([mean, var], 1), y,
              lambda p, t: stats.norm.logpdf(p, mean[t], np.sqrt(var[t])))]
    for distribution, params, photos, reference in cases:
        table = scoring.tile_table("h", distribution, params, dtype)
        got = scoring.score_head(table, photos)
        stored = scoring.tile_params(table)  # what the index holds, as parameters again
        np.testing.assert_allclose(stored, params, rtol=2e-3 if dtype == "float16" else 1e-5)
        if dtype == "float32":
            want = np.array([[reference(p, t).sum() for t in range(tiles)] for p in photos])
            np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-3)
        assert np.isfinite(got).all() and (got.argmax(1) >= 0).all()


def test_gaussian_table_in_float16_keeps_a_tiny_variance_finite(rng) -> None:
    params = np.array([[0.5, 1e-6]])  # precision 1e6 overflows float16: it is kept at float16's largest
    table = scoring.tile_table("h", "gaussian", params, "float16")
    assert np.isfinite(table.weights.astype(np.float64)).all() and np.isfinite(table.const).all()
    assert np.isfinite(scoring.score_head(table, np.array([[0.5]]))).all()
