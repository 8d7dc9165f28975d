"""The guts of ``xview train distill`` and ``xview train teacher``: files in, model file out."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from xview_engine.data.label_files import LabelFile, read_label_file
from xview_engine.data.pairs import read_pairs
from xview_engine.errors import TrainingError
from xview_engine.outputs import check_outputs_free
from xview_engine.progress import CancelCheck, ProgressCallback
from xview_engine.training.distill import (
    DistillParams,
    DistillResult,
    EpochCallback,
    checkpoint_path,
    make_manifest,
    train_distill,
)
from xview_engine.training.loop import StepCallback


def guess_label_space(names: tuple[str, ...]) -> str:
    """The built-in space (places365, imagenet, coco) holding every name, when exactly one does."""
    from xview_engine.model.label_spaces import BUILTIN_SPACES

    holders = [key for key, space in BUILTIN_SPACES.items() if set(names) <= set(space().names)]
    return holders[0] if len(holders) == 1 else "custom"


def is_synthetic(raster: str | Path) -> bool:
    """``xview synth`` tags its rasters SYNTHETIC=yes; a model trained on one says so in its manifest."""
    from xview_engine.model.provenance import is_synthetic_raster

    return is_synthetic_raster(raster)


def select_heads(labels: LabelFile, heads: tuple[str, ...] | None) -> tuple[str, ...]:
    if not heads:
        return labels.head_names
    unknown = [h for h in heads if h not in labels.heads]
    if unknown:
        raise TrainingError(f"--heads {','.join(unknown)} not in the label file (it has: {', '.join(labels.heads)})")
    return tuple(heads)


def distill_outputs(out: Path) -> list[Path]:
    return [out, out.with_suffix(".log.csv"), out.with_suffix(".loss.png"), checkpoint_path(out)]


def distill_from_files(pairs_csv: str | Path, labels_path: str | Path, out: str | Path, params: DistillParams, *,
                       raster: str | Path | None = None, heads: tuple[str, ...] | None = None,
                       device: torch.device | str = "cpu", resume: bool = False, overwrite: bool = False,
                       progress: ProgressCallback | None = None, on_step: StepCallback | None = None,
                       on_epoch: EpochCallback | None = None,
                       cancel: CancelCheck | None = None) -> tuple[DistillResult, dict[str, Any]]:
    """Train a distillation model; returns the result and the test-split report (empty without a test split)."""
    from xview_engine.training.datasets import build_training_data
    from xview_engine.training.evaluate import evaluate_heads

    out = Path(out)
    params.check()
    check_outputs_free([out], overwrite)
    check_outputs_free(distill_outputs(out)[1:], overwrite or resume)
    pairs, labels = read_pairs(pairs_csv), read_label_file(labels_path)
    names = select_heads(labels, heads)
    manifest = make_manifest(params, {h: labels.names[h] for h in names}, labels.kinds,
                             {h: guess_label_space(labels.names[h]) for h in names})
    data = build_training_data(pairs, labels, names, manifest.input, raster, params.seed, progress, cancel,
                               manifest.time_features)
    provenance = {"pairs": Path(pairs_csv).name, "labels": Path(labels_path).name,
                  "overhead": Path(raster).name if raster else "tile images",
                  "synthetic": bool(raster) and is_synthetic(raster)}
    result = train_distill(data, manifest, params, out, torch.device(device), resume=resume, provenance=provenance,
                           on_step=on_step, on_epoch=on_epoch, cancel=cancel)
    report: dict[str, Any] = {}
    if (data.split == "test").any():
        from xview_engine.model.file import load_model

        loaded = load_model(out)
        report = evaluate_heads(loaded.model, loaded.manifest, data.subset("train"), data.subset("val"),
                                data.subset("test"))
    return result, report


def teacher_from_files(labels_path: str | Path, out: str | Path, params, *, overwrite: bool = False,
                       on_epoch=None, progress: ProgressCallback | None = None, cancel: CancelCheck | None = None):
    """Train the synthetic teacher on a label file with true labels (``xview synth``'s labels.npz)."""
    from xview_engine.training.teacher import train_teacher

    check_outputs_free([out], overwrite)
    return train_teacher(read_label_file(labels_path), params, out, on_epoch=on_epoch, progress=progress,
                         cancel=cancel)
