"""What every teacher is: photos in, one label distribution (or count vector) per photo out.

A teacher is a ground-level network the overhead model learns from. Each one fills exactly one
head, named like the model head it teaches (``places365``, ``imagenet``, ``coco`` for the real ones;
``scene``, ``object``, ``count`` for the synthetic world), with a ``kind`` saying what its rows are:
``categorical`` (a probability distribution, rows sum to 1) or ``counts`` (expected object counts).
Photos are read here once, as RGB uint8 arrays, so every teacher sees the same pixels.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np
import torch

from xview_engine.errors import TeacherError

KINDS = ("categorical", "counts")
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


@dataclass(frozen=True)
class TeacherInfo:
    """The head a teacher fills: its name, what its rows are, the ordered label names."""

    head: str
    kind: str
    labels: tuple[str, ...]
    label_space: str
    identity: str  # changes whenever the outputs could change (weights file, options): the cache key


@runtime_checkable
class Teacher(Protocol):
    info: TeacherInfo

    def predict(self, images: list[np.ndarray]) -> np.ndarray:
        """RGB uint8 (H, W, 3) photos -> float32 (B, K) rows of this teacher's head."""
        ...


def read_photo(path: str | Path) -> np.ndarray:
    """A photo as an RGB uint8 (H, W, 3) array; unreadable files and decompression bombs name themselves."""
    from xview_engine.data.images import read_rgb

    path = Path(path)
    if not path.is_file():
        raise TeacherError(f"photo {path} does not exist (check the photo column of the pairs CSV)")
    return read_rgb(path, TeacherError)


def to_tensor(images: list[np.ndarray], size: tuple[int, int], mean=IMAGENET_MEAN, std=IMAGENET_STD) -> torch.Tensor:
    """Resize whole photos to ``size`` (H, W), scale to [0, 1], normalise: a (B, 3, H, W) batch.

    The whole photo is resized (no centre crop) so that a panorama's sides are not thrown away.
    """
    import torch.nn.functional as F

    out = []
    for img in images:
        x = torch.from_numpy(np.array(img, dtype=np.uint8, copy=True)).permute(2, 0, 1).float().div_(255.0)[None]
        out.append(F.interpolate(x, size=size, mode="bilinear", align_corners=False, antialias=True))
    batch = torch.cat(out)
    m = torch.tensor(mean).view(1, 3, 1, 1)
    s = torch.tensor(std).view(1, 3, 1, 1)
    return (batch - m) / s


def file_identity(path: Path, *options: object) -> str:
    """A short key for a weight file plus options: path, size and mtime (hashing GBs would be slow)."""
    stat = path.stat()
    text = "|".join([str(path.resolve()), str(stat.st_size), str(stat.st_mtime_ns), *map(str, options)])
    return hashlib.sha1(text.encode()).hexdigest()[:16]


def require_file(path: str | Path, what: str, where: str) -> Path:
    """The weight file, or a TeacherError naming it and where to get it (a path given is never downloaded)."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise TeacherError(f"{what} weight file {path} does not exist; xview never downloads weights given by path: "
                           f"get it from {where} and pass its path, or name the published file without '=PATH' "
                           "(xview weights list)")
    return path


def load_state_dict(path: Path, what: str) -> dict[str, torch.Tensor]:
    """A checkpoint's tensors, loaded with ``weights_only=True``; CSAIL wrappers and ``module.`` stripped."""
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # weights_only refuses pickled objects: say so plainly
        raise TeacherError(f"{what} weights {path} are not a plain tensor checkpoint that can be loaded safely "
                           f"({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''})") from None
    if isinstance(state, dict) and isinstance(state.get("state_dict"), dict):
        state = state["state_dict"]
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise TeacherError(f"{what} weights {path} do not hold a state dict of tensors")
    return {k.removeprefix("module."): v for k, v in state.items()}


def load_strict(net: torch.nn.Module, state: dict[str, torch.Tensor], path: Path, what: str) -> None:
    """Load every tensor or fail naming what does not fit: a half-random teacher teaches nonsense."""
    from xview_engine.model.backbones import describe_state_mismatch

    problems = describe_state_mismatch(net.state_dict(), state)
    if problems:
        raise TeacherError(f"{what} weights {path} do not fit the architecture: {problems}")
    net.load_state_dict(state, strict=True)
    net.eval()
