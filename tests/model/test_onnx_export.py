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
