"""One pass over a data set: seeded shuffling and augmentation, normalisation, optional optimisation.

Shuffling and augmentation draw from a ``torch.Generator`` seeded by (seed, epoch), so an epoch
is the same whether it runs straight through or after ``--resume``. Augmentations are the seed's
random horizontal and vertical flips, plus 90-degree rotations as an option (overhead tiles have no
up; ground truth does not change when the tile turns).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from xview_engine.model.device import autocast_context
from xview_engine.progress import CancelCheck, check_cancel

LossFn = Callable[[dict[str, torch.Tensor], dict[str, torch.Tensor]], "dict[str, torch.Tensor]"]
StepCallback = Callable[[int, int, float], None]  # done, total batches, running loss


@dataclass
class EpochData:
    """A split as tensors on the CPU: tiles in [0, 1] and targets per head."""

    tiles: torch.Tensor
    targets: dict[str, torch.Tensor]
    times: torch.Tensor | None = None  # a time-aware model: each photo's (F,) cyclic time features

    @classmethod
    def from_arrays(cls, tiles: np.ndarray, targets: dict[str, np.ndarray],
                    times: np.ndarray | None = None) -> EpochData:
        tensors = {h: torch.from_numpy(np.asarray(v, np.float32)) for h, v in targets.items()}
        return cls(torch.from_numpy(tiles), tensors, None if times is None else torch.from_numpy(times))

    def __len__(self) -> int:
        return len(self.tiles)


def epoch_generator(seed: int, epoch: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed * 100_003 + epoch)


def augment(x: torch.Tensor, generator: torch.Generator, flips: bool, rot90: bool) -> torch.Tensor:
    """Per-sample random flips (and quarter turns) of a (B, C, H, W) batch."""
    n = len(x)
    if flips:
        h = torch.rand(n, generator=generator) < 0.5
        v = torch.rand(n, generator=generator) < 0.5
        x = torch.where(h[:, None, None, None], x.flip(-1), x)
        x = torch.where(v[:, None, None, None], x.flip(-2), x)
    if rot90:
        k = torch.randint(0, 4, (n,), generator=generator)
        x = torch.stack([torch.rot90(t, int(r), dims=(-2, -1)) for t, r in zip(x, k)])
    return x


@dataclass
class Pass:
    """What a pass needs besides data: how to normalise, where to run, how to augment."""

    mean: torch.Tensor  # (1, C, 1, 1)
    std: torch.Tensor
    device: torch.device
    batch_size: int
    flips: bool = True
    rot90: bool = False


def run_pass(model: torch.nn.Module, data: EpochData, loss_fn: LossFn, setup: Pass,
             optimizer: torch.optim.Optimizer | None = None, generator: torch.Generator | None = None,
             on_step: StepCallback | None = None, cancel: CancelCheck | None = None) -> dict[str, float]:
    """Mean loss per head over the data (training when an optimizer is given); key 'total' sums the heads."""
    training = optimizer is not None
    order = torch.randperm(len(data), generator=generator) if training else torch.arange(len(data))
    sums: dict[str, float] = {}
    steps = (len(data) + setup.batch_size - 1) // setup.batch_size
    scaler = torch.amp.GradScaler("cuda", enabled=training and setup.device.type == "cuda")
    for step in range(steps):
        check_cancel(cancel)
        idx = order[step * setup.batch_size:(step + 1) * setup.batch_size]
        x = data.tiles[idx]
        if training:
            x = augment(x, generator, setup.flips, setup.rot90)
        x = ((x - setup.mean) / setup.std).to(setup.device, non_blocking=True)
        targets = {h: v[idx].to(setup.device) for h, v in data.targets.items()}
        with torch.set_grad_enabled(training), autocast_context(setup.device):
            outputs = model(x) if data.times is None else model(x, data.times[idx].to(setup.device))
            losses = loss_fn(outputs, targets)
        total = sum(losses.values())
        if training:
            optimizer.zero_grad(set_to_none=True)
            scaler.scale(total).backward()
            scaler.step(optimizer)
            scaler.update()
        for name, value in (*losses.items(), ("total", total)):
            sums[name] = sums.get(name, 0.0) + float(value.detach()) * len(idx)
        if on_step is not None:
            on_step(step + 1, steps, sums["total"] / min(len(data), (step + 1) * setup.batch_size))
    return {name: value / len(data) for name, value in sums.items()}
