"""Training log: one CSV row per epoch and a loss-curve PNG, so a run can be judged after the fact.

Rows hold the epoch, the stage (1 = encoder pre-training with KL, 2 = heads with NLL), the mean
training loss, the validation loss and the validation loss per head. The PNG is drawn with
matplotlib's Agg backend (no display needed), one panel per stage since their losses differ in kind.
"""

from __future__ import annotations

import csv
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from xview_engine.outputs import atomic_output


def write_log_csv(path: str | Path, history: Sequence[dict[str, Any]]) -> Path:
    """All rows so far (rewritten each epoch, atomically); columns are the union of the rows' keys."""
    columns: list[str] = []
    for row in history:
        columns += [k for k in row if k not in columns]
    with atomic_output(path) as tmp, open(tmp, "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=columns, lineterminator="\n")
        writer.writeheader()
        for row in history:
            writer.writerow({k: (f"{v:.6g}" if isinstance(v, float) else v) for k, v in row.items()})
    return Path(path)


DISTILL_PANELS = {1: ("KL divergence", "encoder pre-training"), 2: ("NLL (sum over heads)", "distribution heads")}


def plot_loss_curves(path: str | Path, history: Sequence[dict[str, Any]], title: str = "xview training",
                     ylabel: str | None = None, panels: Mapping[int, tuple[str, str]] = DISTILL_PANELS) -> Path:
    """Train and validation loss per epoch, one panel per stage (``panels``: stage -> (y label, name));
    a one-stage run may name its loss with ``ylabel`` instead."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    stages = sorted({row["stage"] for row in history})
    fig = Figure(figsize=(4.5 * max(1, len(stages)), 3.6), dpi=100)
    for i, stage in enumerate(stages):
        ax = fig.add_subplot(1, len(stages), i + 1)
        rows = [r for r in history if r["stage"] == stage]
        epochs = [r["epoch"] for r in rows]
        ax.plot(epochs, [r["train_loss"] for r in rows], "o-", label="train")
        ax.plot(epochs, [r["val_loss"] for r in rows], "s-", label="validation")
        ax.set_xlabel("epoch")
        if ylabel:
            ax.set_ylabel(ylabel)
        else:
            ax.set_ylabel(panels[stage][0])
            ax.set_title(f"stage {stage}: {panels[stage][1]}")
        ax.grid(alpha=0.3)
        ax.legend()
    fig.suptitle(title)
    fig.tight_layout()
    with atomic_output(path) as tmp:
        fig.savefig(tmp, format="png")
    return Path(path)
