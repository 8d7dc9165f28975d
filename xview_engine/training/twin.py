"""`xview train twin`: the DSM recipe, a weighted soft-margin triplet loss over every in-batch pair.

For a batch of B photos and their B tiles, d[i, j] is DSM's distance 2 - 2 cos between photo i's
ground map and tile j's overhead map at their best azimuth shift (``localization.azimuth``, the same
code that scores an index). Every other tile is a negative for a photo and every other photo one for
a tile: loss = mean over i != j of log(1 + exp(alpha (d[i, i] - d[i, j]))) and of
log(1 + exp(alpha (d[j, j] - d[i, j]))), averaged, alpha = 10. Adam; panoramas are turned at random
and each batch is cut to a field of view drawn from the training set or range (``--fov 360,180,90,70``
or ``70-360``: one model for panoramas and limited-FOV photos), seeded by (seed, epoch); validation
uses one seeded set of batches and crops; the model file keeps the best validation epoch and
training stops after ``patience`` epochs without improvement. A checkpoint beside the output lets
``--resume`` continue.
"""

from __future__ import annotations

import copy
import json
import math
from collections.abc import Iterable, Iterator
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any, Callable

import torch
import torch.nn.functional as F

from xview_engine.errors import TrainingError
from xview_engine.localization.azimuth import ground_weights, inverse_basis, match_chunk, tile_spectra
from xview_engine.model.device import autocast_context
from xview_engine.model.manifest import Manifest
from xview_engine.model.twin import TwinModel, build_twin, load_vgg16_weights, twin_manifest
from xview_engine.outputs import atomic_output, check_outputs_free
from xview_engine.progress import CancelCheck, ProgressCallback, check_cancel
from xview_engine.training.checkpoint import read_checkpoint, run_epochs
from xview_engine.training.distill import checkpoint_path
from xview_engine.training.log import plot_loss_curves
from xview_engine.training.loop import epoch_generator
from xview_engine.training.twin_data import TwinData, crop_widths, fov_batches
from xview_engine.training.twin_params import TwinParams

EpochCallback = Callable[[dict[str, Any]], None]
Batch = tuple[torch.Tensor, torch.Tensor]  # (pair indices, their photos cut to the batch's field of view)
VAL_SEED_OFFSET = 7_919  # validation crops: drawn once from (seed + offset), never from the epoch


def pair_distances(ground: torch.Tensor, overhead: torch.Tensor) -> torch.Tensor:
    """(B, B) distance 2 - 2 cos of photo i's map to tile j's map at the best azimuth shift."""
    ground, overhead = ground.float(), overhead.float()
    width = overhead.shape[-1]
    norm = overhead.flatten(1).norm(dim=1).clamp_min(1e-12)
    spectra, energy = tile_spectra(overhead / norm[:, None, None, None])  # as the index stores them
    basis = inverse_basis(width, device=overhead.device)
    best, _ = match_chunk(ground_weights(ground, width), basis, spectra, energy, ground.shape[-1])
    return 2.0 - 2.0 * best


def soft_margin_triplet(distance: torch.Tensor, alpha: float = 10.0) -> torch.Tensor:
    """Weighted soft-margin triplet loss with every off-diagonal pair a negative, in both directions."""
    n = distance.shape[0]
    positive = distance.diagonal()
    off = ~torch.eye(n, dtype=torch.bool, device=distance.device)
    photo_to_tile = F.softplus(alpha * (positive[:, None] - distance))[off].mean()
    tile_to_photo = F.softplus(alpha * (positive[None, :] - distance))[off].mean()
    return (photo_to_tile + tile_to_photo) / 2


class TwinTrainer:
    def __init__(self, manifest: Manifest, params: TwinParams, data: TwinData, out: Path, device: torch.device):
        params.check()
        self.manifest, self.params, self.out, self.device = manifest, params, Path(out), device
        self.model: TwinModel = build_twin(manifest, seed=params.seed)
        if params.backbone_weights:
            load_vgg16_weights(self.model, params.backbone_weights)
        self.model = self.model.to(device)
        self.train, self.val = data.subset("train"), data.subset("val")
        if len(self.train) < 2 or len(self.val) < 2:
            raise TrainingError(f"twin training needs at least 2 train and 2 val photos (got {len(self.train)}, "
                                f"{len(self.val)})")
        mean, std = manifest.input.mean, manifest.input.std
        self.mean, self.std = torch.tensor(mean).view(1, -1, 1, 1), torch.tensor(std).view(1, -1, 1, 1)
        self.widths = crop_widths(params.train_fov, params.fov_range, self.train.photos.shape[-1])
        if data.fov_deg < 360 and (params.fov_range or len(params.train_fov) > 1):
            raise TrainingError(f"the photos have a {data.fov_deg:g}-degree field of view: only panoramas can be cut "
                                f"to several (--fov {params.fov_text}); give one --fov")
        gen = torch.Generator().manual_seed(params.seed + VAL_SEED_OFFSET)
        self.val_batches = list(self._batches(self.val, torch.arange(len(self.val)), gen))
        self.optimizer = torch.optim.Adam([p for p in self.model.parameters() if p.requires_grad], lr=params.lr)
        self.epoch, self.history, self.stale = 0, [], 0
        self.best_val, self.best_state, self.best_epoch = math.inf, None, -1

    def _batches(self, data: TwinData, order: torch.Tensor, generator: torch.Generator) -> Iterator[Batch]:
        """(indices, photos cut to the batch's field of view) per batch."""
        for idx, crops, _ in fov_batches(data.photos, data.heading, data.fov_deg, self.widths, order,
                                         self.params.batch_size, generator):
            yield idx, crops

    def _pass(self, tiles: torch.Tensor, batches: Iterable[Batch], train: bool,
              cancel: CancelCheck | None = None) -> float:
        total, count = 0.0, 0
        scaler = torch.amp.GradScaler("cuda", enabled=train and self.device.type == "cuda")
        for idx, photos in batches:
            check_cancel(cancel)
            x = ((tiles[idx] - self.mean) / self.std).to(self.device)
            g = photos.to(self.device)
            with torch.set_grad_enabled(train), autocast_context(self.device):
                loss = soft_margin_triplet(pair_distances(self.model.ground(g), self.model.overhead(x)),
                                           self.params.alpha)
            if train:
                self.optimizer.zero_grad(set_to_none=True)
                scaler.scale(loss).backward()
                scaler.step(self.optimizer)
                scaler.update()
            total, count = total + float(loss.detach()) * len(idx), count + len(idx)
        return total / max(count, 1)

    def run_epoch(self, cancel: CancelCheck | None = None) -> dict[str, Any]:
        gen = epoch_generator(self.params.seed, self.epoch)
        order = torch.randperm(len(self.train), generator=gen)
        self.model.train()
        train = self._pass(self.train.tiles, self._batches(self.train, order, gen), True, cancel)
        self.model.eval()
        val = self._pass(self.val.tiles, self.val_batches, False, cancel)
        self.epoch += 1
        row = {"epoch": self.epoch, "stage": 1, "train_loss": train, "val_loss": val}
        self.history.append(row)
        if val < self.best_val:
            self.best_val, self.best_epoch, self.stale = val, self.epoch, 0
            self.best_state = copy.deepcopy(self.model.state_dict())
        else:
            self.stale += 1
        return row

    @property
    def done(self) -> bool:
        return self.epoch >= self.params.epochs or self.stale >= self.params.patience

    def save_checkpoint(self) -> None:
        state = {"epoch": self.epoch, "model": self.model.state_dict(), "optimizer": self.optimizer.state_dict(),
                 "best_val": self.best_val, "best_epoch": self.best_epoch, "best_state": self.best_state or {},
                 "stale": self.stale, "history": json.dumps(self.history), "params": _params_key(self.params)}
        with atomic_output(checkpoint_path(self.out)) as tmp:
            torch.save(state, tmp)

    def load_checkpoint(self) -> None:
        state = read_checkpoint(checkpoint_path(self.out), _params_key(self.params), "--epochs")
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.epoch, self.stale, self.best_epoch = int(state["epoch"]), int(state["stale"]), int(state["best_epoch"])
        self.best_val, self.best_state = float(state["best_val"]), state["best_state"] or None
        self.history = json.loads(state["history"])


def _params_key(params: TwinParams) -> str:
    data = asdict(params)
    data.pop("epochs")
    return json.dumps(data, sort_keys=True)


def twin_outputs(out: Path) -> list[Path]:
    return [out, out.with_suffix(".log.csv"), out.with_suffix(".loss.png"), checkpoint_path(out)]


def train_twin(pairs_csv: str | Path, raster: str | Path | None, out: str | Path, params: TwinParams,
               device: torch.device | str = "cpu", resume: bool = False, overwrite: bool = False,
               progress: ProgressCallback | None = None, on_epoch: EpochCallback | None = None,
               cancel: CancelCheck | None = None) -> dict[str, Any]:
    """Train a twin model on a pairs CSV and a raster (or the CSV's tile images); writes the model, log CSV,
    loss PNG; returns a summary."""
    from xview_engine.data.pairs import read_pairs
    from xview_engine.model.file import save_model
    from xview_engine.training.run import is_synthetic
    from xview_engine.training.twin_data import build_twin_data

    out, device = Path(out), torch.device(device)
    params.check()
    check_outputs_free([out], overwrite)
    check_outputs_free(twin_outputs(out)[1:], overwrite or resume)
    manifest = twin_manifest(params.branch, params.tile_px, params.gsd_m, params.polar_h, params.polar_w)
    data = build_twin_data(read_pairs(pairs_csv), manifest, raster, params.seed, progress, cancel)
    trainer = TwinTrainer(manifest, params, data, out, device)
    if resume:
        trainer.load_checkpoint()
    log_csv = run_epochs(trainer, out, lambda: not trainer.done, lambda: trainer.run_epoch(cancel), on_epoch)
    loss_png = out.with_suffix(".loss.png")
    training = {"pairs": Path(pairs_csv).name, "overhead": Path(raster).name if raster else "tile images",
                "synthetic": bool(raster) and is_synthetic(raster),
                "recipe": "DSM soft-margin triplet, every in-batch pair a negative both ways", **asdict(params),
                "train_fov_text": params.fov_text,
                "photo_fov": data.fov_deg, "best_epoch": trainer.best_epoch, "best_val_loss": trainer.best_val,
                "train_pairs": len(trainer.train), "val_pairs": len(trainer.val)}
    save_model(trainer.model.cpu(), replace(manifest, training=training), out)
    plot_loss_curves(loss_png, trainer.history, title=f"xview train twin: {out.name}",
                     panels={1: ("soft-margin triplet loss", "twin network")})
    return {"model": out, "log_csv": log_csv, "loss_png": loss_png, "best_epoch": trainer.best_epoch,
            "best_val_loss": trainer.best_val, "epochs_run": trainer.epoch}
