"""Backbone registry: a name -> a module mapping an image batch (B, C, H, W) to features (B, F).

One decorator registers a builder; tests parametrize over ``BACKBONES`` so every backbone gets a
forward test. Torchvision architectures are built without weights (never torchvision's own
download); weights start from a torchvision ``.pth`` state dict with ``load_backbone_weights``: a
local file, or a published one by name (``imagenet:resnet50``, ``places365:resnet18``), checked
and cached by ``xview_engine.weights``.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, Callable

import torch
from torch import nn

from xview_engine.errors import ManifestError, ModelFileError
from xview_engine.model.manifest import bounded_int

# name -> builder(in_channels, **options) -> (module, feature_dim)
BackboneBuilder = Callable[..., "tuple[nn.Module, int]"]
BACKBONES: dict[str, BackboneBuilder] = {}
# name -> {option: (lowest, highest)}: every option is an integer checked before the builder runs
BACKBONE_OPTIONS: dict[str, dict[str, tuple[int, int]]] = {}


def register_backbone(name: str, **option_bounds: tuple[int, int]) -> Callable[[BackboneBuilder], BackboneBuilder]:
    """Register ``builder(in_channels, **options)`` under ``name``; ``option_bounds`` bound its integer options."""
    def decorator(builder: BackboneBuilder) -> BackboneBuilder:
        BACKBONES[name] = builder
        BACKBONE_OPTIONS[name] = option_bounds
        return builder

    return decorator


def build_backbone(name: str, in_channels: int = 3, **options: Any) -> tuple[nn.Module, int]:
    """Build a registered backbone; returns the module and its feature width."""
    if name not in BACKBONES:
        raise ManifestError(f"unknown backbone {name!r} (known: {', '.join(sorted(BACKBONES))})")
    bounds = BACKBONE_OPTIONS[name]
    for key, value in options.items():
        if key not in bounds:
            accepted = ", ".join(sorted(bounds)) or "none"
            raise ManifestError(f"backbone '{name}' has no option {key!r} (its options: {accepted})")
        bounded_int(value, f"backbone.options.{key}", *bounds[key])
    return BACKBONES[name](in_channels, **options)


def _torchvision_resnet(arch: str, in_channels: int) -> tuple[nn.Module, int]:
    import torchvision

    net = getattr(torchvision.models, arch)(weights=None)
    if in_channels != 3:
        old = net.conv1
        net.conv1 = nn.Conv2d(in_channels, old.out_channels, old.kernel_size, old.stride, old.padding, bias=False)
    features = net.fc.in_features
    net.fc = nn.Identity()
    return net, features


for _arch in ("resnet18", "resnet34", "resnet50", "resnet101"):
    register_backbone(_arch)(lambda in_channels, _a=_arch: _torchvision_resnet(_a, in_channels))


@register_backbone("mobilenet_v3_small")
def _mobilenet_v3_small(in_channels: int) -> tuple[nn.Module, int]:
    import torchvision

    net = torchvision.models.mobilenet_v3_small(weights=None)
    if in_channels != 3:
        first = net.features[0][0]
        net.features[0][0] = nn.Conv2d(in_channels, first.out_channels, 3, 2, 1, bias=False)
    return nn.Sequential(net.features, net.avgpool, nn.Flatten(1)), 576


@register_backbone("tiny_cnn", width=(1, 1024), depth=(1, 8))
def _tiny_cnn(in_channels: int, width: int = 16, depth: int = 3) -> tuple[nn.Module, int]:
    """A small strided CNN for tests, the synthetic default model and CPU-only training."""
    layers: list[nn.Module] = []
    channels = in_channels
    for level in range(depth):
        out = width * 2**level
        layers += [nn.Conv2d(channels, out, 3, stride=2, padding=1), nn.BatchNorm2d(out), nn.ReLU(inplace=True)]
        channels = out
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(1)]
    return nn.Sequential(*layers), channels


@register_backbone("mean_colour")
def _mean_colour(in_channels: int) -> tuple[nn.Module, int]:
    """The mean of each band over the tile, no parameters: a colour-only baseline and a known-answer probe."""
    return nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(1)), in_channels


def load_backbone_weights(backbone: nn.Module, path: str | Path) -> None:
    """Load a torchvision-layout ``.pth`` state dict (a file, or a published one by name) into a backbone,
    strictly, without unpickling.

    Classifier weights (``fc.*``, ``classifier.*``) are dropped since the heads replace them; CSAIL
    ``{'state_dict': ...}`` checkpoints and ``module.`` prefixes are accepted. Any other missing,
    extra or mis-shaped tensor is an error: a silently random backbone is worse than none.
    """
    state = {k: v for k, v in read_state_dict(path).items() if not k.startswith(("fc.", "classifier."))}
    load_strictly(backbone, state, path)


def read_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """A ``.pth`` state dict read with ``weights_only`` (never unpickled), ``module.`` prefixes stripped.

    ``path`` may name a published file (``imagenet:vgg16``): its checked cached copy is read.
    """
    from xview_engine.weights import weight_file

    path = weight_file(path)
    if not path.is_file():
        raise ModelFileError(f"backbone weights file {path} does not exist")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # weights_only refuses arbitrary pickles: say so plainly
        raise ModelFileError(f"{path} is not a plain tensor state dict that can be loaded safely ({exc})") from None
    if isinstance(state, dict) and "state_dict" in state:
        state = state["state_dict"]
    if not isinstance(state, dict):
        raise ModelFileError(f"{path} does not hold a state dict")
    return {k.removeprefix("module."): v for k, v in state.items()}


def load_strictly(backbone: nn.Module, state: dict[str, torch.Tensor], path: str | Path) -> None:
    """Load ``state`` into ``backbone`` only when every tensor fits; else one error naming the misfits."""
    own = backbone.state_dict()
    problems = describe_state_mismatch(own, state)
    if problems:
        raise ModelFileError(f"backbone weights {path} do not fit the backbone: {problems}")
    backbone.load_state_dict(state, strict=True)


def describe_state_mismatch(expected: Mapping[str, Any], found: Mapping[str, Any]) -> str:
    """One line naming missing, unexpected and mis-shaped tensors ('' when they match).

    Values are tensors or plain shapes (a safetensors header's), so files are compared before loading.
    """
    missing = sorted(set(expected) - set(found))
    extra = sorted(set(found) - set(expected))
    shapes = [
        f"{k} is {_shape(found[k])}, expected {_shape(expected[k])}"
        for k in sorted(set(expected) & set(found))
        if _shape(found[k]) != _shape(expected[k])
    ]
    parts = []
    for title, items in (("missing tensors", missing), ("unexpected tensors", extra), ("wrong shapes", shapes)):
        if items:
            shown = ", ".join(items[:5]) + (f" and {len(items) - 5} more" if len(items) > 5 else "")
            parts.append(f"{title}: {shown}")
    return "; ".join(parts)


def _shape(value: Any) -> tuple[int, ...]:
    return tuple(value.shape) if hasattr(value, "shape") else tuple(value)
