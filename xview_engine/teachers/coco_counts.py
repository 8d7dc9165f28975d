"""COCO object-count teacher from a torchvision Faster R-CNN ``.pth`` state dict.

The detector runs on each photo; the row for a photo counts, per class of the 91-entry COCO layout
torchvision uses (index = detector label, so ``__background__`` and ``N/A`` stay at 0), the
detections scoring at least ``threshold``. These counts are what the Poisson head learns.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from xview_engine.errors import TeacherError
from xview_engine.model.label_spaces import coco91
from xview_engine.teachers.base import TeacherInfo, file_identity, load_state_dict, load_strict, require_file

ARCHS = (
    "fasterrcnn_resnet50_fpn",
    "fasterrcnn_resnet50_fpn_v2",
    "fasterrcnn_mobilenet_v3_large_fpn",
    "fasterrcnn_mobilenet_v3_large_320_fpn",
)
ALIASES = {"fasterrcnn": "fasterrcnn_resnet50_fpn"}
WHERE = ("torchvision's weight URLs (e.g. "
         "https://download.pytorch.org/models/fasterrcnn_resnet50_fpn_coco-258fb6c6.pth; "
         "torchvision.models.detection.FasterRCNN_ResNet50_FPN_Weights.COCO_V1.url)")
DEFAULT_THRESHOLD = 0.5


def build_detector(arch: str = "fasterrcnn_resnet50_fpn") -> torch.nn.Module:
    """The detector without any weights (no download, not even the backbone's)."""
    import torchvision

    arch = ALIASES.get(arch, arch)
    if arch not in ARCHS:
        raise TeacherError(f"unknown COCO detector '{arch}' (known: {', '.join(ARCHS)})")
    builder = getattr(torchvision.models.detection, arch)
    return builder(weights=None, weights_backbone=None, num_classes=91)


def counts_from_detections(detections: list[dict[str, torch.Tensor]], threshold: float, n_classes: int) -> np.ndarray:
    """Per image, the number of detections per label with score >= threshold: (B, n_classes) float32."""
    out = np.zeros((len(detections), n_classes), np.float32)
    for row, det in enumerate(detections):
        labels = det["labels"][det["scores"] >= threshold].cpu().numpy().astype(np.int64)
        np.add.at(out[row], labels[(labels >= 0) & (labels < n_classes)], 1.0)
    return out


class CocoCountTeacher:
    """Faster R-CNN on whole photos ([0, 1] RGB; the detector normalises and resizes itself)."""

    def __init__(self, net: torch.nn.Module, info: TeacherInfo, threshold: float, device: torch.device | str = "cpu"):
        self.net = net.to(device).eval()
        self.info = info
        self.threshold = threshold
        self.device = torch.device(device)

    @torch.inference_mode()
    def predict(self, images: list[np.ndarray]) -> np.ndarray:
        batch = [torch.from_numpy(np.array(img, dtype=np.uint8)).permute(2, 0, 1).float().div(255.0) for img in images]
        batch = [x.to(self.device) for x in batch]
        return counts_from_detections(self.net(batch), self.threshold, len(self.info.labels))


def load_coco_counts(path: str | Path, arch: str = "fasterrcnn_resnet50_fpn", threshold: float = DEFAULT_THRESHOLD,
                     device: torch.device | str = "cpu", head: str = "coco") -> CocoCountTeacher:
    """A count teacher filling head ``head`` with per-class detection counts above ``threshold``."""
    if not 0.0 <= threshold <= 1.0:
        raise TeacherError(f"COCO score threshold must be in [0, 1], got {threshold:g}")
    what = f"COCO {ALIASES.get(arch, arch)}"
    path = require_file(path, what, WHERE)
    net = build_detector(arch)
    load_strict(net, load_state_dict(path, what), path, what)
    space = coco91()
    info = TeacherInfo(head, "counts", space.names, space.name, f"coco-{arch}-{threshold:g}-{file_identity(path)}")
    return CocoCountTeacher(net, info, threshold, device=device)
