"""A published ground-photo classifier kept as a feature extractor, with the kNN reference set it serves.

Workman & Jacobs ("On the Location Dependence of CNN Features") show that networks trained on
ground photos (Places, ImageNet) give location-dependent features even on aerial tiles, with no
cross-view training. A ``knn`` model file holds such a classifier (its torchvision architecture and
the weights converted from a strictly loaded checkpoint) and, when it was built with reference
pairs, the features of the reference ground photos and of their aerial tiles. The manifest's one
head ``features`` names the feature columns: class names for ``fc8`` (the class scores), ``f0 ...``
for ``penultimate`` (the input of the last linear layer). Besides torchvision classifiers, the
synthetic world's teacher CNN (``model/photo_cnn.py``, backbone ``synthetic_teacher``) can be kept
the same way: its ``fc8`` is every head's raw outputs side by side, its ``penultimate`` the pooled
features its heads share. Photos are resized to the network's own input and normalised with the
manifest's mean/std, like the tiles.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

from xview_engine.errors import ModelFileError
from xview_engine.model.manifest import BackboneSpec, HeadSpec, InputSpec, Manifest
from xview_engine.model.photo_cnn import PhotoCNN

KIND = "knn"
HEAD = "features"
LAYERS = ("fc8", "penultimate")
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
SYNTHETIC_ARCH = "synthetic_teacher"  # the synthetic world's photo CNN; its shape in options["teacher"]
PHOTO_PX = (224, 224)  # torchvision classifiers see whole photos resized to this, as the teachers do


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
    """Tile or photo batch (B, 3, H, W), normalised by the manifest's mean/std -> {'features': (B, D)}.

    The reference buffers (R, D) travel in the model file so that a query photo's kNN description
    needs nothing but this file.
    """

    def __init__(self, manifest: Manifest):
        super().__init__()
        options = dict(manifest.backbone.options)
        self.layer = str(options.get("layer", "fc8"))
        if self.layer not in LAYERS:
            raise ModelFileError(f"knn model layer '{self.layer}' is unknown (known: {', '.join(LAYERS)})")
        teacher = options.get("teacher")
        if manifest.backbone.name == SYNTHETIC_ARCH:
            if not isinstance(teacher, Mapping):
                raise ModelFileError("a synthetic_teacher knn model needs the teacher's shape in its backbone options")
            self.net: nn.Module = PhotoCNN(dict(teacher["heads"]), int(teacher["channels"]), int(teacher["depth"]),
                                           int(teacher["hidden"]))
            self.photo_px = (int(teacher["photo_px"][0]), int(teacher["photo_px"][1]))
        else:
            self.net = build_classifier(manifest.backbone.name, int(options["classes"]))
            self.photo_px = PHOTO_PX
        self.photo_mean, self.photo_std = manifest.input.mean, manifest.input.std
        dim = manifest.heads[0].num_classes
        references = int(options.get("references", 0))
        self.register_buffer("reference_photos", torch.zeros(references, dim))
        self.register_buffer("reference_tiles", torch.zeros(references, dim))
        self._captured: list[torch.Tensor] = []
        if self.layer == "penultimate" and not isinstance(self.net, PhotoCNN):
            last_linear(self.net).register_forward_hook(lambda m, inputs, out: self._captured.append(inputs[0]))

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        if isinstance(self.net, PhotoCNN):
            out = self.net.pooled(x) if self.layer == "penultimate" else torch.cat(list(self.net(x).values()), 1)
            return {HEAD: out}
        self._captured.clear()
        logits = self.net(x)
        out = self._captured.pop() if self.layer == "penultimate" else logits
        return {HEAD: out.flatten(1)}


def feature_manifest(arch: str, classes: int, family: str, layer: str, labels: tuple[str, ...], tile_px: int,
                     gsd_m: float, references: int = 0, k: int = 30,
                     training: dict[str, Any] | None = None, teacher: Mapping[str, Any] | None = None,
                     mean: tuple[float, ...] = IMAGENET_MEAN, std: tuple[float, ...] = IMAGENET_STD) -> Manifest:
    """The manifest of a knn model file; ``labels`` names the feature columns, ``teacher`` shapes a
    synthetic_teacher network (heads as [name, classes] pairs, channels, depth, hidden, photo_px)."""
    options = {"family": family, "classes": classes, "layer": layer, "references": references, "k": k}
    if teacher is not None:
        options["teacher"] = dict(teacher)
    manifest = Manifest(KIND, BackboneSpec(arch, options), InputSpec(tile_px, gsd_m, mean=mean, std=std),
                        (HeadSpec(HEAD, "mean", labels),), hidden=1, training=training or {})
    manifest.validate()
    return manifest


def penultimate_width(net: nn.Module) -> int:
    return int(net.pooled_width) if isinstance(net, PhotoCNN) else int(last_linear(net).in_features)
