"""Training checkpoints: written atomically with ``torch.save``, read back with ``weights_only=True``.

A checkpoint carries a key of the training options that must not change between runs; ``--resume``
with other options is refused rather than silently mixing two recipes.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import torch

from xview_engine.errors import TrainingError
from xview_engine.outputs import atomic_output


def save_checkpoint(path: Path, state: dict[str, Any]) -> Path:
    with atomic_output(path) as tmp:
        torch.save(state, tmp)
    return path


def read_checkpoint(path: Path, params_key: str, may_grow: str = "the epoch counts") -> dict[str, Any]:
    """The checkpoint's state, refused when missing, unsafe to read or made with other options."""
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
