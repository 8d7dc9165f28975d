"""PCA false-colour map: a planted 3-D structure comes back, numpy's eigen-decomposition agrees, and
`xview pca` writes an RGB GeoTIFF on a synthetic world that a saved basis reproduces."""

from __future__ import annotations

import json

import numpy as np
import pytest
import rasterio
from knn_fixtures import classifier, knn_world, world  # noqa: F401  (fixtures)
from rasterio.enums import ColorInterp

from xview_engine.cli.main import main
from xview_engine.mapping.pca import PcaBasis, PcaError, fit_pca


def planted(n: int = 600, dim: int = 20, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Features = 3 latent factors (std 6, 3, 1.5) along orthonormal directions Q + small noise + offset.

    The factors are made exactly centred and uncorrelated in the sample, so that the sample's
    principal axes are Q itself and not a slight rotation of it.
    """
    rng = np.random.default_rng(seed)
    q, _ = np.linalg.qr(rng.normal(size=(dim, 3)))
    raw = rng.normal(size=(n, 3))
    white, _ = np.linalg.qr(raw - raw.mean(0))  # orthonormal columns spanning centred ones: centred too
    latent = white * np.sqrt(n) * [6.0, 3.0, 1.5]
    return latent @ q.T + 0.01 * rng.normal(size=(n, dim)) + 5.0, q.T, latent


def test_planted_structure_comes_back() -> None:
    x, directions, latent = planted()
    basis = fit_pca(x)
    np.testing.assert_allclose(np.abs(basis.components @ directions.T), np.eye(3), atol=2e-3)
    # the scores are the latent factors up to sign (and their own sample mean)
    scores = basis.project(x)
    for c in range(3):
        assert abs(np.corrcoef(scores[:, c], latent[:, c])[0, 1]) > 0.999
    assert basis.explained[0] > basis.explained[1] > basis.explained[2] and basis.explained.sum() > 0.99


def test_agrees_with_numpy_eigendecomposition() -> None:
    rng = np.random.default_rng(1)
    x = rng.normal(size=(200, 6)) @ rng.normal(size=(6, 6))
    basis = fit_pca(x)
    values, vectors = np.linalg.eigh(np.cov(x, rowvar=False))
    top = vectors[:, ::-1][:, :3].T
    np.testing.assert_allclose(np.abs(np.sum(basis.components * top, axis=1)), 1.0, atol=1e-9)
    np.testing.assert_allclose(basis.explained, values[::-1][:3] / values.sum(), rtol=1e-9)
    # signs are fixed: the largest loading of each component is positive
    assert all(c[np.abs(c).argmax()] > 0 for c in basis.components)


def test_robust_stretch_and_basis_file(tmp_path) -> None:
    x, _, _ = planted(n=1000)
    basis = fit_pca(x)
    scores = basis.project(x)
    colours = basis.colours(x)
    assert colours.min() == 1 and colours.max() == 255
    for c in range(3):
        low, high = np.percentile(scores[:, c], [2, 98])
        assert np.mean(colours[:, c] == 1) == pytest.approx(np.mean(scores[:, c] <= low), abs=0.002)
        assert np.mean(colours[:, c] == 255) == pytest.approx(np.mean(scores[:, c] >= high), abs=0.002)
    again = PcaBasis.load(basis.save(tmp_path / "basis.json"))
    np.testing.assert_array_equal(again.colours(x), colours)
    with pytest.raises(PcaError, match="20 features"):
        again.colours(x[:, :5])
    with pytest.raises(PcaError, match="at least 3 tiles"):
        fit_pca(x[:2])


def test_pca_map_of_a_synthetic_world(knn_world, tmp_path, capsys) -> None:  # noqa: F811
    out, basis = tmp_path / "pca.tif", tmp_path / "basis.json"
    args = [str(knn_world["raster"]), "--model", str(knn_world["knn"]), "--device", "cpu", "--stride-m", "8"]
    assert main(["pca", *args, "-o", str(out), "--basis-out", str(basis)]) == 0
    with rasterio.open(out) as ds:
        assert ds.count == 3 and ds.dtypes == ("uint8",) * 3 and ds.nodata == 0
        assert ds.colorinterp == (ColorInterp.red, ColorInterp.green, ColorInterp.blue)
        rgb = ds.read()
        assert json.loads(ds.tags()["xview_explained_variance"])[0] > 0
    assert rgb.min() >= 1 and len(np.unique(rgb.reshape(3, -1), axis=1).T) > 50  # every tile ran, many colours
    assert main(["pca", *args, "-o", str(tmp_path / "again.tif"), "--basis-in", str(basis)]) == 0
    with rasterio.open(tmp_path / "again.tif") as ds:
        np.testing.assert_array_equal(ds.read(), rgb)
    capsys.readouterr()
    assert main(["pca", *args, "-o", str(out)]) == 2
    assert "already exists" in capsys.readouterr().err
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({**json.loads(basis.read_text()), "mean": [0.0] * 4}))
    assert main(["pca", *args, "-o", str(tmp_path / "bad.tif"), "--basis-in", str(bad)]) == 2
    assert "features" in capsys.readouterr().err and not (tmp_path / "bad.tif").exists()


def test_pca_of_a_distillation_model(world, tmp_path) -> None:  # noqa: F811
    """Any model's outputs are features: a distillation model's heads side by side."""
    out = tmp_path / "pca.tif"
    assert main(["pca", str(world["raster"]), "--model", str(world["model"]), "--device", "cpu", "-o", str(out)]) == 0
    with rasterio.open(out) as ds:
        assert ds.count == 3 and ds.read().min() >= 1
