"""Runtime choice (auto: onnxruntime on the CPU, torch on CUDA), the ONNX export cache, the thread budget,
and ONNX outputs equal to torch's."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from xview_engine.errors import DeviceError
from xview_engine.model.crossview import build_model
from xview_engine.model.device import available_cores, is_light_model, stream_budget, thread_budget
from xview_engine.model.file import save_model
from xview_engine.model.manifest import default_manifest
from xview_engine.model.runtime import choose_runtime, load_runtime

pytest.importorskip("onnxruntime")


@pytest.fixture
def model(tmp_path):
    manifest = default_manifest("tiny_cnn", tile_px=32, width=4, depth=2)
    return save_model(build_model(manifest, seed=5), manifest, tmp_path / "m.safetensors")


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("XVIEW_HOME", str(tmp_path / "home"))
    return tmp_path / "home" / "onnx"


def test_auto_is_onnx_on_the_cpu_and_torch_on_cuda(model, tmp_path):
    assert choose_runtime("auto", "cpu", model) == "onnx"
    assert choose_runtime("auto", "cuda", model) == "torch"
    assert choose_runtime("auto", "auto", model) == ("torch" if torch.cuda.is_available() else "onnx")
    assert choose_runtime("auto", "cpu", tmp_path / "m.onnx") == "onnx"
    assert choose_runtime("torch", "cpu", model) == "torch"
    with pytest.raises(DeviceError, match="unknown runtime 'tf'"):
        choose_runtime("tf", "cpu", model)


def test_export_is_cached_by_content_and_not_redone(model, cache, tmp_path):
    first = load_runtime(model, "auto", "cpu")
    assert first.runtime == "onnx" and "export written to" in first.description
    (cached,) = cache.glob("*.onnx")
    stamp = cached.stat().st_mtime_ns
    copy = tmp_path / "copy.safetensors"
    copy.write_bytes(model.read_bytes())  # same content, another name: the same export
    second = load_runtime(copy, "onnx", "cpu")
    assert "export reused from" in second.description
    assert list(cache.glob("*.onnx")) == [cached] and cached.stat().st_mtime_ns == stamp
    other = default_manifest("tiny_cnn", tile_px=32, width=4, depth=2)
    save_model(build_model(other, seed=6), other, tmp_path / "n.safetensors")
    load_runtime(tmp_path / "n.safetensors", "auto", "cpu")
    assert len(list(cache.glob("*.onnx"))) == 2  # other weights, another export
    assert not list(cache.glob("*.part*"))  # written under a temporary name and renamed


def test_onnx_outputs_equal_torch(model, cache):
    x = np.random.default_rng(0).uniform(-2, 2, (7, 3, 32, 32)).astype(np.float32)
    ref = load_runtime(model, "torch", "cpu").run(x)
    out = load_runtime(model, "auto", "cpu").run(x)
    assert list(out) == list(ref)
    for name in ref:
        np.testing.assert_allclose(out[name], ref[name], rtol=1e-4, atol=1e-5)


def test_thread_budget_is_applied_and_said(model, cache):
    assert thread_budget(None, cores=1) == 1
    assert thread_budget(None, cores=2) == 2  # two cores: both to the model (the reader needs a few %)
    assert thread_budget(None, cores=8) == 7  # from three on, one core is left to the tile reader
    assert thread_budget(3, cores=2) == 3
    assert thread_budget(None, cores=2, light=True) == 1  # a light model: one thread per run, runs side by side
    assert thread_budget(None, cores=1, light=True) == 1 and thread_budget(None, cores=8, light=True) == 1
    # from three cores on the reader keeps one
    assert [stream_budget(None, cores=n, light=True) for n in (1, 2, 3, 8)] == [1, 2, 2, 7]
    assert stream_budget(None, cores=8) == 1 and stream_budget(2, cores=8, light=True) == 1  # --threads: one run
    with pytest.raises(DeviceError, match="--threads 0 must be at least 1"):
        thread_budget(0)
    before = torch.get_num_threads()
    try:
        runtime = load_runtime(model, "torch", "cpu", threads=1)
        assert torch.get_num_threads() == 1 and runtime.threads == 1
        assert runtime.description.startswith("runtime torch, 1 thread ")
        onnx = load_runtime(model, "onnx", "cpu", threads=2)
        assert onnx.threads == 2 and onnx.description.startswith("runtime onnx, 2 threads ")
    finally:
        torch.set_num_threads(before)


def test_light_models_run_batches_side_by_side(model, tmp_path):
    assert is_light_model(default_manifest("tiny_cnn", tile_px=32, width=4, depth=2))
    assert not is_light_model(default_manifest("resnet18"))
    cores = available_cores()
    streams = cores if cores < 3 else cores - 1
    for runtime in ("onnx", "torch"):
        loaded = load_runtime(model, runtime, "cpu")
        assert loaded.threads == 1 and loaded.streams == streams
        if streams > 1:
            assert f"runtime {runtime}, {streams} batches at once, 1 thread each" in loaded.description
        pinned = load_runtime(model, runtime, "cpu", threads=2)
        assert pinned.streams == 1 and pinned.threads == 2
