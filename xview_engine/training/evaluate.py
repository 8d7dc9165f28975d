"""Held-out figures: NLL per head of a model against a constant-prior baseline, on the test split.

The constant prior is the best single distribution for every tile (a Dirichlet fitted by maximum
likelihood to the training labels; a Poisson rate = the training mean): a model that beats it has
learnt something from the overhead pixels. The mean-only baseline predicts no spread, so to score
it as a density its mean is given the single concentration that fits the validation split best
(alpha = s * mean); this measures what a per-tile Dirichlet spread adds beyond the mean.
"""

from __future__ import annotations

import numpy as np
import torch

from xview_engine.model.distributions import dirichlet_log_prob, dirichlet_mean, poisson_log_prob
from xview_engine.model.manifest import Manifest

CONCENTRATIONS = np.logspace(-1, 4, 101)


@torch.inference_mode()
def predict_tiles(model: torch.nn.Module, manifest: Manifest, tiles: np.ndarray, batch_size: int = 256,
                  device: torch.device | str = "cpu", times: np.ndarray | None = None) -> dict[str, torch.Tensor]:
    """Head parameters for [0, 1] tiles, normalised as the manifest says (a time-aware model: at ``times``,
    one row of cyclic features per tile)."""
    mean = torch.tensor(manifest.input.mean).view(1, -1, 1, 1)
    std = torch.tensor(manifest.input.std).view(1, -1, 1, 1)
    model = model.to(device).eval()
    parts: dict[str, list[torch.Tensor]] = {}
    for start in range(0, len(tiles), batch_size):
        x = (torch.from_numpy(tiles[start:start + batch_size]) - mean) / std
        t = None if times is None else torch.from_numpy(times[start:start + batch_size]).to(device)
        for name, value in (model(x.to(device)) if t is None else model(x.to(device), t)).items():
            parts.setdefault(name, []).append(value.float().cpu())
    return {name: torch.cat(values) for name, values in parts.items()}


def fit_dirichlet(p: torch.Tensor, steps: int = 400) -> torch.Tensor:
    """Maximum-likelihood Dirichlet alpha for rows p (Adam on log alpha from a moment-matched start)."""
    m = p.mean(0)
    var = p.var(0).clamp_min(1e-8)
    s0 = float(((m * (1 - m)) / var - 1).clamp_min(1e-2).median())
    log_alpha = torch.log(m.clamp_min(1e-6) * s0).clone().requires_grad_(True)
    optimizer = torch.optim.Adam([log_alpha], lr=0.05)
    for _ in range(steps):
        optimizer.zero_grad()
        loss = -dirichlet_log_prob(log_alpha.exp(), p).mean()
        loss.backward()
        optimizer.step()
    return log_alpha.detach().exp()


def constant_prior_nll(kind: str, train: torch.Tensor, test: torch.Tensor) -> float:
    """NLL on ``test`` of the single distribution fitted to ``train``."""
    if kind == "categorical":
        alpha = fit_dirichlet(train)
        return float(-dirichlet_log_prob(alpha.expand_as(test), test).mean())
    rate = train.mean(0).clamp_min(1e-4)
    return float(-poisson_log_prob(rate.expand_as(test), test).sum(-1).mean())


def best_concentration(mean: torch.Tensor, p: torch.Tensor) -> float:
    """The single s for which Dir(s * mean) fits rows p best (the mean-only head has no spread of its own)."""
    nll = [float(-dirichlet_log_prob(s * mean.clamp_min(1e-6), p).mean()) for s in CONCENTRATIONS]
    return float(CONCENTRATIONS[int(np.argmin(nll))])


def model_nll(distribution: str, params: torch.Tensor, target: torch.Tensor,
              concentration: float | None = None) -> float:
    if distribution == "dirichlet":
        return float(-dirichlet_log_prob(params, target).mean())
    if distribution == "poisson":
        return float(-poisson_log_prob(params, target).sum(-1).mean())
    return float(-dirichlet_log_prob(concentration * params.clamp_min(1e-6), target).mean())


def evaluate_heads(model: torch.nn.Module, manifest: Manifest, train, val, test) -> dict[str, dict[str, float]]:
    """Per head: test NLL of the model, of the constant prior, and the mean's squared error.

    ``train``, ``val``, ``test`` are ``TrainingData`` splits.
    """
    pred_val = predict_tiles(model, manifest, val.tiles, times=val.times)
    pred_test = predict_tiles(model, manifest, test.tiles, times=test.times)
    report: dict[str, dict[str, float]] = {}
    for spec in manifest.heads:
        target = torch.from_numpy(test.targets[spec.name])
        kind = "counts" if spec.distribution == "poisson" else "categorical"
        row = {"constant_prior_nll": constant_prior_nll(kind, torch.from_numpy(train.targets[spec.name]), target)}
        s = None
        if spec.distribution == "mean":
            s = best_concentration(pred_val[spec.name], torch.from_numpy(val.targets[spec.name]))
            row["fitted_concentration"] = s
        row["model_nll"] = model_nll(spec.distribution, pred_test[spec.name], target, s)
        if kind == "categorical":
            mean = dirichlet_mean(pred_test[spec.name]) if spec.distribution == "dirichlet" else pred_test[spec.name]
            row["mean_squared_error"] = float(((mean - target) ** 2).sum(-1).mean())
        report[spec.name] = row
    return report


def format_report(report: dict[str, dict[str, float]]) -> list[str]:
    """One line per head, for the terminal and the README."""
    lines = []
    for head, row in report.items():
        extra = f", mean sq. error {row['mean_squared_error']:.4f}" if "mean_squared_error" in row else ""
        lines.append(f"{head}: test NLL {row['model_nll']:.3f} vs constant prior {row['constant_prior_nll']:.3f}"
                     f"{extra}")
    return lines
