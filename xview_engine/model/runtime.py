"""Model runtimes: a model file turned into a function batch -> head parameters, on a chosen device.

``torch``: the safetensors model on CPU (channels_last memory, inference_mode) or CUDA (pinned host
memory, non-blocking copies, float16 autocast). ``onnx``: the exported ONNX graph in onnxruntime
(an .onnx file, or a safetensors file exported on the fly to a temporary file). The device is never
chosen silently: the description says what really runs.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from xview_engine.errors import DependencyError, DeviceError
from xview_engine.model.manifest import Manifest

RUNTIMES = ("torch", "onnx")


@dataclass
class ModelRuntime:
    """A ready-to-call model: ``run(tiles (B, C, H, W) float32) -> {head: (B, K) float32}``."""

    manifest: Manifest
    run: Callable[[np.ndarray], dict[str, np.ndarray]]
    runtime: str
    description: str


def read_model_manifest(path: str | Path) -> Manifest:
    """The manifest of a .safetensors or exported .onnx model file, without loading weights."""
    if Path(path).suffix.lower() == ".onnx":
        from xview_engine.model.onnx_export import read_onnx_manifest

        return read_onnx_manifest(path)
    from xview_engine.model.file import read_manifest

    return read_manifest(path)


def load_runtime(model_path: str | Path, runtime: str = "torch", device: str = "auto") -> ModelRuntime:
    """Load ``model_path`` for ``runtime`` ('torch' or 'onnx') on ``device`` ('auto', 'cpu', 'cuda')."""
    if runtime == "torch":
        return _torch_runtime(Path(model_path), device)
    if runtime == "onnx":
        return _onnx_runtime(Path(model_path), device)
    raise DeviceError(f"unknown runtime '{runtime}' (choose from {', '.join(RUNTIMES)})")


def check_device(runtime: str, device: str) -> None:
    """Fail fast, before any work, when the runtime or device asked for is not there."""
    if runtime == "torch":
        from xview_engine.model.device import resolve_device

        resolve_device(device)
    elif runtime == "onnx":
        try:
            import onnxruntime as ort
        except ImportError:
            raise DependencyError("onnxruntime is not installed; install it with: pip install onnxruntime") from None
        _onnx_providers(ort, device)
    else:
        raise DeviceError(f"unknown runtime '{runtime}' (choose from {', '.join(RUNTIMES)})")


def _torch_runtime(path: Path, device_name: str) -> ModelRuntime:
    import torch

    from xview_engine.model.device import autocast_context, describe_device, resolve_device
    from xview_engine.model.file import load_model

    if path.suffix.lower() == ".onnx":
        raise DeviceError(f"{path} is an ONNX model; run it with --runtime onnx")
    device = resolve_device(device_name)
    loaded = load_model(path, device=device)
    model = loaded.model.to(memory_format=torch.channels_last)

    def run(tiles: np.ndarray) -> dict[str, np.ndarray]:
        x = torch.from_numpy(tiles)
        if device.type == "cuda":
            x = x.pin_memory().to(device, non_blocking=True)
        x = x.contiguous(memory_format=torch.channels_last)
        with torch.inference_mode(), autocast_context(device):
            out = model(x)
        return {name: value.float().cpu().numpy() for name, value in out.items()}

    return ModelRuntime(loaded.manifest, run, "torch", f"torch {torch.__version__} on {describe_device(device)}")


def _onnx_runtime(path: Path, device_name: str) -> ModelRuntime:
    try:
        import onnxruntime as ort
    except ImportError:
        raise DependencyError("onnxruntime is not installed; install it with: pip install onnxruntime") from None
    from xview_engine.model.onnx_export import INPUT_NAME, export_onnx, read_onnx_manifest

    providers = _onnx_providers(ort, device_name)
    if path.suffix.lower() == ".onnx":
        manifest = read_onnx_manifest(path)
        session = ort.InferenceSession(str(path), providers=providers)
    else:
        with tempfile.TemporaryDirectory(prefix="xview-onnx-") as tmp:
            onnx_path = export_onnx(path, Path(tmp) / "model.onnx")
            manifest = read_onnx_manifest(onnx_path)
            session = ort.InferenceSession(str(onnx_path), providers=providers)
    names = [o.name for o in session.get_outputs()]

    def run(tiles: np.ndarray) -> dict[str, np.ndarray]:
        outputs = session.run(names, {INPUT_NAME: np.ascontiguousarray(tiles, np.float32)})
        return {name: np.asarray(value, np.float32) for name, value in zip(names, outputs)}

    used = session.get_providers()[0]
    return ModelRuntime(manifest, run, "onnx", f"onnxruntime {ort.__version__} with {used}")


def _onnx_providers(ort: object, device_name: str) -> list[str]:
    available = ort.get_available_providers()  # type: ignore[attr-defined]
    name = (device_name or "auto").lower()
    has_cuda = "CUDAExecutionProvider" in available
    if name.startswith("cuda") and not has_cuda:
        raise DeviceError(
            "--device cuda was asked for but this onnxruntime has no CUDA provider "
            f"(available: {', '.join(available)}); use --device cpu or install onnxruntime-gpu"
        )
    if name not in ("auto", "cpu") and not name.startswith("cuda"):
        raise DeviceError(f"unknown device '{device_name}' (choose from auto, cpu, cuda)")
    if has_cuda and name != "cpu":
        return ["CUDAExecutionProvider", "CPUExecutionProvider"]
    return ["CPUExecutionProvider"]
