"""Model files: one ``.safetensors`` file holding the tensors and the JSON manifest in its metadata.

Nothing is ever unpickled. The header is checked by hand before safetensors touches the data so that
each way a file can be wrong (a pickle renamed to .safetensors, a truncated download, bad JSON, an
unknown format version, tensors that do not fit the manifest) gets its own precise message.
Loading is strict: a model with a missing or extra tensor is refused, never run half-random.
"""

from __future__ import annotations

import json
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from xview_engine.errors import ModelFileError
from xview_engine.model.manifest import Manifest
from xview_engine.outputs import atomic_output

if TYPE_CHECKING:  # torch and the networks are imported where a network is built: reading a manifest needs neither
    import torch
    from torch import nn

MANIFEST_KEY = "xview_manifest"
_MAX_HEADER_BYTES = 100 * 1024 * 1024
_PICKLE_MAGICS = (b"\x80", b"PK\x03\x04")  # pickle protocol >= 2; torch.save's zip container


@dataclass
class LoadedModel:
    """A model ready for inference (eval mode) with the manifest that configures its inputs."""

    model: nn.Module  # a CrossViewModel, or a TwinModel for kind 'twin'
    manifest: Manifest
    path: Path


def build_network(manifest: Manifest) -> nn.Module:
    """The untrained network a manifest describes (its kind picks the architecture)."""
    from xview_engine.model.crossview import CrossViewModel
    from xview_engine.model.siamese import SiameseModel

    if manifest.kind == "siamese":
        return SiameseModel(manifest)
    if manifest.kind == "knn":
        return feature_network(manifest)
    if manifest.kind == "twin":
        from xview_engine.model.twin import TwinModel

        return TwinModel(manifest)
    return CrossViewModel(manifest)


def save_model(model: nn.Module, manifest: Manifest, path: str | Path) -> Path:
    """Write tensors + manifest atomically; returns the path."""
    from safetensors.torch import save_file

    manifest.validate()
    state = {k: v.detach().to("cpu").contiguous().clone() for k, v in model.state_dict().items()}
    path = Path(path)
    with atomic_output(path) as tmp:
        # one metadata key: safetensors writes several in a random order, and files should repeat
        save_file(state, str(tmp), metadata={MANIFEST_KEY: manifest.to_json()})
    return path


def read_header(path: str | Path) -> tuple[dict[str, Any], int]:
    """The safetensors JSON header and the byte size of the data section, after sanity checks."""
    path = Path(path)
    if not path.exists():
        raise ModelFileError(f"model file {path} does not exist")
    if not path.is_file():
        raise ModelFileError(f"model file {path} is not a file")
    size = path.stat().st_size
    with path.open("rb") as f:
        head = f.read(8)
        if head.startswith(_PICKLE_MAGICS):
            raise ModelFileError(
                f"{path} is a pickled PyTorch checkpoint, not a safetensors model file; xview never "
                "unpickles model files (convert the weights to an xview .safetensors model)"
            )
        if len(head) < 8:
            raise ModelFileError(f"model file {path} is empty or truncated ({size} bytes)")
        (header_len,) = struct.unpack("<Q", head)
        if header_len > min(size - 8, _MAX_HEADER_BYTES):
            raise ModelFileError(f"{path} is not a safetensors file or is truncated (header length {header_len})")
        try:
            header = json.loads(f.read(header_len))
        except (UnicodeDecodeError, json.JSONDecodeError):
            raise ModelFileError(f"{path} is not a safetensors file (its header is not JSON)") from None
    if not isinstance(header, dict):
        raise ModelFileError(f"{path} is not a safetensors file (its header is not a JSON object)")
    data_size = size - 8 - header_len
    ends = [info.get("data_offsets", [0, 0])[1] for k, info in header.items() if k != "__metadata__"]
    if ends and max(ends) > data_size:
        raise ModelFileError(
            f"model file {path} is truncated: its tensors need {max(ends)} bytes but only {data_size} are "
            "there (re-download or re-export it)"
        )
    return header, data_size


def read_manifest(path: str | Path) -> Manifest:
    """The manifest of a model file, without loading any tensor (cheap: for UI and `xview info`)."""
    header, _ = read_header(path)
    metadata = header.get("__metadata__") or {}
    if MANIFEST_KEY not in metadata:
        raise ModelFileError(f"{path} is a safetensors file but has no xview manifest (metadata '{MANIFEST_KEY}')")
    try:
        return Manifest.from_json(metadata[MANIFEST_KEY])
    except ModelFileError as exc:
        raise type(exc)(f"{path}: {exc}") from None


def feature_network(manifest: Manifest) -> torch.nn.Module:
    """A knn model's network: a published classifier kept as features (``model/feature_net.py``)."""
    from xview_engine.model.feature_net import FeatureNetwork

    return FeatureNetwork(manifest)


def load_model(path: str | Path, device: str | torch.device = "cpu") -> LoadedModel:
    """Load a model file strictly onto ``device`` and put it in eval mode."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    from xview_engine.model.backbones import describe_state_mismatch

    path = Path(path)
    manifest = read_manifest(path)
    try:
        tensors = load_file(str(path), device="cpu")
    except SafetensorError as exc:
        raise ModelFileError(f"{path}: the tensor data cannot be read ({exc})") from None
    model = build_network(manifest)
    problems = describe_state_mismatch(model.state_dict(), tensors)
    if problems:
        raise ModelFileError(f"{path}: tensors do not match the manifest: {problems}")
    model.load_state_dict(tensors, strict=True)
    model.to(device).eval()
    return LoadedModel(model=model, manifest=manifest, path=path)
