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

import reprlib
from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

from xview_engine.errors import ManifestError, ModelFileError
from xview_engine.model.manifest import MAX_CLASSES, BackboneSpec, HeadSpec, InputSpec, Manifest, bounded_int
from xview_engine.model.photo_cnn import PhotoCNN

KIND = "knn"
HEAD = "features"
LAYERS = ("fc8", "penultimate")
MAX_REFERENCES = 10_000_000  # reference photos (and k) a knn file can carry
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
        self.layer = options.get("layer", "fc8")
        if self.layer not in LAYERS:
            raise ManifestError(f"knn model layer {reprlib.repr(self.layer)} is unknown (known: {', '.join(LAYERS)})")
        classes = bounded_int(options.get("classes"), "backbone.options.classes", 1, MAX_CLASSES)
        references = bounded_int(options.get("references", 0), "backbone.options.references", 0, MAX_REFERENCES)
        bounded_int(options.get("k", 30), "backbone.options.k", 1, MAX_REFERENCES)
        if len(manifest.heads) != 1:
            raise ManifestError(f"a knn manifest has one head '{HEAD}', not {len(manifest.heads)}")
        if manifest.backbone.name == SYNTHETIC_ARCH:
            self.net, self.photo_px = synthetic_teacher_net(options.get("teacher"))
        else:
            self.net = build_classifier(manifest.backbone.name, classes)
            self.photo_px = PHOTO_PX
        self.photo_mean, self.photo_std = manifest.input.mean, manifest.input.std
        dim = manifest.heads[0].num_classes
        width = classes if self.layer == "fc8" else penultimate_width(self.net)
        if dim != width:
            raise ManifestError(f"knn manifest head '{HEAD}' names {dim} feature columns but layer {self.layer} of "
                                f"{manifest.backbone.name} gives {width}")
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


def synthetic_teacher_net(teacher: Any) -> tuple[PhotoCNN, tuple[int, int]]:
    """The synthetic teacher's CNN from its shape in the manifest, every size bounded before it is built."""
    if not isinstance(teacher, Mapping) or not isinstance(teacher.get("heads"), (Mapping, list)):
        raise ManifestError("a synthetic_teacher knn model needs the teacher's shape in its backbone options")
    pairs = teacher["heads"].items() if isinstance(teacher["heads"], Mapping) else teacher["heads"]
    try:
        heads = {str(name): bounded_int(n, f"teacher head {reprlib.repr(name)}", 1, MAX_CLASSES) for name, n in pairs}
    except (TypeError, ValueError):
        raise ManifestError("manifest teacher heads must be [name, classes] pairs") from None
    photo_px = teacher.get("photo_px")
    if not isinstance(photo_px, (list, tuple)) or len(photo_px) != 2:
        raise ManifestError("manifest teacher photo_px must be [height, width]")
    net = PhotoCNN(heads, bounded_int(teacher.get("channels"), "teacher channels", 1, 1024),
                   bounded_int(teacher.get("depth"), "teacher depth", 1, 8),
                   bounded_int(teacher.get("hidden"), "teacher hidden", 1, 65_536))
    height, width = (bounded_int(px, "teacher photo_px", 8, 4096) for px in photo_px)
    return net, (height, width)


def penultimate_width(net: nn.Module) -> int:
    return int(net.pooled_width) if isinstance(net, PhotoCNN) else int(last_linear(net).in_features)
