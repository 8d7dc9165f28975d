"""Ground-level teachers: networks that turn a photo into the label distributions the overhead model learns.

Public API (used by ``xview teach``, training, and localization, which labels a query photo the
same way training photos were labelled)::

    teachers = load_teachers("places365:resnet18=/w/resnet18_places365.pth.tar,"
                             "imagenet:resnet50=/w/resnet50.pth,coco:fasterrcnn=/w/frcnn.pth",
                             device="cpu", coco_threshold=0.5)
    teachers.heads          # ('places365', 'imagenet', 'coco')
    teachers.labels         # {head: tuple of label names}
    teachers.kinds          # {head: 'categorical' | 'counts'}
    out = teachers.label_photos(paths, progress=None, cancel=None, cache_dir=None)
    out["places365"]        # float32 (N, 365), rows sum to 1; out["coco"] (N, 91) counts

Spec: comma-separated ``family[:arch]=path``, or ``family[:arch]`` alone for the published file of
that name (``places365:resnet50``, ``imagenet:vgg16``, ``coco:fasterrcnn``: see ``xview weights
list``), taken from the weights cache, downloaded there first when missing and the machine is
online; offline, the error names the URL, the digest and the path to place the file at. Families:
``places365`` (CSAIL ``.pth.tar``, arch resnet18 | resnet50), ``imagenet`` (torchvision ``.pth``,
any torchvision classifier name, default resnet50), ``coco`` (torchvision Faster R-CNN ``.pth``;
``fasterrcnn`` = resnet50-fpn), ``synthetic`` (an ``xview train teacher`` safetensors file; fills
every head it has, e.g. ``scene``, ``object``, ``count``), ``csv`` (values the user already has,
per photo, in a CSV: ``csv[:KIND]=ATTRIBUTES.csv``, see ``teachers.attributes``; its heads' kinds
also from ``kinds``, the ``--kind HEAD=KIND`` options). A path given is used as it is (a missing
one is an error naming where to get it). Results are cached per (teacher weights, photo file) in
``cache_dir``; a CSV teacher reads no photo and needs no cache.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import torch

from xview_engine.errors import TeacherError
from xview_engine.progress import CancelCheck, ProgressCallback, check_cancel
from xview_engine.teachers.base import Teacher, TeacherInfo, read_photo
from xview_engine.teachers.cache import TeacherCache

FAMILIES = ("places365", "imagenet", "coco", "synthetic", "csv")
DEFAULT_ARCH = {"places365": "resnet18", "imagenet": "resnet50", "coco": "fasterrcnn"}
__all__ = ["DEFAULT_ARCH", "FAMILIES", "Teacher", "TeacherInfo", "TeacherSet", "load_teachers", "parse_spec"]


def parse_spec(spec: str) -> list[tuple[str, str | None, str]]:
    """'family[:arch][=path],...' -> [(family, arch or None, path)]; errors list the families.

    An entry without ``=path`` names a published file; its path is the checked cached copy
    (``weights.weights_path``: fetched when missing and online, else an error saying what to place where).
    """
    entries = []
    for part in (p.strip() for p in spec.split(",")):
        if not part:
            continue
        key, sep, path = part.partition("=")
        family, _, arch = key.strip().partition(":")
        if family not in FAMILIES:
            raise TeacherError(f"unknown teacher family '{family}' (known: {', '.join(FAMILIES)})")
        if sep and not path.strip():
            raise TeacherError(f"teacher '{part}' has no weight file after '=': write family[:arch]=path, or "
                               f"family[:arch] alone for its published weights (xview weights list)")
        entries.append((family, arch.strip() or None, path.strip() if sep else _published(family, arch.strip())))
    if not entries:
        raise TeacherError(f"no teacher given: use e.g. --teachers synthetic=PATH (families: {', '.join(FAMILIES)})")
    return entries


def _published(family: str, arch: str) -> str:
    """The cached published file of ``family:arch`` (the family's default arch when none is given)."""
    from xview_engine.weights import REGISTRY, find, weights_path

    if family == "synthetic":
        raise TeacherError("a synthetic teacher has no published weights: write synthetic=PATH (the file "
                           "`xview train teacher` or `xview synth` wrote)")
    if family == "csv":
        raise TeacherError("an attribute teacher is a CSV of your own: write csv=ATTRIBUTES.csv (or csv:KIND=...)")
    name = f"{family}:{arch or DEFAULT_ARCH[family]}"
    if find(name) is None:
        known = [n for n in REGISTRY if n.startswith(f"{family}:")]
        raise TeacherError(f"teacher '{name}' has no published weights xview knows (for {family}: "
                           f"{', '.join(known)}); give its file as {name}=PATH")
    return str(weights_path(name))


def _load_one(family: str, arch: str | None, path: str, device: torch.device, coco_threshold: float,
              kinds: Mapping[str, str]) -> list[Teacher]:
    if family == "csv":
        from xview_engine.teachers.attributes import load_attribute_csv

        return list(load_attribute_csv(path, arch, kinds))  # type: ignore[arg-type]
    if family == "places365":
        from xview_engine.teachers.places365 import load_places365

        return [load_places365(path, arch or DEFAULT_ARCH[family], device)]
    if family == "imagenet":
        from xview_engine.teachers.imagenet import load_imagenet

        return [load_imagenet(path, arch or DEFAULT_ARCH[family], device)]
    if family == "coco":
        from xview_engine.teachers.coco_counts import load_coco_counts

        return [load_coco_counts(path, arch or DEFAULT_ARCH[family], coco_threshold, device)]
    from xview_engine.teachers.synthetic import load_synthetic

    return list(load_synthetic(path, device))


def load_teachers(spec: str, device: torch.device | str = "cpu", coco_threshold: float = 0.5,
                  kinds: Mapping[str, str] | None = None) -> TeacherSet:
    """Build every teacher of a spec (see the module docstring); head names must not repeat.

    ``kinds`` ({head: kind}) says what the heads of ``csv`` teachers hold; it must name only their heads.
    """
    device = torch.device(device)
    entries = parse_spec(spec)
    if kinds and not any(family == "csv" for family, _, _ in entries):
        raise TeacherError("--kind says what the columns of an attribute CSV hold: use it with --teachers csv=FILE")
    teachers: list[Teacher] = []
    for family, arch, path in entries:
        teachers += _load_one(family, arch, path, device, coco_threshold, kinds or {})
    unknown = sorted(set(kinds or {}) - {t.info.head for t in teachers if hasattr(t, "label_paths")})
    if unknown:
        raise TeacherError(f"--kind names head(s) {', '.join(unknown)} that no attribute CSV has "
                           f"(their heads: {', '.join(t.info.head for t in teachers if hasattr(t, 'label_paths'))})")
    return TeacherSet(teachers)


class TeacherSet:
    """Several teachers, one head each; labels photos in batches, reading each photo once."""

    def __init__(self, teachers: Sequence[Teacher]):
        names = [t.info.head for t in teachers]
        repeated = sorted({n for n in names if names.count(n) > 1})
        if repeated:
            raise TeacherError(f"two teachers fill the same head {', '.join(repeated)}; give each head one teacher")
        self.teachers = list(teachers)

    @property
    def heads(self) -> tuple[str, ...]:
        return tuple(t.info.head for t in self.teachers)

    @property
    def labels(self) -> dict[str, tuple[str, ...]]:
        return {t.info.head: t.info.labels for t in self.teachers}

    @property
    def kinds(self) -> dict[str, str]:
        return {t.info.head: t.info.kind for t in self.teachers}

    @property
    def label_spaces(self) -> dict[str, str]:
        return {t.info.head: t.info.label_space for t in self.teachers}

    def label_photos(self, paths: Sequence[str | Path], progress: ProgressCallback | None = None,
                     cancel: CancelCheck | None = None, cache_dir: str | Path | None = None,
                     batch_size: int = 16) -> dict[str, np.ndarray]:
        """{head: float32 (N, K)} for the photos in order; cached rows are not recomputed."""
        paths = [Path(p) for p in paths]
        caches = [TeacherCache(cache_dir, t.info) for t in self.teachers]
        out = {t.info.head: np.zeros((len(paths), len(t.info.labels)), np.float32) for t in self.teachers}
        try:
            for start in range(0, len(paths), batch_size):
                check_cancel(cancel)
                self._label_batch(paths[start:start + batch_size], start, caches, out)
                if progress is not None:
                    progress(min(start + batch_size, len(paths)), len(paths))
        finally:
            for cache in caches:
                cache.save()
        return out

    def _label_batch(self, batch: list[Path], start: int, caches: list[TeacherCache],
                     out: dict[str, np.ndarray]) -> None:
        images: dict[int, np.ndarray] = {}
        for teacher, cache in zip(self.teachers, caches):
            rows = out[teacher.info.head]
            by_path = getattr(teacher, "label_paths", None)  # an attribute CSV: its rows, no pixels
            if by_path is not None:
                rows[start:start + len(batch)] = by_path(batch)
                continue
            todo = []
            for i, path in enumerate(batch):
                hit = cache.get(path)
                if hit is None:
                    todo.append(i)
                else:
                    rows[start + i] = hit
            if not todo:
                continue
            for i in todo:
                if i not in images:
                    images[i] = read_photo(batch[i])
            values = teacher.predict([images[i] for i in todo])
            for i, value in zip(todo, values):
                rows[start + i] = value
                cache.put(batch[i], value)
