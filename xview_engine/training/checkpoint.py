"""Training checkpoints beside the output model, and the epoch schedule that writes them.

A checkpoint is a dict of tensors and plain values saved by ``torch.save`` and read back with
``weights_only=True``; it records the training options that must match for ``--resume`` (the
``params`` key), so a run is only continued with the recipe it started with.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import torch

from xview_engine.errors import TrainingError


def read_checkpoint(path: Path, params_key: str, may_grow: str) -> dict[str, Any]:
    """The checkpoint at ``path``, refused when missing, unsafe or made with other options."""
    if not path.is_file():
        raise TrainingError(f"--resume: no checkpoint {path}; start without --resume")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise TrainingError(f"--resume: checkpoint {path} cannot be read safely ({exc})") from None
    if state.get("params") != params_key:
        raise TrainingError(f"--resume: checkpoint {path} was made with other training options; use the same "
                            f"options (only {may_grow} may grow) or start again without --resume")
    return state


def run_epochs(trainer: Any, out: Path, more: Callable[[], bool], epoch: Callable[[], dict[str, Any]],
               on_epoch: Callable[[dict[str, Any]], None] | None = None) -> Path:
    """Epochs while ``more()``, each checkpointed and logged to OUT.log.csv; then the best weights restored.

    ``trainer`` has ``save_checkpoint()``, ``history``, ``best_state`` and ``model``.
    """
    from xview_engine.training.log import write_log_csv

    log_csv = out.with_suffix(".log.csv")
    while more():
        row = epoch()
        trainer.save_checkpoint()
        write_log_csv(log_csv, trainer.history)
        if on_epoch is not None:
            on_epoch(row)
    if trainer.best_state is None:
        raise TrainingError("training diverged: the validation loss was never finite; lower --lr")
    trainer.model.load_state_dict(trainer.best_state)
    return log_csv
