"""Cross-view distillation, the seed's two-stage recipe: pre-train the encoder, then fit the heads.

Stage 1 trains encoder and heads to predict the teachers' categorical distributions (KL); stage 2
freezes the encoder (BatchNorm statistics included) and trains the heads with the NLL of the
teachers' outputs under the predicted Dirichlet / Poisson distributions. Adam (lr 1e-3, weight
decay 5e-4), batch 32, random flips; every number is a ``DistillParams`` field. Each epoch is
validated; the model file keeps the best stage-2 epoch. A checkpoint beside the output (weights,
optimizer, history; loaded with ``weights_only=True``) lets ``--resume`` continue an interrupted run
exactly: epoch randomness depends only on (seed, epoch).
"""

from __future__ import annotations

import copy
import json
import math
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import torch

from xview_engine.data.label_files import KIND_DISTRIBUTIONS
from xview_engine.errors import TrainingError
from xview_engine.model.manifest import BackboneSpec, HeadSpec, InputSpec, Manifest
from xview_engine.progress import CancelCheck
from xview_engine.training.checkpoint import read_checkpoint, run_epochs, save_checkpoint
from xview_engine.training.datasets import TrainingData
from xview_engine.training.log import plot_loss_curves
from xview_engine.training.loop import EpochData, Pass, StepCallback, epoch_generator, run_pass
from xview_engine.training.losses import head_losses, pretrain_losses, pretrainable
from xview_engine.training.priors import PRIOR_HEADS, start_at_prior

EpochCallback = Callable[[dict[str, Any]], None]


@dataclass(frozen=True)
class DistillParams:
    """The recipe; defaults are the seed's except the backbone and epochs (CPU-first)."""

    backbone: str = "resnet50"
    backbone_options: dict[str, Any] = field(default_factory=dict)
    backbone_weights: str | None = None  # torchvision .pth to start the encoder from
    tile_px: int = 224
    gsd_m: float = 0.5
    hidden: int = 1024
    baseline: bool = False  # mean-only heads for categorical spaces (the approach the seed improves on)
    epochs_pretrain: int = 3
    epochs_heads: int = 3
    lr: float = 1e-3
    weight_decay: float = 5e-4
    batch_size: int = 32
    flips: bool = True
    rot90: bool = False
    seed: int = 0
    time_features: tuple[str, ...] = ()  # a time-aware model: P(attribute | overhead, time), e.g. ('month', 'hour')

    @property
    def epochs(self) -> int:
        return self.epochs_pretrain + self.epochs_heads

    def check(self) -> None:
        if self.epochs_heads < 1 or self.epochs_pretrain < 0:
            raise TrainingError("--epochs-heads must be >= 1 and --epochs-pretrain >= 0")
        if self.batch_size < 2 or not (self.lr > 0) or self.weight_decay < 0:
            raise TrainingError("--batch-size must be >= 2, --lr > 0 and --weight-decay >= 0")


@dataclass
class DistillResult:
    model_path: Path
    log_csv: Path
    loss_png: Path
    history: list[dict[str, Any]]
    best_epoch: int
    best_val: dict[str, float]


def make_manifest(params: DistillParams, names: dict[str, tuple[str, ...]], kinds: dict[str, str],
                  spaces: dict[str, str]) -> Manifest:
    """Heads from the label file: categorical -> Dirichlet (or mean-only), counts -> Poisson, fraction ->
    Beta, binary -> Bernoulli, continuous -> Gaussian (``label_files.KIND_DISTRIBUTIONS``)."""
    distributions = {**KIND_DISTRIBUTIONS, "categorical": "mean" if params.baseline else "dirichlet"}
    heads = tuple(HeadSpec(h, distributions[kinds[h]], names[h], spaces.get(h, "custom")) for h in names)
    manifest = Manifest(kind="distill", backbone=BackboneSpec(params.backbone, dict(params.backbone_options)),
                        input=InputSpec(tile_px=params.tile_px, gsd_m=params.gsd_m), heads=heads, hidden=params.hidden,
                        time_features=tuple(params.time_features))
    manifest.validate()
    return manifest


def checkpoint_path(model_path: Path) -> Path:
    return model_path.with_name(model_path.name + ".ckpt")


class DistillTrainer:
    """Holds the run's state between epochs; ``run`` does the whole schedule."""

    def __init__(self, manifest: Manifest, params: DistillParams, data: TrainingData, out: Path,
                 device: torch.device):
        from xview_engine.model.backbones import load_backbone_weights
        from xview_engine.model.crossview import build_model

        params.check()
        self.manifest, self.params, self.out, self.device = manifest, params, Path(out), device
        self.model = build_model(manifest, seed=params.seed).to(device)
        if params.backbone_weights:
            load_backbone_weights(self.model.backbone, params.backbone_weights)
        if not (data.split == "train").any() or not (data.split == "val").any():
            raise TrainingError("training needs tiles in both the train and val splits")
        if params.epochs_pretrain and not pretrainable(manifest):
            raise TrainingError("stage 1 pre-trains the encoder on categorical or attribute heads and this model has "
                                "only count heads: give --epochs-pretrain 0")
        train, val = data.subset("train"), data.subset("val")
        self.train = EpochData.from_arrays(train.tiles, train.targets, train.times)
        for spec in manifest.heads:
            if spec.distribution in PRIOR_HEADS:
                start_at_prior(self.model.heads[spec.name], spec.distribution, self.train.targets[spec.name])
        self.val = EpochData.from_arrays(val.tiles, val.targets, val.times)
        inp = manifest.input
        self.setup = Pass(torch.tensor(inp.mean).view(1, -1, 1, 1), torch.tensor(inp.std).view(1, -1, 1, 1), device,
                          params.batch_size, params.flips, params.rot90)
        self.epoch, self.history = 0, []
        self.best_val, self.best_state, self.best_epoch = math.inf, None, -1
        self.optimizer = self._optimizer(self._stage(0))

    def _stage(self, epoch: int) -> int:
        return 1 if epoch < self.params.epochs_pretrain else 2

    def _optimizer(self, stage: int) -> torch.optim.Optimizer:
        """Stage 1 trains everything; stage 2 only the heads (the encoder is frozen)."""
        self.model.backbone.requires_grad_(stage == 1)
        trainable = self.model.parameters() if stage == 1 else self.model.heads.parameters()
        return torch.optim.Adam(trainable, lr=self.params.lr, weight_decay=self.params.weight_decay)

    def _loss_fn(self, stage: int):
        losses = pretrain_losses if stage == 1 else head_losses
        return lambda outputs, targets: losses(self.manifest, outputs, targets)

    def run_epoch(self, on_step: StepCallback | None = None, cancel: CancelCheck | None = None) -> dict[str, Any]:
        stage = self._stage(self.epoch)
        self.model.train()
        if stage == 2:
            self.model.backbone.eval()  # frozen: BatchNorm keeps its statistics
        gen = epoch_generator(self.params.seed, self.epoch)
        train = run_pass(self.model, self.train, self._loss_fn(stage), self.setup, self.optimizer, gen, on_step, cancel)
        self.model.eval()
        val = run_pass(self.model, self.val, self._loss_fn(stage), self.setup, cancel=cancel)
        row = {"epoch": self.epoch + 1, "stage": stage, "train_loss": train["total"], "val_loss": val["total"],
               **{f"val_{h}": v for h, v in val.items() if h != "total"}}
        self.history.append(row)
        if val["total"] < self.best_val:
            self.best_val, self.best_epoch = val["total"], self.epoch + 1
            self.best_state = copy.deepcopy(self.model.state_dict())
        self.epoch += 1
        if self.epoch == self.params.epochs_pretrain and self.epoch < self.params.epochs:
            self._start_stage2()
        return row

    def _start_stage2(self) -> None:
        """Continue from the best pre-trained encoder; stage-2 bests are NLLs, not KLs."""
        if self.best_state is not None:
            self.model.load_state_dict(self.best_state)
        self.best_val, self.best_state, self.best_epoch = math.inf, None, -1
        self.optimizer = self._optimizer(2)

    def state(self) -> dict[str, Any]:
        return {"epoch": self.epoch, "model": self.model.state_dict(), "optimizer": self.optimizer.state_dict(),
                "best_val": self.best_val, "best_epoch": self.best_epoch, "best_state": self.best_state or {},
                "history": json.dumps(self.history), "params": _params_key(self.params)}

    def save_checkpoint(self) -> Path:
        return save_checkpoint(checkpoint_path(self.out), self.state())

    def load_checkpoint(self) -> None:
        state = read_checkpoint(checkpoint_path(self.out), _params_key(self.params))
        self.epoch = int(state["epoch"])
        self.optimizer = self._optimizer(self._stage(self.epoch))
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.best_val, self.best_epoch = float(state["best_val"]), int(state["best_epoch"])
        self.best_state = state["best_state"] or None
        self.history = json.loads(state["history"])


def _recipe(params: DistillParams) -> dict[str, Any]:
    """The params as recorded; a time-blind recipe without the empty ``time_features`` (as before they existed)."""
    data = asdict(params)
    if not data["time_features"]:
        del data["time_features"]
    return data


def _params_key(params: DistillParams) -> str:
    """Options that must match for a resume (epoch counts may be raised to train longer)."""
    data = _recipe(params)
    data.pop("epochs_heads")
    return json.dumps(data, sort_keys=True, default=str)


def train_distill(data: TrainingData, manifest: Manifest, params: DistillParams, out: str | Path,
                  device: torch.device, resume: bool = False, provenance: dict[str, Any] | None = None,
                  on_step: StepCallback | None = None, on_epoch: EpochCallback | None = None,
                  cancel: CancelCheck | None = None) -> DistillResult:
    """Run (or continue) the schedule; write the best model, the log CSV and the loss PNG beside ``out``."""
    from xview_engine.model.file import save_model

    out = Path(out)
    trainer = DistillTrainer(manifest, params, data, out, device)
    if resume:
        trainer.load_checkpoint()
    log_csv = run_epochs(trainer, out, lambda: trainer.epoch < params.epochs,
                         lambda: trainer.run_epoch(on_step, cancel), on_epoch)
    loss_png = out.with_suffix(".loss.png")
    best = next(r for r in trainer.history if r["epoch"] == trainer.best_epoch)
    best_val = {k[4:]: v for k, v in best.items() if k.startswith("val_") and k != "val_loss"}
    training = {**(provenance or {}), "recipe": "two-stage distillation (KL pre-training, frozen encoder, NLL heads)",
                **{k: v for k, v in _recipe(params).items() if k not in ("backbone", "backbone_options")},
                "best_epoch": trainer.best_epoch, "val_loss_per_head": best_val,
                "train_tiles": len(trainer.train), "val_tiles": len(trainer.val)}
    final = replace(manifest, training=json.loads(json.dumps(training, default=str)))
    save_model(trainer.model.cpu(), final, out)
    plot_loss_curves(loss_png, trainer.history, title=f"xview train distill: {out.name}")
    return DistillResult(out, log_csv, loss_png, trainer.history, trainer.best_epoch, best_val)
