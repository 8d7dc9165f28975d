"""`xview train siamese`: the Where-CNN recipe, a Siamese embedding trained on matched / unmatched pairs.

Data: every photo of the pairs CSV with the overhead tile cut around its position (the mapping
source, at the model GSD, as for distillation). Each epoch draws its unmatched pairs afresh,
seeded by (seed, epoch) (``contrastive.sample_pairs``); validation pairs are drawn once from the
val split. Adam, random flips of the tiles, CUDA + float16 autocast when present. The model file
keeps the best validation epoch and a logistic calibration of distance -> P(same place) fitted on
the validation pairs. A checkpoint beside the output (``weights_only=True`` on load) lets
``--resume`` continue an interrupted run exactly.
"""

from __future__ import annotations

import copy
import json
import math
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Callable, Optional

import numpy as np
import torch

from xview_engine.errors import TrainingError
from xview_engine.localization.verification import PairSample, sample_pairs
from xview_engine.model.device import autocast_context
from xview_engine.model.manifest import BackboneSpec, Manifest
from xview_engine.model.siamese import build_siamese, siamese_manifest
from xview_engine.outputs import check_outputs_free
from xview_engine.progress import CancelCheck, ProgressCallback, check_cancel
from xview_engine.training.checkpoint import read_checkpoint, save_checkpoint
from xview_engine.training.contrastive import contrastive_loss, fit_calibration
from xview_engine.training.loop import augment, epoch_generator

EpochCallback = Callable[[dict[str, Any]], None]


@dataclass(frozen=True)
class SiameseParams:
    backbone: str = "resnet18"
    backbone_options: dict[str, Any] = field(default_factory=dict)
    backbone_weights: Optional[str] = None  # torchvision .pth for every branch's backbone
    domain_specific: bool = False
    dim: int = 128
    tile_px: int = 224
    gsd_m: float = 0.5
    photo_px: tuple[int, int] = (128, 256)
    margin: float = 1.0
    negatives: int = 20
    min_distance_m: float = 100.0
    epochs: int = 5
    lr: float = 1e-3
    weight_decay: float = 5e-4
    batch_size: int = 64
    flips: bool = True
    seed: int = 0

    def check(self) -> None:
        if self.epochs < 1 or self.batch_size < 2 or not self.lr > 0 or self.weight_decay < 0:
            raise TrainingError("--epochs must be >= 1, --batch-size >= 2, --lr > 0 and --weight-decay >= 0")
        if not 0 < self.margin <= 2:
            raise TrainingError(f"--margin {self.margin:g} must be in (0, 2]: unit embeddings are at most 2 apart")
        if self.negatives < 1 or self.min_distance_m < 0 or self.dim < 2:
            raise TrainingError("--negatives must be >= 1, --min-distance-m >= 0 and --dim >= 2")


@dataclass
class SiameseData:
    """Per photo: its normalised photo batch row, its overhead tile in [0, 1], split and position."""

    photos: torch.Tensor
    tiles: torch.Tensor
    split: np.ndarray
    lonlat: np.ndarray

    def distances(self, rows: np.ndarray) -> np.ndarray:
        from xview_engine.localization.metrics import geodesic_m

        lon, lat = self.lonlat[rows, 0], self.lonlat[rows, 1]
        return geodesic_m(lon[:, None], lat[:, None], lon[None, :], lat[None, :])


@dataclass
class SiameseResult:
    model_path: Path
    log_csv: Path
    loss_png: Path
    history: list[dict[str, Any]]
    best_epoch: int
    calibration: dict[str, float]


def outputs_of(out: Path) -> list[Path]:
    return [out, out.with_suffix(".log.csv"), out.with_suffix(".loss.png"), out.with_name(out.name + ".ckpt")]


def load_siamese_data(pairs_csv: str | Path, raster: str | Path, manifest: Manifest, seed: int,
                      progress: Optional[ProgressCallback] = None, cancel: Optional[CancelCheck] = None) -> SiameseData:
    """Photos and their tiles; photos whose tile is mostly outside the raster are dropped."""
    from xview_engine.data.pairs import read_pairs
    from xview_engine.localization.siamese import photo_tensor
    from xview_engine.teachers.base import read_photo
    from xview_engine.training.datasets import MIN_VALID_FRACTION, assign_splits, cut_raster_tiles

    pairs = read_pairs(pairs_csv)
    lon, lat = pairs.columns["lon"], pairs.columns["lat"]
    tiles, valid = cut_raster_tiles(raster, lon, lat, manifest.input, progress, cancel)
    keep = np.flatnonzero(valid >= MIN_VALID_FRACTION)
    if keep.size == 0:
        raise TrainingError(f"no photo of {pairs_csv} lies inside the overhead raster {raster}")
    photos = photo_tensor([read_photo(pairs.photos[i]) for i in keep], manifest)
    split = assign_splits(pairs, seed)[keep]
    for name in ("train", "val"):
        if (split == name).sum() < 2:
            raise TrainingError(f"Siamese training needs at least two photos in the {name} split")
    return SiameseData(photos, torch.from_numpy(tiles[keep]), split, np.column_stack([lon[keep], lat[keep]]))


class SiameseTrainer:
    """The run's state between epochs: model, optimizer, history, best epoch."""

    def __init__(self, manifest: Manifest, params: SiameseParams, data: SiameseData, device: torch.device):
        from xview_engine.model.backbones import load_backbone_weights

        self.manifest, self.params, self.data, self.device = manifest, params, data, device
        self.model = build_siamese(manifest, seed=params.seed).to(device)
        if params.backbone_weights:
            for branch in self.model.branches.values():
                load_backbone_weights(branch.backbone, params.backbone_weights)
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=params.lr, weight_decay=params.weight_decay)
        self.scaler = torch.amp.GradScaler("cuda", enabled=device.type == "cuda")
        inp = manifest.input
        self.mean = torch.tensor(inp.mean).view(1, -1, 1, 1)
        self.std = torch.tensor(inp.std).view(1, -1, 1, 1)
        self.train_rows = np.flatnonzero(data.split == "train")
        self.val_rows = np.flatnonzero(data.split == "val")
        self.train_dist = data.distances(self.train_rows)
        self.val_pairs = self._pairs(self.val_rows, data.distances(self.val_rows), params.seed)
        self.epoch, self.history = 0, []
        self.best_val, self.best_state, self.best_epoch = math.inf, None, -1

    def _pairs(self, rows: np.ndarray, dist: np.ndarray, seed: int) -> PairSample:
        p = sample_pairs(dist, np.arange(len(rows)), self.params.negatives, self.params.min_distance_m, seed)
        return PairSample(rows[p.photo], rows[p.tile], p.label)

    def _distances(self, pairs: PairSample, idx: np.ndarray, generator: Optional[torch.Generator]) -> torch.Tensor:
        tiles = self.data.tiles[pairs.tile[idx]]
        if generator is not None and self.params.flips:
            tiles = augment(tiles, generator, True, False)
        tiles = ((tiles - self.mean) / self.std).to(self.device, non_blocking=True)
        photos = self.data.photos[pairs.photo[idx]].to(self.device, non_blocking=True)
        with autocast_context(self.device):
            return self.model(tiles)["embedding"], self.model.ground(photos)

    def run_pass(self, pairs: PairSample, training: bool,
                 cancel: Optional[CancelCheck] = None) -> tuple[float, np.ndarray]:
        """Mean contrastive loss over the pairs, and every pair's embedding distance."""
        gen = epoch_generator(self.params.seed, self.epoch) if training else None
        order = torch.randperm(len(pairs), generator=gen).numpy() if training else np.arange(len(pairs))
        self.model.train(training)
        total, distances = 0.0, np.zeros(len(pairs), np.float32)
        for start in range(0, len(pairs), self.params.batch_size):
            check_cancel(cancel)
            idx = order[start:start + self.params.batch_size]
            label = torch.from_numpy(pairs.label[idx]).to(self.device)
            with torch.set_grad_enabled(training):
                a, g = self._distances(pairs, idx, gen)
                loss = contrastive_loss(a, g, label, self.params.margin)
            if training:
                self.optimizer.zero_grad(set_to_none=True)
                self.scaler.scale(loss).backward()
                self.scaler.step(self.optimizer)
                self.scaler.update()
            total += float(loss.detach()) * len(idx)
            distances[idx] = torch.linalg.vector_norm(a.detach().float() - g.detach().float(), dim=1).cpu().numpy()
        return total / len(pairs), distances

    def run_epoch(self, cancel: Optional[CancelCheck] = None) -> dict[str, Any]:
        pairs = self._pairs(self.train_rows, self.train_dist, self.params.seed * 100_003 + self.epoch)
        train, _ = self.run_pass(pairs, True, cancel)
        val, dist = self.run_pass(self.val_pairs, False, cancel)
        matched = self.val_pairs.label == 1
        row = {"epoch": self.epoch + 1, "stage": 1, "train_loss": train, "val_loss": val,
               "val_matched_distance": float(dist[matched].mean()),
               "val_unmatched_distance": float(dist[~matched].mean())}
        self.history.append(row)
        if val < self.best_val:
            self.best_val, self.best_epoch = val, self.epoch + 1
            self.best_state = copy.deepcopy(self.model.state_dict())
        self.epoch += 1
        return row

    def state(self) -> dict[str, Any]:
        return {"epoch": self.epoch, "model": self.model.state_dict(), "optimizer": self.optimizer.state_dict(),
                "best_val": self.best_val, "best_epoch": self.best_epoch, "best_state": self.best_state or {},
                "history": json.dumps(self.history), "params": _params_key(self.params)}

    def load(self, path: Path) -> None:
        state = read_checkpoint(path, _params_key(self.params), "--epochs")
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.epoch, self.best_val = int(state["epoch"]), float(state["best_val"])
        self.best_epoch = int(state["best_epoch"])
        self.best_state, self.history = state["best_state"] or None, json.loads(state["history"])


def _params_key(params: SiameseParams) -> str:
    data = asdict(params)
    data.pop("epochs")
    return json.dumps(data, sort_keys=True, default=str)


def train_siamese(pairs_csv: str | Path, raster: str | Path, out: str | Path, params: SiameseParams,
                  device: torch.device | str = "cpu", resume: bool = False, overwrite: bool = False,
                  progress: Optional[ProgressCallback] = None, on_epoch: Optional[EpochCallback] = None,
                  cancel: Optional[CancelCheck] = None) -> SiameseResult:
    """Train, keep the best epoch, calibrate on the validation pairs, write model + log CSV + loss PNG."""
    from xview_engine.model.file import save_model
    from xview_engine.training.log import plot_loss_curves, write_log_csv

    params.check()
    out = Path(out)
    paths = outputs_of(out)
    check_outputs_free(paths[:1], overwrite)
    check_outputs_free(paths[1:], overwrite or resume)
    device = torch.device(device)
    manifest = siamese_manifest(BackboneSpec(params.backbone, dict(params.backbone_options)), params.tile_px,
                                params.gsd_m, params.dim, not params.domain_specific, params.photo_px)
    data = load_siamese_data(pairs_csv, raster, manifest, params.seed, progress, cancel)
    trainer = SiameseTrainer(manifest, params, data, device)
    if resume:
        trainer.load(paths[3])
    while trainer.epoch < params.epochs:
        row = trainer.run_epoch(cancel)
        save_checkpoint(paths[3], trainer.state())
        write_log_csv(paths[1], trainer.history)
        if on_epoch is not None:
            on_epoch(row)
    if trainer.best_state is None:
        raise TrainingError("training diverged: the validation loss was never finite; lower --lr")
    trainer.model.load_state_dict(trainer.best_state)
    _, dist = trainer.run_pass(trainer.val_pairs, False, cancel)
    calibration = fit_calibration(dist, trainer.val_pairs.label)
    training = {"recipe": "Siamese contrastive (Where-CNN)", "pairs": Path(pairs_csv).name,
                "overhead": Path(raster).name, **{k: v for k, v in asdict(params).items() if k != "backbone_options"},
                "best_epoch": trainer.best_epoch, "val_loss": trainer.best_val, "train_photos": len(trainer.train_rows),
                "val_photos": len(trainer.val_rows)}
    final = replace(manifest, training=json.loads(json.dumps(training, default=str)),
                    network={**manifest.network, "calibration": calibration})
    save_model(trainer.model.cpu(), final, out)
    plot_loss_curves(paths[2], trainer.history, title=f"xview train siamese: {out.name}",
                     ylabel="contrastive loss")
    return SiameseResult(out, paths[1], paths[2], trainer.history, trainer.best_epoch, calibration)
