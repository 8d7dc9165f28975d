"""Polar transform against a per-pixel loop, and the twin network's shapes, wrap-around and file round trip."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from xview_engine.errors import ManifestError, ModelFileError
from xview_engine.model.file import load_model, read_manifest, save_model
from xview_engine.model.polar import polar_transform
from xview_engine.model.twin import CHANNELS, OVERHEAD, build_twin, feature_shape, ground_width_px, twin_manifest


def _bilinear_held(image: np.ndarray, row: float, col: float) -> np.ndarray:
    """One bilinear sample at continuous (row, col), coordinates clamped to the image (edges held)."""
    s = image.shape[-1]
    row, col = min(max(row, 0.0), s - 1.0), min(max(col, 0.0), s - 1.0)
    r0, c0 = min(math.floor(row), s - 2), min(math.floor(col), s - 2)
    fr, fc = row - r0, col - c0
    return ((1 - fr) * (1 - fc) * image[:, r0, c0] + (1 - fr) * fc * image[:, r0, c0 + 1]
            + fr * (1 - fc) * image[:, r0 + 1, c0] + fr * fc * image[:, r0 + 1, c0 + 1])


def _polar_loop(image: np.ndarray, height: int, width: int) -> np.ndarray:
    s = image.shape[-1]
    out = np.zeros((image.shape[0], height, width))
    for i in range(height):
        for j in range(width):
            r = (s / 2) * (height - 1 - i) / height
            a = 2 * math.pi * j / width
            out[:, i, j] = _bilinear_held(image, s / 2 - r * math.cos(a), s / 2 + r * math.sin(a))
    return out


def test_polar_transform_matches_a_per_pixel_loop():
    rng = np.random.default_rng(3)
    tiles = rng.random((2, 3, 20, 20))
    got = polar_transform(torch.from_numpy(tiles), 8, 24).numpy()
    for b in range(2):
        np.testing.assert_allclose(got[b], _polar_loop(tiles[b], 8, 24), atol=1e-6)


def test_polar_columns_look_north_then_east():
    tile = torch.zeros(1, 1, 33, 33)
    tile[0, 0, :10, 16:18] = 1.0  # a bar north of the centre
    tile[0, 0, 16:18, 24:] = 2.0  # a bar east of it
    pano = polar_transform(tile, 16, 64)[0, 0]
    assert pano[2, 0] == pytest.approx(1.0)  # column 0: north
    assert pano[2, 16] == pytest.approx(2.0)  # column W/4: east (clockwise)
    assert pano[2, 32] == pytest.approx(0.0) and pano[2, 48] == pytest.approx(0.0)


def test_twin_shapes_follow_the_field_of_view():
    manifest = twin_manifest(tile_px=48, polar_h=32, polar_w=128)
    model = build_twin(manifest).eval()
    assert feature_shape(manifest) == (CHANNELS, 4, 32)
    assert ground_width_px(manifest, 90) == 32 and feature_shape(manifest, 90) == (CHANNELS, 4, 8)
    assert feature_shape(manifest, 70) == (CHANNELS, 4, math.ceil(25 / 4))
    with torch.no_grad():
        out = model(torch.rand(3, 3, 48, 48))[OVERHEAD]
        ground = model.ground(torch.rand(2, 3, 32, ground_width_px(manifest, 90)))
    assert out.shape == (3, CHANNELS * 4 * 32)
    assert ground.shape == (2, *feature_shape(manifest, 90))


def test_overhead_branch_wraps_around_north():
    """Rotating the panorama by whole feature columns rotates the map: circular padding, no seam."""
    manifest = twin_manifest(tile_px=48)
    model = build_twin(manifest).eval()
    pano = torch.rand(1, 3, 32, 128)
    with torch.no_grad():
        base = model.overhead_branch(pano)
        rolled = model.overhead_branch(torch.roll(pano, shifts=-8, dims=-1))
    torch.testing.assert_close(rolled, torch.roll(base, shifts=-2, dims=-1), atol=1e-5, rtol=1e-4)


def test_twin_model_file_round_trip_is_strict(tmp_path):
    manifest = twin_manifest(tile_px=48)
    model = build_twin(manifest, seed=1)
    path = save_model(model, manifest, tmp_path / "twin.safetensors")
    assert read_manifest(path).kind == "twin" and read_manifest(path).heads == ()
    loaded = load_model(path)
    x = torch.rand(2, 3, 48, 48)
    with torch.no_grad():
        torch.testing.assert_close(loaded.model(x)[OVERHEAD], model.eval()(x)[OVERHEAD])
    state = {k: v for k, v in model.state_dict().items() if not k.startswith("ground_branch.0")}
    from safetensors.torch import save_file

    save_file(state, str(tmp_path / "short.safetensors"), metadata={"xview_manifest": manifest.to_json()})
    with pytest.raises(ModelFileError, match="missing tensors"):
        load_model(tmp_path / "short.safetensors")


def test_twin_manifest_refuses_an_unknown_branch_and_a_bad_panorama():
    with pytest.raises(ManifestError, match="unknown twin branch"):
        twin_manifest(branch="resnet50")
    with pytest.raises(ManifestError, match="multiple"):
        build_twin(twin_manifest(polar_h=30))


def test_vgg16_branches_start_from_the_published_vgg16_by_name(monkeypatch):
    import io

    import torchvision
    from weights_fixtures import closed_port_url, registered

    from xview_engine.model.twin import VGG_LAYERS, load_vgg16_weights
    from xview_engine.weights import cached_path

    torch.manual_seed(6)
    features = torchvision.models.vgg16(weights=None).features  # conv5 and the classifier are not read
    buffer = io.BytesIO()
    torch.save({f"features.{k}": v for k, v in features.state_dict().items()}, buffer)
    entry = registered(monkeypatch, "imagenet:vgg16", buffer.getvalue(), url=closed_port_url())
    cached_path(entry).parent.mkdir(parents=True, exist_ok=True)
    cached_path(entry).write_bytes(buffer.getvalue())
    model = build_twin(twin_manifest("vgg16", tile_px=64), seed=0)
    load_vgg16_weights(model, "imagenet:vgg16")
    for branch in (model.overhead_branch, model.ground_branch):
        torch.testing.assert_close(branch[0][0].weight, features[0].weight)
        torch.testing.assert_close(branch[0][VGG_LAYERS - 2].weight, features[VGG_LAYERS - 2].weight)
