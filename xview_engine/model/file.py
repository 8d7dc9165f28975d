"""Model files: one ``.safetensors`` file holding the tensors and the JSON manifest in its metadata.

Nothing is ever unpickled. The header is checked by hand (``model.header``) before safetensors
touches the data so that each way a file can be wrong (a pickle renamed to .safetensors, a truncated
download, bad JSON, an unknown format version) gets its own precise message; then the manifest's
network is laid out on the ``meta`` device and its tensor shapes compared with the header's, so a
manifest that disagrees with its tensors is refused before any real module or tensor exists.
Loading is strict: a model with a missing or extra tensor is refused, never run half-random.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from xview_engine.errors import ModelFileError
from xview_engine.model.header import Header, read_header
from xview_engine.model.manifest import Manifest
from xview_engine.outputs import atomic_output

if TYPE_CHECKING:  # torch and the networks are imported where a network is built: reading a manifest needs neither
    import torch
    from torch import nn

MANIFEST_KEY = "xview_manifest"


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


def read_manifest(path: str | Path) -> Manifest:
    """The manifest of a model file, checked against its tensors' shapes without loading any tensor.

    Cheap (the header only, and the network laid out on the ``meta`` device, which allocates
    nothing), so the UI, `xview info` and every command call it before any work.
    """
    return _checked_manifest(Path(path), read_header(path))


def _checked_manifest(path: Path, header: Header) -> Manifest:
    if MANIFEST_KEY not in header.metadata:
        raise ModelFileError(f"{path} is a safetensors file but has no xview manifest (metadata '{MANIFEST_KEY}')")
    from xview_engine.model.shape_memo import already_checked, memo_key, record_checked

    try:
        manifest = Manifest.from_json(header.metadata[MANIFEST_KEY])
    except ModelFileError as exc:
        raise type(exc)(f"{path}: {exc}") from None
    key = memo_key(header, header.metadata[MANIFEST_KEY])
    if already_checked(key):
        return manifest
    import torch

    from xview_engine.model.backbones import describe_state_mismatch

    try:
        with torch.device("meta"):
            expected = build_network(manifest).state_dict()
    except ModelFileError as exc:
        raise type(exc)(f"{path}: {exc}") from None
    problems = describe_state_mismatch(expected, {name: entry.shape for name, entry in header.tensors.items()})
    if problems:
        raise ModelFileError(f"{path}: tensors do not match the manifest ({manifest_sizes(manifest)}): {problems}")
    record_checked(key)
    return manifest


def manifest_sizes(manifest: Manifest) -> str:
    """The sizes a manifest sets, in a few words, so a shape mismatch says which one is off."""
    options = ", ".join(f"{k}={v}" for k, v in manifest.backbone.options.items() if isinstance(v, int))
    heads = ", ".join(f"{h.name} {h.num_classes} labels" for h in manifest.heads)
    return "; ".join(part for part in (
        f"{manifest.kind} model, backbone {manifest.backbone.name}" + (f" {options}" if options else ""),
        f"{len(manifest.input.bands)} bands", f"hidden {manifest.hidden}", heads) if part)


def feature_network(manifest: Manifest) -> torch.nn.Module:
    """A knn model's network: a published classifier kept as features (``model/feature_net.py``)."""
    from xview_engine.model.feature_net import FeatureNetwork

    return FeatureNetwork(manifest)


def load_model(path: str | Path, device: str | torch.device = "cpu") -> LoadedModel:
    """Load a model file strictly onto ``device`` and put it in eval mode."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file


    path = Path(path)
    manifest = read_manifest(path)  # shapes checked: the network built below is no larger than the file
    try:
        tensors = load_file(str(path), device="cpu")
    except SafetensorError as exc:
        raise ModelFileError(f"{path}: the tensor data cannot be read ({exc})") from None
    model = build_network(manifest)
    model.load_state_dict(tensors, strict=True)
    model.to(device).eval()
    return LoadedModel(model=model, manifest=manifest, path=path)
