"""The contrastive loss and the distance calibration of the Siamese trainer.

Lin et al. train on matched pairs (a photo and the tile it was taken in) and about 20 times as many
unmatched ones (``localization.verification.sample_pairs``: drawn, seeded, at least a minimum
distance away, so that an overlapping near-duplicate tile is never taught as a negative). The loss is
``y d^2 + (1 - y) max(0, m - d)^2`` with d the embedding distance and m the margin. After
training, a logistic curve P(same place | d) is fitted on the validation pairs; its slope is kept
negative so that a larger distance never reads as more likely the same place.
"""

from __future__ import annotations

import numpy as np
import torch

from xview_engine.errors import TrainingError


def contrastive_loss(a: torch.Tensor, b: torch.Tensor, label: torch.Tensor, margin: float) -> torch.Tensor:
    """Mean over pairs of y d^2 + (1 - y) max(0, m - d)^2, d = ||a - b|| (Hadsell, Chopra, LeCun 2006)."""
    d = torch.linalg.vector_norm(a.float() - b.float(), dim=1)
    y = label.float()
    return (y * d**2 + (1 - y) * torch.clamp(margin - d, min=0) ** 2).mean()


def fit_calibration(distance: np.ndarray, label: np.ndarray, ridge: float = 1e-3, steps: int = 50) -> dict[str, float]:
    """Logistic regression P(y = 1 | d) = sigmoid(a + b d) by Newton's method (a light ridge on b keeps
    separable pairs finite); b is kept negative. Returns ``{"intercept": a, "slope": b}``."""
    d = np.asarray(distance, np.float64)
    y = np.asarray(label, np.float64)
    if not (0 < y.sum() < len(y)):
        raise TrainingError("the calibration needs matched and unmatched validation pairs")
    x = np.column_stack([np.ones_like(d), d])
    w = np.array([np.log(y.mean() / (1 - y.mean())), 0.0])
    penalty = np.diag([0.0, ridge])
    for _ in range(steps):
        p = 1.0 / (1.0 + np.exp(-(x @ w)))
        grad = x.T @ (p - y) + penalty @ w
        hess = (x * (p * (1 - p))[:, None]).T @ x + penalty + 1e-9 * np.eye(2)
        step = np.linalg.solve(hess, grad)
        w -= step
        if np.abs(step).max() < 1e-10:
            break
    return {"intercept": float(w[0]), "slope": float(min(w[1], -1e-6))}
