"""The synthetic world's teacher: a small CNN that reads a synthetic ground photo and outputs its labels.

The synthetic world knows every photo's true label distributions, but the overhead model should
learn the way it would on real data: photo -> ground-level network -> distribution. This CNN is
that network for the synthetic world (trained by ``xview train teacher``), so the demo and the
tests run the true path rather than reading the truth directly.

Its file is a safetensors file like a model file, never a pickle: tensors plus a JSON manifest
(``xview_teacher`` metadata) naming the input size, the width and depth, and the heads (name, kind
``categorical`` | ``counts``, labels). One file fills several heads with one forward pass.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from xview_engine.errors import TeacherError
from xview_engine.model.photo_cnn import PhotoCNN
from xview_engine.outputs import atomic_output
from xview_engine.teachers.base import KINDS, TeacherInfo, file_identity, to_tensor

TEACHER_KEY = "xview_teacher"
FORMAT_VERSION = 1
PHOTO_MEAN = (0.5, 0.5, 0.5)
PHOTO_STD = (0.25, 0.25, 0.25)


@dataclass(frozen=True)
class SyntheticHead:
    name: str
    kind: str
    labels: tuple[str, ...]
    label_space: str = "custom"


@dataclass(frozen=True)
class SyntheticTeacherSpec:
    """What the teacher file's manifest holds: the input size, the CNN's shape, the heads."""

    height: int
    width: int
    heads: tuple[SyntheticHead, ...]
    channels: int = 16
    depth: int = 4
    hidden: int = 128
    training: dict[str, Any] | None = None

    def to_json(self) -> str:
        data = asdict(self)
        data["format_version"] = FORMAT_VERSION
        return json.dumps(data, sort_keys=True)

    @classmethod
    def from_json(cls, text: str, path: Path) -> SyntheticTeacherSpec:
        try:
            data = json.loads(text)
            if data.pop("format_version", None) != FORMAT_VERSION:
                raise ValueError(f"format version is not {FORMAT_VERSION}")
            heads = tuple(SyntheticHead(h["name"], h["kind"], tuple(h["labels"]), h.get("label_space", "custom"))
                          for h in data.pop("heads"))
            spec = cls(heads=heads, **data)
        except (json.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
            raise TeacherError(f"synthetic teacher {path} has a malformed manifest ({exc})") from None
        bad = [h.kind for h in spec.heads if h.kind not in KINDS]
        if bad or not spec.heads:
            raise TeacherError(f"synthetic teacher {path}: heads must be {' or '.join(KINDS)}, got {bad or 'none'}")
        return spec


class SyntheticTeacherNet(PhotoCNN):
    """The teacher file's network (``model/photo_cnn.py``), shaped by its manifest."""

    def __init__(self, spec: SyntheticTeacherSpec):
        super().__init__({h.name: len(h.labels) for h in spec.heads}, spec.channels, spec.depth, spec.hidden)


def activate(kind: str, raw: torch.Tensor) -> torch.Tensor:
    """Raw output -> what the head means: a softmax distribution or non-negative expected counts."""
    return torch.softmax(raw, dim=-1) if kind == "categorical" else F.softplus(raw)


def photo_batch(images: list[np.ndarray], spec: SyntheticTeacherSpec) -> torch.Tensor:
    """Photos resized to the teacher's input and normalised: shared by training and labelling."""
    return to_tensor(images, (spec.height, spec.width), PHOTO_MEAN, PHOTO_STD)


def save_synthetic_teacher(net: SyntheticTeacherNet, spec: SyntheticTeacherSpec, path: str | Path) -> Path:
    from safetensors.torch import save_file

    state = {k: v.detach().cpu().contiguous().clone() for k, v in net.state_dict().items()}
    with atomic_output(path) as tmp:
        # one metadata key: safetensors writes several in a random order, and files should repeat
        save_file(state, str(tmp), metadata={TEACHER_KEY: spec.to_json()})
    return Path(path)


def read_synthetic_teacher(path: str | Path) -> tuple[SyntheticTeacherNet, SyntheticTeacherSpec]:
    """Net (eval mode) and spec from a teacher file, strictly: every tensor must fit."""
    from safetensors import SafetensorError, safe_open

    from xview_engine.model.backbones import describe_state_mismatch

    path = Path(path)
    if not path.is_file():
        raise TeacherError(f"synthetic teacher file {path} does not exist; train one with 'xview train teacher' "
                           "or use the shipped resources/models/xview-synthetic-teacher.safetensors")
    try:
        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata() or {}
            state = {k: f.get_tensor(k) for k in f.keys()}
    except (SafetensorError, OSError) as exc:
        raise TeacherError(f"{path} is not a safetensors teacher file ({exc})") from None
    if TEACHER_KEY not in meta:
        raise TeacherError(f"{path} has no '{TEACHER_KEY}' manifest: it is not a synthetic teacher file")
    spec = SyntheticTeacherSpec.from_json(meta[TEACHER_KEY], path)
    net = SyntheticTeacherNet(spec)
    problems = describe_state_mismatch(net.state_dict(), state)
    if problems:
        raise TeacherError(f"synthetic teacher {path}: tensors do not match its manifest: {problems}")
    net.load_state_dict(state, strict=True)
    return net.eval(), spec


class _SharedRun:
    """One forward pass per batch for all heads of a file: the last batch's outputs, keyed by its arrays."""

    def __init__(self, net: SyntheticTeacherNet, spec: SyntheticTeacherSpec, device: torch.device):
        self.net, self.spec, self.device = net.to(device), spec, device
        self.key: tuple[int, ...] = ()
        self.images: list[np.ndarray] = []  # kept alive so that their ids stay unique
        self.raw: dict[str, torch.Tensor] = {}

    @torch.inference_mode()
    def __call__(self, images: list[np.ndarray]) -> dict[str, torch.Tensor]:
        key = tuple(id(img) for img in images)
        if key != self.key:
            self.raw = {k: v.float().cpu() for k, v in self.net(photo_batch(images, self.spec).to(self.device)).items()}
            self.key, self.images = key, list(images)
        return self.raw


class SyntheticTeacher:
    """One head of a synthetic teacher file; heads of one file share the net and a per-batch result."""

    def __init__(self, run: _SharedRun, head: SyntheticHead, identity: str):
        self.run, self.head = run, head
        self.info = TeacherInfo(head.name, head.kind, head.labels, head.label_space, f"{identity}-{head.name}")

    def predict(self, images: list[np.ndarray]) -> np.ndarray:
        return activate(self.head.kind, self.run(images)[self.head.name]).numpy().astype(np.float32)


def load_synthetic(path: str | Path, device: torch.device | str = "cpu") -> list[SyntheticTeacher]:
    """One ``SyntheticTeacher`` per head of the file."""
    net, spec = read_synthetic_teacher(path)
    identity = f"synthetic-{file_identity(Path(path))}"
    run = _SharedRun(net, spec, torch.device(device))
    return [SyntheticTeacher(run, head, identity) for head in spec.heads]
