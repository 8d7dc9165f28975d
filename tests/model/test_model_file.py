"""Model files: round trip, strict loading and a precise message for each way a file can be wrong."""

from __future__ import annotations

import json
import pickle
import struct

import pytest
import torch

from xview_engine.errors import ManifestError, ModelFileError
from xview_engine.model.backbones import BACKBONES, load_backbone_weights
from xview_engine.model.crossview import build_model
from xview_engine.model.file import MANIFEST_KEY, load_model, read_manifest, save_model
from xview_engine.model.manifest import BackboneSpec, HeadSpec, InputSpec, Manifest, default_manifest


def tiny_manifest(**changes) -> Manifest:
    fields = dict(
        kind="distill",
        backbone=BackboneSpec("tiny_cnn", {"width": 4, "depth": 2}),
        input=InputSpec(tile_px=16, gsd_m=2.0),
        heads=(
            HeadSpec("scene", "dirichlet", ("beach", "parking_lot", "forest_path"), "places365"),
            HeadSpec("count", "poisson", ("car", "boat"), "coco"),
        ),
        hidden=8,
        training={"note": "test"},
    )
    fields.update(changes)
    return Manifest(**fields)


@pytest.fixture
def model_file(tmp_path):
    manifest = tiny_manifest()
    path = tmp_path / "tiny.safetensors"
    save_model(build_model(manifest, seed=1), manifest, path)
    return path


def _rewrite_header(path, edit) -> None:
    raw = path.read_bytes()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8 : 8 + n])
    edit(header)
    new = json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(new)) + new + raw[8 + n :])


def test_round_trip_gives_identical_outputs(model_file) -> None:
    original = build_model(tiny_manifest(), seed=1).eval()
    loaded = load_model(model_file)
    x = torch.rand(3, 3, 16, 16)
    for name, value in original(x).items():
        torch.testing.assert_close(loaded.model(x)[name], value)
    assert loaded.manifest == tiny_manifest()
    assert not loaded.model.training


def test_outputs_are_positive_parameters(model_file) -> None:
    out = load_model(model_file).model(torch.randn(2, 3, 16, 16))
    assert out["scene"].shape == (2, 3) and out["count"].shape == (2, 2)
    assert all((v > 0).all() for v in out.values())


def test_saving_twice_gives_identical_bytes(tmp_path) -> None:
    model = build_model(tiny_manifest(), seed=2)
    first, second = tmp_path / "a.safetensors", tmp_path / "b.safetensors"
    save_model(model, tiny_manifest(), first)
    save_model(model, tiny_manifest(), second)
    assert first.read_bytes() == second.read_bytes()


def test_same_seed_same_weights() -> None:
    a, b = build_model(tiny_manifest(), seed=5), build_model(tiny_manifest(), seed=5)
    c = build_model(tiny_manifest(), seed=6)
    assert all(torch.equal(a.state_dict()[k], b.state_dict()[k]) for k in a.state_dict())
    assert not torch.equal(a.heads["scene"].fc1.weight, c.heads["scene"].fc1.weight)


def test_missing_file(tmp_path) -> None:
    with pytest.raises(ModelFileError, match="does not exist"):
        load_model(tmp_path / "nope.safetensors")


def test_pickle_renamed_is_refused_without_unpickling(tmp_path) -> None:
    marker = tmp_path / "was_unpickled"

    class Bomb:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    path = tmp_path / "evil.safetensors"
    path.write_bytes(pickle.dumps(Bomb(), protocol=4))
    with pytest.raises(ModelFileError, match="pickled PyTorch checkpoint.*never unpickles"):
        load_model(path)
    torch.save({"w": torch.zeros(2)}, tmp_path / "zip.safetensors")
    with pytest.raises(ModelFileError, match="pickled PyTorch checkpoint"):
        read_manifest(tmp_path / "zip.safetensors")
    assert not marker.exists()


def test_truncated_file(model_file) -> None:
    raw = model_file.read_bytes()
    model_file.write_bytes(raw[: len(raw) - 100])
    with pytest.raises(ModelFileError, match="truncated"):
        load_model(model_file)
    model_file.write_bytes(raw[:5])
    with pytest.raises(ModelFileError, match="empty or truncated"):
        load_model(model_file)


def test_garbage_is_not_safetensors(tmp_path) -> None:
    path = tmp_path / "junk.safetensors"
    path.write_bytes(struct.pack("<Q", 10) + b"not json!!" + b"\0" * 20)
    with pytest.raises(ModelFileError, match="header is not valid JSON"):
        load_model(path)


def test_bad_manifest_json(model_file) -> None:
    _rewrite_header(model_file, lambda h: h["__metadata__"].update({MANIFEST_KEY: "{broken"}))
    with pytest.raises(ManifestError, match="not valid JSON"):
        load_model(model_file)


def test_missing_manifest(model_file) -> None:
    _rewrite_header(model_file, lambda h: h["__metadata__"].pop(MANIFEST_KEY))
    with pytest.raises(ModelFileError, match="no xview manifest"):
        read_manifest(model_file)


def test_unknown_format_version(model_file) -> None:
    def bump(header):
        data = json.loads(header["__metadata__"][MANIFEST_KEY])
        data["format_version"] = 99
        header["__metadata__"][MANIFEST_KEY] = json.dumps(data)

    _rewrite_header(model_file, bump)
    with pytest.raises(ManifestError, match="format version 99 is not supported"):
        load_model(model_file)


def _save_with_state(tmp_path, state) -> object:
    from safetensors.torch import save_file

    path = tmp_path / "edited.safetensors"
    save_file(state, str(path), metadata={MANIFEST_KEY: tiny_manifest().to_json()})
    return path


def test_missing_extra_and_misshaped_tensors_are_named(tmp_path) -> None:
    state = {k: v.clone() for k, v in build_model(tiny_manifest()).state_dict().items()}
    missing = {k: v for k, v in state.items() if k != "heads.scene.fc2.bias"}
    with pytest.raises(ModelFileError, match=r"missing tensors: heads\.scene\.fc2\.bias"):
        load_model(_save_with_state(tmp_path, missing))
    extra = {**state, "heads.extra.weight": torch.zeros(1)}
    with pytest.raises(ModelFileError, match=r"unexpected tensors: heads\.extra\.weight"):
        load_model(_save_with_state(tmp_path, extra))
    shaped = {**state, "heads.count.fc2.weight": torch.zeros(3, 8)}
    with pytest.raises(ModelFileError, match=r"wrong shapes: heads\.count\.fc2\.weight is \(3, 8\), expected \(2, 8\)"):
        load_model(_save_with_state(tmp_path, shaped))


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"kind": "magic"}, "kind 'magic' is unknown"),
        ({"backbone": BackboneSpec("vgg99")}, "unknown backbone 'vgg99'"),
        ({"input": InputSpec(tile_px=4, gsd_m=1.0)}, "tile_px must be an integer from 8 to 4096"),
        ({"input": InputSpec(tile_px=16, gsd_m=-1.0)}, "gsd_m must be a positive number"),
        ({"input": InputSpec(16, 1.0, bands=("red",), mean=(0.5, 0.5), std=(0.5,))}, "same length, from 1 to"),
        ({"heads": (HeadSpec("s", "lognormal", ("a", "b")),)}, "unknown distribution 'lognormal'"),
        ({"heads": (HeadSpec("s", "dirichlet", ("a",)),)}, "needs >= 2 labels"),
        ({"heads": ()}, "no heads"),
    ],
)
def test_invalid_manifests_name_the_field(tmp_path, changes, message) -> None:
    with pytest.raises(ManifestError, match=message):
        build_model(tiny_manifest(**changes))


def test_manifest_missing_field_is_named() -> None:
    data = tiny_manifest().to_dict()
    del data["input"]["gsd_m"]
    with pytest.raises(ManifestError, match="missing the field 'input.gsd_m'"):
        Manifest.from_dict(data)


def test_head_lookup_errors_list_names() -> None:
    manifest = tiny_manifest()
    assert manifest.head("count").class_index("boat") == 1
    with pytest.raises(ManifestError, match="heads: scene, count"):
        manifest.head("places")
    with pytest.raises(ManifestError, match="no class 'parking'.*parking_lot"):
        manifest.head("scene").class_index("parking")


def test_default_manifest_is_the_design_card() -> None:
    manifest = default_manifest()
    assert manifest.backbone.name == "resnet50" and manifest.input.tile_px == 224
    assert [(h.name, h.distribution, h.num_classes) for h in manifest.heads] == [
        ("places365", "dirichlet", 365),
        ("imagenet", "dirichlet", 1000),
        ("coco", "poisson", 91),
    ]
    assert manifest.hidden == 1024


@pytest.mark.parametrize("name", sorted(BACKBONES))
def test_every_backbone_runs_forward_with_any_band_count(name: str) -> None:
    for bands in (("red", "green", "blue"), ("red", "green", "blue", "nir")):
        n = len(bands)
        manifest = tiny_manifest(backbone=BackboneSpec(name), input=InputSpec(32, 1.0, bands, (0.5,) * n, (0.5,) * n))
        model = build_model(manifest).eval()
        with torch.inference_mode():
            out = model(torch.rand(2, n, 32, 32))
        assert out["scene"].shape == (2, 3) and torch.isfinite(out["scene"]).all()


def test_backbone_weights_from_a_torchvision_pth(tmp_path) -> None:
    import torchvision

    reference = torchvision.models.resnet18(weights=None)
    path = tmp_path / "resnet18.pth"
    torch.save(reference.state_dict(), path)
    model = build_model(tiny_manifest(backbone=BackboneSpec("resnet18")))
    load_backbone_weights(model.backbone, path)
    torch.testing.assert_close(model.backbone.conv1.weight, reference.conv1.weight)
    wrong = tmp_path / "resnet34.pth"
    torch.save(torchvision.models.resnet34(weights=None).state_dict(), wrong)
    with pytest.raises(ModelFileError, match="unexpected tensors: layer1.2"):
        load_backbone_weights(model.backbone, wrong)


def test_backbone_weights_by_published_name(tmp_path, monkeypatch) -> None:
    import io

    import torchvision
    from weights_fixtures import closed_port_url, registered

    from xview_engine.errors import WeightsError
    from xview_engine.weights import cached_path

    reference = torchvision.models.resnet18(weights=None)
    buffer = io.BytesIO()
    torch.save(reference.state_dict(), buffer)
    entry = registered(monkeypatch, "imagenet:resnet18", buffer.getvalue(), url=closed_port_url())
    model = build_model(tiny_manifest(backbone=BackboneSpec("resnet18")))
    with pytest.raises(WeightsError, match=rf"XVIEW_OFFLINE is set.*place it at {cached_path(entry)}"):
        load_backbone_weights(model.backbone, "imagenet:resnet18")
    cached_path(entry).parent.mkdir(parents=True, exist_ok=True)
    cached_path(entry).write_bytes(buffer.getvalue())
    load_backbone_weights(model.backbone, "imagenet:resnet18")
    torch.testing.assert_close(model.backbone.layer4[1].conv2.weight, reference.layer4[1].conv2.weight)
