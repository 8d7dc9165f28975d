"""A ground-level image classifier as a teacher: photo -> softmax over its classes.

Shared by the Places365 and ImageNet teachers, which differ only in architecture, label list and
where their weights come from.
"""

from __future__ import annotations

import numpy as np
import torch

from xview_engine.teachers.base import TeacherInfo, to_tensor


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
