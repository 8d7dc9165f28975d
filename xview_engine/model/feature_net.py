"""A published ground-photo classifier kept as a feature extractor, with the kNN reference set it serves.

Workman & Jacobs ("On the Location Dependence of CNN Features") show that networks trained on
ground photos (Places, ImageNet) give location-dependent features even on aerial tiles, with no
cross-view training. A ``knn`` model file holds such a classifier (its torchvision architecture and
the weights converted from a strictly loaded checkpoint) and, when it was built with reference
pairs, the features of the reference ground photos and of their aerial tiles. The manifest's one
head ``features`` names the feature columns: class names for ``fc8`` (the class scores), ``f0 ...``
for ``penultimate`` (the input of the last linear layer).
"""

from __future__ import annotations

import reprlib
from typing import Any

import torch
from torch import nn

from xview_engine.errors import ManifestError, ModelFileError
from xview_engine.model.manifest import MAX_CLASSES, BackboneSpec, HeadSpec, InputSpec, Manifest, bounded_int

KIND = "knn"
HEAD = "features"
LAYERS = ("fc8", "penultimate")
MAX_REFERENCES = 10_000_000  # reference photos (and k) a knn file can carry
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def build_classifier(arch: str, classes: int) -> nn.Module:
    """A torchvision classifier without weights (nothing is downloaded)."""
    import torchvision

    if arch not in torchvision.models.list_models(module=torchvision.models):
        raise ModelFileError(f"unknown torchvision classifier '{arch}'")
    return torchvision.models.get_model(arch, weights=None, num_classes=classes)


def last_linear(net: nn.Module) -> nn.Linear:
    """The classifier's final linear layer, whose input is the penultimate feature."""
    linears = [m for m in net.modules() if isinstance(m, nn.Linear)]
    if not linears:
        raise ModelFileError(f"{type(net).__name__} has no linear layer to take the penultimate features from")
    return linears[-1]


class FeatureNetwork(nn.Module):
    """Tile or photo batch (B, 3, H, W), ImageNet-normalised -> {'features': (B, D)} of the chosen layer.

    The reference buffers (R, D) travel in the model file so that a query photo's kNN description
    needs nothing but this file.
    """

    def __init__(self, manifest: Manifest):
        super().__init__()
        options = dict(manifest.backbone.options)
        self.layer = options.get("layer", "fc8")
        if self.layer not in LAYERS:
            raise ManifestError(f"knn model layer {reprlib.repr(self.layer)} is unknown (known: {', '.join(LAYERS)})")
        classes = bounded_int(options.get("classes"), "backbone.options.classes", 1, MAX_CLASSES)
        references = bounded_int(options.get("references", 0), "backbone.options.references", 0, MAX_REFERENCES)
        bounded_int(options.get("k", 30), "backbone.options.k", 1, MAX_REFERENCES)
        if len(manifest.heads) != 1:
            raise ManifestError(f"a knn manifest has one head '{HEAD}', not {len(manifest.heads)}")
        self.net = build_classifier(manifest.backbone.name, classes)
        dim = manifest.heads[0].num_classes
        width = classes if self.layer == "fc8" else penultimate_width(self.net)
        if dim != width:
            raise ManifestError(f"knn manifest head '{HEAD}' names {dim} feature columns but layer {self.layer} of "
                                f"{manifest.backbone.name} gives {width}")
        self.register_buffer("reference_photos", torch.zeros(references, dim))
        self.register_buffer("reference_tiles", torch.zeros(references, dim))
        self._captured: list[torch.Tensor] = []
        if self.layer == "penultimate":
            last_linear(self.net).register_forward_hook(lambda m, inputs, out: self._captured.append(inputs[0]))

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        self._captured.clear()
        logits = self.net(x)
        out = self._captured.pop() if self.layer == "penultimate" else logits
        return {HEAD: out.flatten(1)}


def feature_manifest(arch: str, classes: int, family: str, layer: str, labels: tuple[str, ...], tile_px: int,
                     gsd_m: float, references: int = 0, k: int = 30,
                     training: dict[str, Any] | None = None) -> Manifest:
    """The manifest of a knn model file; ``labels`` names the feature columns."""
    backbone = BackboneSpec(arch, {"family": family, "classes": classes, "layer": layer, "references": references,
                                   "k": k})
    manifest = Manifest(KIND, backbone, InputSpec(tile_px, gsd_m, mean=IMAGENET_MEAN, std=IMAGENET_STD),
                        (HeadSpec(HEAD, "mean", labels),), hidden=1, training=training or {})
    manifest.validate()
    return manifest


def penultimate_width(net: nn.Module) -> int:
    return int(last_linear(net).in_features)
