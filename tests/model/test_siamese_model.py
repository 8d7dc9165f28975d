"""The Siamese network: two branches, shared or domain-specific weights, unit embeddings, strict files."""

from __future__ import annotations

import pytest
import torch

from xview_engine.errors import ManifestError, ModelFileError
from xview_engine.model.file import load_model, read_manifest, save_model
from xview_engine.model.manifest import BackboneSpec, InputSpec, Manifest
from xview_engine.model.siamese import build_siamese, same_place_probability, siamese_manifest

TINY = BackboneSpec("tiny_cnn", {"width": 4, "depth": 2})


def manifest(shared: bool = True) -> Manifest:
    return siamese_manifest(TINY, tile_px=16, gsd_m=1.0, dim=8, shared=shared, photo_px=(16, 32))


@pytest.mark.parametrize("shared", [True, False])
def test_branches_give_unit_embeddings(shared):
    model = build_siamese(manifest(shared)).eval()
    tiles, photos = torch.rand(5, 3, 16, 16), torch.rand(5, 3, 16, 32)
    with torch.no_grad():
        a, g = model(tiles)["embedding"], model.ground(photos)
    assert a.shape == g.shape == (5, 8)
    torch.testing.assert_close(a.norm(dim=1), torch.ones(5))
    torch.testing.assert_close(g.norm(dim=1), torch.ones(5))


def test_shared_weights_are_one_branch_and_domain_specific_two():
    shared, separate = build_siamese(manifest(True)), build_siamese(manifest(False))
    n_shared = sum(p.numel() for p in shared.parameters())
    assert sum(p.numel() for p in separate.parameters()) == 2 * n_shared
    assert shared.ground_branch is shared.aerial_branch
    assert separate.ground_branch is not separate.aerial_branch
    x = torch.rand(2, 3, 16, 16)
    with torch.no_grad():  # shared: a photo the size of a tile embeds exactly as the tile does
        torch.testing.assert_close(shared.eval().ground(x), shared(x)["embedding"])


@pytest.mark.parametrize("shared", [True, False])
def test_model_file_round_trip_is_exact_and_strict(tmp_path, shared):
    model = build_siamese(manifest(shared), seed=3).eval()
    path = save_model(model, manifest(shared), tmp_path / "s.safetensors")
    assert read_manifest(path).kind == "siamese" and read_manifest(path).network["shared"] is shared
    loaded = load_model(path)
    x = torch.rand(3, 3, 16, 16)
    with torch.no_grad():
        torch.testing.assert_close(loaded.model(x)["embedding"], model(x)["embedding"])
    other = save_model(build_siamese(manifest(not shared)), manifest(not shared), tmp_path / "o.safetensors")
    from safetensors.torch import load_file, save_file

    from xview_engine.model.file import MANIFEST_KEY

    # tensors of the other layout under this manifest: refused, never run half-random
    save_file(load_file(str(other)), str(tmp_path / "bad.safetensors"),
              metadata={MANIFEST_KEY: manifest(shared).to_json()})
    with pytest.raises(ModelFileError, match="tensors do not match"):
        load_model(tmp_path / "bad.safetensors")


def test_manifest_entries_are_checked():
    with pytest.raises(ManifestError, match="the model has 4 bands"):
        rgbn = InputSpec(16, 1.0, ("red", "green", "blue", "nir"), (0.5,) * 4, (0.5,) * 4)
        build_siamese(Manifest("siamese", TINY, rgbn, (), 8, network={
            "shared": True, "photo_px": [16, 32], "photo_mean": [0.5] * 3, "photo_std": [0.5] * 3}))
    with pytest.raises(ManifestError, match="photo_px"):
        build_siamese(Manifest("siamese", TINY, InputSpec(16, 1.0), (), 8, network={"shared": True}))
    with pytest.raises(ManifestError, match="no heads"):
        Manifest("distill", TINY, InputSpec(16, 1.0), (), 8).validate()


def test_calibration_is_the_logistic_curve():
    p = same_place_probability([0.0, 1.0], {"intercept": 2.0, "slope": -4.0})
    assert p[0] == pytest.approx(1 / (1 + torch.exp(torch.tensor(-2.0)).item()))
    assert p[1] == pytest.approx(1 / (1 + torch.exp(torch.tensor(2.0)).item()))
