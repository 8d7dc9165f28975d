from __future__ import annotations

import numpy as np
import pytest
import torch

from xview_engine.errors import ModelFileError
from xview_engine.model.crossview import build_model
from xview_engine.model.file import load_model, save_model
from xview_engine.model.manifest import default_manifest
from xview_engine.model.onnx_export import INPUT_NAME, export_onnx, read_onnx_manifest


def test_onnx_matches_torch_with_dynamic_batch(tmp_path) -> None:
    import onnxruntime as ort

    manifest = default_manifest("tiny_cnn", tile_px=32, width=4, depth=2)
    model_path = tmp_path / "m.safetensors"
    save_model(build_model(manifest, seed=3), manifest, model_path)
    onnx_path = export_onnx(model_path, tmp_path / "m.onnx")
    assert read_onnx_manifest(onnx_path) == manifest
    session = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    assert [o.name for o in session.get_outputs()] == ["places365", "imagenet", "coco"]
    torch_model = load_model(model_path).model
    for batch in (1, 5):
        x = np.random.default_rng(batch).uniform(-1, 1, (batch, 3, 32, 32)).astype(np.float32)
        outs = session.run(None, {INPUT_NAME: x})
        with torch.inference_mode():
            ref = torch_model(torch.from_numpy(x))
        for name, value in zip(manifest.head_names, outs):
            np.testing.assert_allclose(value, ref[name].numpy(), rtol=1e-4, atol=1e-5)


def test_resnet_export_matches(tmp_path) -> None:
    import onnxruntime as ort

    manifest = default_manifest("resnet18", tile_px=64)
    model_path = tmp_path / "r.safetensors"
    save_model(build_model(manifest, seed=0), manifest, model_path)
    onnx_path = export_onnx(model_path, tmp_path / "r.onnx")
    x = np.random.default_rng(0).uniform(-1, 1, (2, 3, 64, 64)).astype(np.float32)
    outs = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"]).run(None, {INPUT_NAME: x})
    with torch.inference_mode():
        ref = load_model(model_path).model(torch.from_numpy(x))
    for name, value in zip(manifest.head_names, outs):
        np.testing.assert_allclose(value, ref[name].numpy(), rtol=1e-4, atol=1e-5)


def test_onnx_without_manifest_is_refused(tmp_path) -> None:
    path = tmp_path / "plain.onnx"
    with pytest.warns(DeprecationWarning):  # the legacy exporter xview uses on purpose
        torch.onnx.export(torch.nn.Linear(2, 2), (torch.zeros(1, 2),), str(path), dynamo=False)
    with pytest.raises(ModelFileError, match="without an xview manifest"):
        read_onnx_manifest(path)


@pytest.mark.parametrize("shared", [True, False])
def test_siamese_export_is_the_aerial_branch_with_torch_embeddings(tmp_path, shared) -> None:
    """A Siamese model exports its aerial branch (what `xview index` runs) as output ``embedding``."""
    import onnxruntime as ort

    from xview_engine.model.manifest import BackboneSpec
    from xview_engine.model.siamese import EMBEDDING, build_siamese, siamese_manifest

    manifest = siamese_manifest(BackboneSpec("tiny_cnn", {"width": 4, "depth": 2}), 24, 1.0, 8, shared, (16, 32))
    model_path = save_model(build_siamese(manifest, seed=5), manifest, tmp_path / "s.safetensors")
    onnx_path = export_onnx(model_path, tmp_path / "s.onnx")
    assert read_onnx_manifest(onnx_path) == manifest
    session = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    assert [o.name for o in session.get_outputs()] == [EMBEDDING]
    torch_model = load_model(model_path).model
    for batch in (1, 6):
        x = np.random.default_rng(batch).uniform(-1, 1, (batch, 3, 24, 24)).astype(np.float32)
        (onnx_embedding,) = session.run(None, {INPUT_NAME: x})
        with torch.inference_mode():
            ref = torch_model(torch.from_numpy(x))[EMBEDDING].numpy()
            other = torch_model.ground_branch(torch.from_numpy(x)).numpy()
        np.testing.assert_allclose(onnx_embedding, ref, rtol=1e-4, atol=1e-5)
        np.testing.assert_allclose(np.linalg.norm(onnx_embedding, axis=1), 1.0, rtol=1e-5)
        if not shared:  # the graph is the aerial branch, not the ground one
            assert np.abs(onnx_embedding - other).max() > 1e-3


def test_twin_export_gives_the_overhead_maps(tmp_path) -> None:
    import onnxruntime as ort

    from xview_engine.model.twin import OVERHEAD, build_twin, twin_manifest

    manifest = twin_manifest(tile_px=48, polar_h=16, polar_w=64)
    model_path = save_model(build_twin(manifest, seed=1), manifest, tmp_path / "t.safetensors")
    session = ort.InferenceSession(str(export_onnx(model_path, tmp_path / "t.onnx")),
                                   providers=["CPUExecutionProvider"])
    assert [o.name for o in session.get_outputs()] == [OVERHEAD]
    x = np.random.default_rng(0).uniform(-1, 1, (3, 3, 48, 48)).astype(np.float32)
    with torch.inference_mode():
        ref = load_model(model_path).model(torch.from_numpy(x))[OVERHEAD].numpy()
    np.testing.assert_allclose(session.run(None, {INPUT_NAME: x})[0], ref, rtol=1e-4, atol=1e-5)


def test_metadata_is_read_without_parsing_the_graph_as_onnx_reads_it(tmp_path) -> None:
    """``onnx_metadata`` walks the protobuf by hand: the same entries as ``onnx.load``; damage is one clear error."""
    import onnx

    from xview_engine.model.onnx_export import onnx_metadata

    manifest = default_manifest("tiny_cnn", tile_px=32, width=4, depth=2)
    path = export_onnx(save_model(build_model(manifest, seed=1), manifest, tmp_path / "m.safetensors"),
                       tmp_path / "m.onnx")
    proto = onnx.load(str(path))
    for key, value in (("standardization_mean", "[0.5, 0.5, 0.5]"), ("ünïcode", "värde")):
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, value
    onnx.save(proto, str(path))
    expected = {e.key: e.value for e in onnx.load(str(path)).metadata_props}
    assert onnx_metadata(path) == expected and len(expected) == 3
    assert read_onnx_manifest(path) == manifest
    data = path.read_bytes()
    for damaged in (data[: len(data) - 7], b"", b"\xff" * 40):
        (tmp_path / "bad.onnx").write_bytes(damaged)
        with pytest.raises(ModelFileError, match="not a readable ONNX model|without an xview manifest"):
            read_onnx_manifest(tmp_path / "bad.onnx")
