"""Export a model file to ONNX, for onnxruntime inference (`--runtime onnx`) and other tools.

The graph takes ``tiles`` (B, C, H, W) float32, normalised as the manifest says, with a dynamic
batch axis, and has one output per head named after the head. The manifest rides along in
``metadata_props`` (key ``xview_manifest``), so the ONNX file configures xview just as the
safetensors file does.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import TYPE_CHECKING

from xview_engine.errors import DependencyError, ModelFileError
from xview_engine.model.file import MANIFEST_KEY, load_model
from xview_engine.model.manifest import Manifest
from xview_engine.outputs import atomic_output

INPUT_NAME = "tiles"
OPSET = 17


if TYPE_CHECKING:  # torch only where a model is exported: reading an exported file's manifest needs none
    import torch


def _ordered_outputs(model: torch.nn.Module, head_names: tuple[str, ...]) -> torch.nn.Module:
    """ONNX wants a tuple of outputs; keep the manifest's head order."""
    import torch

    class OrderedOutputs(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.model = model

        def forward(self, tiles: torch.Tensor) -> tuple[torch.Tensor, ...]:
            out = self.model(tiles)
            return tuple(out[name] for name in head_names)

    return OrderedOutputs()


def export_onnx(model_path: str | Path, out_path: str | Path) -> Path:
    """Write the model at ``model_path`` as ONNX to ``out_path`` (atomically); returns the path."""
    import torch

    onnx = _require("onnx")
    loaded = load_model(model_path, device="cpu")
    manifest = loaded.manifest
    wrapper = _ordered_outputs(loaded.model, manifest.head_names).eval()
    size = manifest.input.tile_px
    example = torch.zeros(2, len(manifest.input.bands), size, size)
    out_path = Path(out_path)
    with atomic_output(out_path) as tmp, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            wrapper,
            (example,),
            str(tmp),
            dynamo=False,
            input_names=[INPUT_NAME],
            output_names=list(manifest.head_names),
            dynamic_axes={INPUT_NAME: {0: "batch"}, **{n: {0: "batch"} for n in manifest.head_names}},
            opset_version=OPSET,
        )
        proto = onnx.load(str(tmp))
        entry = proto.metadata_props.add()
        entry.key, entry.value = MANIFEST_KEY, manifest.to_json()
        onnx.save(proto, str(tmp))
    return out_path


def read_onnx_manifest(path: str | Path) -> Manifest:
    """The manifest stored in an exported ONNX file."""
    onnx = _require("onnx")
    try:
        proto = onnx.load(str(path), load_external_data=False)
    except Exception as exc:
        raise ModelFileError(f"{path} is not a readable ONNX model ({exc})") from None
    for entry in proto.metadata_props:
        if entry.key == MANIFEST_KEY:
            return Manifest.from_json(entry.value)
    raise ModelFileError(f"{path} is an ONNX model without an xview manifest; export it with `xview export-onnx`")


def _require(module: str):
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError:
        raise DependencyError(f"{module} is not installed; install it with: pip install {module}") from None
