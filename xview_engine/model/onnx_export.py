"""Export a model file to ONNX, for onnxruntime inference (`--runtime onnx`) and other tools.

The graph takes ``tiles`` (B, C, H, W) float32, normalised as the manifest says, with a dynamic
batch axis, and has one output per entry of the model's output dict, under the entry's name and in
its order: a head per head for distillation models, ``embedding`` for a Siamese model (its aerial
branch, what mapping and indexing run; photos go through the safetensors file's ground branch),
the overhead map for a twin model. A model's outputs, not its kind, decide the graph's outputs.
A time-aware model (manifest ``time_features``) takes a second input ``times`` (S, F), its own
dynamic axis, and each output is (B, S, K): every tile at every time, the encoder run once
(``CrossViewModel.forward_times``). The manifest rides along in ``metadata_props`` (key
``xview_manifest``), so the ONNX file configures xview just as the safetensors file does.

``cached_export`` keeps one export per model *content* (the SHA-256 of the file) in the ``onnx``
folder of the user's cache (``xview_engine.cache``: ``$XVIEW_HOME``, else ``$XDG_CACHE_HOME/xview``,
else ``~/.cache/xview``), so `--runtime auto` / `onnx` export a .safetensors model once, not on
every run (~2 s for ResNet-18).
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from xview_engine.cache import cache_home, file_sha256
from xview_engine.errors import DependencyError, ModelFileError
from xview_engine.model.file import MANIFEST_KEY, load_model
from xview_engine.model.manifest import Manifest
from xview_engine.outputs import atomic_output

INPUT_NAME = "tiles"
TIME_INPUT_NAME = "times"  # a time-aware model's second input: (S, F) cyclic time features
OPSET = 17
EXPORT_FORMAT = 2  # bump when the exported graph changes: older cached exports are then not reused
# 2: outputs named after the model's output dict (format 1 left head-less models with no output)


if TYPE_CHECKING:  # torch only where a model is exported: reading an exported file's manifest needs none
    import torch


def output_names(model: torch.nn.Module, example: tuple[torch.Tensor, ...]) -> tuple[str, ...]:
    """The names of what the model returns for a batch, in its order (a model without any is refused)."""
    import torch

    with torch.inference_mode():
        names = tuple(model(example[0]) if len(example) == 1 else model.forward_times(*example))
    if not names:
        raise ModelFileError(f"{type(model).__name__} returns no output to export")
    return names


def _ordered_outputs(model: torch.nn.Module, head_names: tuple[str, ...], timed: bool) -> torch.nn.Module:
    """ONNX wants a tuple of outputs; keep the model's output order (a time-aware model: every tile at every time)."""
    import torch

    class OrderedOutputs(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.model = model

        def forward(self, tiles: torch.Tensor, *times: torch.Tensor) -> tuple[torch.Tensor, ...]:
            out = self.model.forward_times(tiles, *times) if timed else self.model(tiles)
            return tuple(out[name] for name in head_names)

    return OrderedOutputs()


def export_onnx(model_path: str | Path, out_path: str | Path) -> Path:
    """Write the model at ``model_path`` as ONNX to ``out_path`` (atomically); returns the path."""
    import torch

    onnx = _require("onnx")
    loaded = load_model(model_path, device="cpu")
    manifest = loaded.manifest
    size = manifest.input.tile_px
    example: tuple[torch.Tensor, ...] = (torch.zeros(2, len(manifest.input.bands), size, size),)
    inputs, axes = [INPUT_NAME], {INPUT_NAME: {0: "batch"}}
    if manifest.takes_time:
        from xview_engine.model.time_features import feature_width

        example += (torch.zeros(3, feature_width(manifest.time_features)),)
        inputs.append(TIME_INPUT_NAME)
        axes[TIME_INPUT_NAME] = {0: "steps"}
    names = output_names(loaded.model.eval(), example)
    wrapper = _ordered_outputs(loaded.model, names, manifest.takes_time).eval()
    out_axes = {0: "batch", 1: "steps"} if manifest.takes_time else {0: "batch"}
    out_path = Path(out_path)
    with atomic_output(out_path) as tmp, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            wrapper,
            example,
            str(tmp),
            dynamo=False,
            input_names=inputs,
            output_names=list(names),
            dynamic_axes={**axes, **{n: out_axes for n in names}},
            opset_version=OPSET,
        )
        proto = onnx.load(str(tmp))
        entry = proto.metadata_props.add()
        entry.key, entry.value = MANIFEST_KEY, manifest.to_json()
        onnx.save(proto, str(tmp))
    return out_path


def onnx_cache_dir() -> Path:
    """Where cached exports live: the ``onnx`` folder of the user's cache (``xview_engine.cache.cache_home``)."""
    return cache_home() / "onnx"


def cached_export(model_path: str | Path, cache_dir: str | Path | None = None) -> tuple[Path, bool]:
    """The ONNX export of ``model_path`` from the cache, exported (atomically) first if missing.

    Returns ``(path, exported_now)``. Two processes exporting the same model at once both write a
    complete file under a temporary name and rename it: the last rename wins, and either is whole.
    """
    folder = Path(cache_dir) if cache_dir is not None else onnx_cache_dir()
    # keyed by content: a renamed or copied model file still hits, an edited one misses
    target = folder / f"{file_sha256(model_path)}-opset{OPSET}-v{EXPORT_FORMAT}.onnx"
    if target.is_file():
        return target, False
    folder.mkdir(parents=True, exist_ok=True)
    return export_onnx(model_path, target), True


def read_onnx_manifest(path: str | Path) -> Manifest:
    """The manifest stored in an exported ONNX file, read without parsing the graph (``onnx_metadata``)."""
    try:
        props = onnx_metadata(path)
    except (OSError, ValueError) as exc:
        raise ModelFileError(f"{path} is not a readable ONNX model ({exc})") from None
    if MANIFEST_KEY in props:
        return Manifest.from_json(props[MANIFEST_KEY])
    raise ModelFileError(f"{path} is an ONNX model without an xview manifest; export it with `xview export-onnx`")


def onnx_metadata(path: str | Path) -> dict[str, str]:
    """``metadata_props`` of an ONNX file, its top-level protobuf fields walked over a memory map.

    ``onnx.load`` parses the whole model, weights included, to reach them: for a ResNet-18 0.3 s
    and 150 MB of peak memory at every map's start, twice. The ModelProto's fields are read by
    their wire format only (varint keys and lengths; the graph, field 7, is skipped by its length),
    and field 14's ``StringStringEntryProto`` entries (key 1, value 2) decoded.
    """
    import mmap

    props: dict[str, str] = {}
    with open(path, "rb") as f:
        if f.seek(0, 2) == 0:
            raise ValueError("empty file")
        with mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as data:
            for field, value in _fields(data, 0, len(data)):
                if field != METADATA_PROPS_FIELD or not isinstance(value, tuple):
                    continue
                entry = {k: bytes(data[v[0]:v[1]]).decode("utf-8")
                         for k, v in _fields(data, *value) if k in (1, 2) and isinstance(v, tuple)}
                props[entry.get(1, "")] = entry.get(2, "")
    return props


METADATA_PROPS_FIELD = 14  # ModelProto.metadata_props (onnx.proto)


def _fields(data: Any, start: int, end: int) -> Iterator[tuple[int, Any]]:
    """(field number, value) of the protobuf message in ``data[start:end]``; length-delimited values as
    (start, end) offsets, varints as ints, fixed-size ones skipped (None)."""
    at = start
    while at < end:
        key, at = _varint(data, at)
        field, wire = key >> 3, key & 7
        if wire == 0:
            value, at = _varint(data, at)
        elif wire == 2:
            size, at = _varint(data, at)
            value, at = (at, at + size), at + size
        elif wire in (1, 5):
            value, at = None, at + (8 if wire == 1 else 4)
        else:
            raise ValueError(f"unexpected protobuf wire type {wire} at byte {at}")
        if at > end or field == 0:
            raise ValueError(f"truncated or damaged protobuf at byte {at}")
        yield field, value


def _varint(data: Any, at: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        if at >= len(data) or shift > 63:
            raise ValueError(f"truncated varint at byte {at}")
        byte = data[at]
        value |= (byte & 0x7F) << shift
        at += 1
        if byte < 0x80:
            return value, at
        shift += 7


def _require(module: str):
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError:
        raise DependencyError(f"{module} is not installed; install it with: pip install {module}") from None
