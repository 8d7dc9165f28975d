"""``xview train teacher``: fit the synthetic world's ground-level teacher to photos with known labels.

The synthetic world knows each photo's true distributions; a small CNN learns to read them off the
pixels (soft-target cross-entropy for distributions, Poisson NLL for counts), so that later stages
run the real path photo -> network -> distribution. Horizontal flips are the only augmentation: a
mirrored photo shows the same things. The best validation epoch is kept. Seeded.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
import torch.nn.functional as F

from xview_engine.data.label_files import LabelFile
from xview_engine.errors import TrainingError
from xview_engine.model.distributions import poisson_nll
from xview_engine.progress import CancelCheck, ProgressCallback, check_cancel
from xview_engine.teachers.base import read_photo
from xview_engine.teachers.synthetic import (
    SyntheticHead,
    SyntheticTeacherNet,
    SyntheticTeacherSpec,
    photo_batch,
    save_synthetic_teacher,
)


@dataclass(frozen=True)
class TeacherParams:
    height: int = 32
    width: int = 128
    channels: int = 16
    depth: int = 4
    hidden: int = 128
    epochs: int = 12
    lr: float = 2e-3
    weight_decay: float = 1e-4
    batch_size: int = 32
    seed: int = 0


def load_photos(labels: LabelFile, spec: SyntheticTeacherSpec, progress: ProgressCallback | None = None,
                cancel: CancelCheck | None = None) -> torch.Tensor:
    """Every photo of the label file at the teacher's input size, normalised: (N, 3, H, W)."""
    paths = labels.photo_paths()
    out = []
    for start in range(0, len(paths), 64):
        check_cancel(cancel)
        out.append(photo_batch([read_photo(p) for p in paths[start:start + 64]], spec))
        if progress is not None:
            progress(min(start + 64, len(paths)), len(paths))
    return torch.cat(out)


def teacher_loss(spec: SyntheticTeacherSpec, raw: dict[str, torch.Tensor], targets: dict[str, torch.Tensor]):
    """Sum over heads: soft-target cross-entropy (distributions) or Poisson NLL (counts)."""
    total = 0.0
    for head in spec.heads:
        if head.kind == "categorical":
            total = total - (targets[head.name] * F.log_softmax(raw[head.name], -1)).sum(-1).mean()
        else:
            total = total + poisson_nll(F.softplus(raw[head.name]) + 1e-4, targets[head.name])
    return total


def _epoch(net, spec, x, targets, idx, batch_size, optimizer=None, gen=None) -> float:
    net.train(optimizer is not None)
    total = 0.0
    for start in range(0, len(idx), batch_size):
        b = idx[start:start + batch_size]
        xb = x[b]
        if optimizer is not None:
            flip = torch.rand(len(b), generator=gen) < 0.5
            xb = torch.where(flip[:, None, None, None], xb.flip(-1), xb)
        with torch.set_grad_enabled(optimizer is not None):
            loss = teacher_loss(spec, net(xb), {h: v[b] for h, v in targets.items()})
        if optimizer is not None:
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
        total += float(loss.detach()) * len(b)
    return total / max(1, len(idx))


def train_teacher(labels: LabelFile, params: TeacherParams, out: str | Path,
                  on_epoch: Callable[[dict[str, Any]], None] | None = None, progress: ProgressCallback | None = None,
                  cancel: CancelCheck | None = None) -> tuple[Path, list[dict[str, Any]]]:
    """Train on the label file's train split, validate on val, write the best teacher file."""
    heads = tuple(SyntheticHead(h, labels.kinds[h], labels.names[h]) for h in labels.head_names)
    spec = SyntheticTeacherSpec(params.height, params.width, heads, params.channels, params.depth, params.hidden)
    split = labels.table.get("split", np.array([]))
    train_idx, val_idx = (torch.from_numpy(np.nonzero(split == s)[0]) for s in ("train", "val"))
    if len(train_idx) == 0 or len(val_idx) == 0:
        raise TrainingError("the label file needs photos in both the train and val splits to train a teacher")
    x = load_photos(labels, spec, progress, cancel)
    targets = {h: torch.from_numpy(labels.heads[h]) for h in labels.head_names}
    torch.manual_seed(params.seed)
    net = SyntheticTeacherNet(spec)
    optimizer = torch.optim.Adam(net.parameters(), lr=params.lr, weight_decay=params.weight_decay)
    history, best, best_state = [], math.inf, None
    for epoch in range(params.epochs):
        check_cancel(cancel)
        gen = torch.Generator().manual_seed(params.seed * 100_003 + epoch)
        order = train_idx[torch.randperm(len(train_idx), generator=gen)]
        train_loss = _epoch(net, spec, x, targets, order, params.batch_size, optimizer, gen)
        val_loss = _epoch(net, spec, x, targets, val_idx, params.batch_size)
        history.append({"epoch": epoch + 1, "train_loss": train_loss, "val_loss": val_loss})
        if val_loss < best:
            best, best_state = val_loss, copy.deepcopy(net.state_dict())
        if on_epoch is not None:
            on_epoch(history[-1])
    net.load_state_dict(best_state)
    training = {"synthetic": True, "epochs": params.epochs, "seed": params.seed, "best_val_loss": best,
                "train_photos": len(train_idx), "val_photos": len(val_idx)}
    save_synthetic_teacher(net.eval(), replace(spec, training=training), out)
    return Path(out), history
