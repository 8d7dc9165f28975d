"""Places365 scene teacher from CSAIL's checkpoints (``resnet18_places365.pth.tar`` and friends).

CSAIL ships torchvision ResNets trained with 365 outputs, saved from ``DataParallel`` as
``{'state_dict': {'module.conv1.weight': ...}, ...}``. The prefix is stripped and the file is read
with ``weights_only=True``; their "whole model" pickles are refused. Photos are resized to 224 x 224
and normalised with ImageNet statistics, as in CSAIL's own demo script.
"""

from __future__ import annotations

from pathlib import Path

import torch

from xview_engine.errors import TeacherError
from xview_engine.model.label_spaces import places365
from xview_engine.teachers.classifier import ClassifierTeacher, load_classifier_teacher

ARCHS = ("resnet18", "resnet50")
WHERE = "http://places2.csail.mit.edu/models_places365/ (e.g. resnet18_places365.pth.tar)"


def build_places365(arch: str = "resnet18") -> torch.nn.Module:
    """The architecture without weights (no download)."""
    import torchvision

    if arch not in ARCHS:
        raise TeacherError(f"unknown Places365 architecture '{arch}' (known: {', '.join(ARCHS)})")
    return getattr(torchvision.models, arch)(weights=None, num_classes=365)


def load_places365(path: str | Path, arch: str = "resnet18", device: torch.device | str = "cpu",
                   head: str = "places365") -> ClassifierTeacher:
    """A Places365 teacher filling head ``head`` with the 365-class scene distribution."""
    return load_classifier_teacher(path, f"Places365 {arch}", WHERE, lambda: build_places365(arch), places365(), head,
                                   f"places365-{arch}", device)
