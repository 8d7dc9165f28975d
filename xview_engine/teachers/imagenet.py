"""ImageNet-1k class teacher from a torchvision ``.pth`` state dict (any torchvision classifier).

The architecture is built by name with no weights, then the file is loaded strictly with
``weights_only=True``. Photos are resized to 224 x 224 and normalised with ImageNet statistics.
"""

from __future__ import annotations

from pathlib import Path

import torch

from xview_engine.errors import TeacherError
from xview_engine.model.label_spaces import imagenet1k
from xview_engine.teachers.classifier import ClassifierTeacher, load_classifier_teacher

WHERE = ("torchvision's weight URLs (e.g. https://download.pytorch.org/models/resnet50-11ad3fa6.pth; "
         "torchvision.models.ResNet50_Weights.IMAGENET1K_V2.url)")


def build_imagenet(arch: str = "resnet50") -> torch.nn.Module:
    """A torchvision classifier by name, without weights; unknown names list the known ones."""
    import torchvision

    known = torchvision.models.list_models(module=torchvision.models)
    if arch not in known:
        raise TeacherError(f"unknown ImageNet architecture '{arch}' (torchvision classifiers: "
                           f"{', '.join(sorted(known)[:12])}, ...)")
    return torchvision.models.get_model(arch, weights=None, num_classes=1000)


def load_imagenet(path: str | Path, arch: str = "resnet50", device: torch.device | str = "cpu",
                  head: str = "imagenet") -> ClassifierTeacher:
    """An ImageNet teacher filling head ``head`` with the 1000-class distribution."""
    return load_classifier_teacher(path, f"ImageNet {arch}", WHERE, lambda: build_imagenet(arch), imagenet1k(), head,
                                   f"imagenet-{arch}", device)
