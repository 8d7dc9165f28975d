"""A ground-level image classifier as a teacher: photo -> softmax over its classes.

Shared by the Places365 and ImageNet teachers, which differ only in architecture, label list and
where their weights come from.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from xview_engine.model.label_spaces import LabelSpace
from xview_engine.teachers.base import TeacherInfo, file_identity, load_state_dict, load_strict, require_file, to_tensor


class ClassifierTeacher:
    """Runs ``net`` on photos resized to ``size`` with ImageNet normalisation; rows are softmax outputs."""

    def __init__(self, net: torch.nn.Module, info: TeacherInfo, size: tuple[int, int] = (224, 224),
                 device: torch.device | str = "cpu"):
        self.net = net.to(device).eval()
        self.info = info
        self.size = size
        self.device = torch.device(device)

    @torch.inference_mode()
    def predict(self, images: list[np.ndarray]) -> np.ndarray:
        x = to_tensor(images, self.size).to(self.device)
        return torch.softmax(self.net(x).float(), dim=-1).cpu().numpy().astype(np.float32)


def load_classifier_teacher(path: str | Path, what: str, where: str, build: Callable[[], torch.nn.Module],
                            space: LabelSpace, head: str, tag: str,
                            device: torch.device | str = "cpu") -> ClassifierTeacher:
    """A classifier teacher from a weight file: checked to exist (else say where to get it), loaded
    strictly with ``weights_only=True``, its softmax filling head ``head`` over ``space``."""
    path = require_file(path, what, where)
    net = build()
    load_strict(net, load_state_dict(path, what), path, what)
    info = TeacherInfo(head, "categorical", space.names, space.name, f"{tag}-{file_identity(path)}")
    return ClassifierTeacher(net, info, device=device)
