"""Held-out figures: NLL per head of a model against a constant-prior baseline, on the test split.

The constant prior is the best single distribution for every tile (``priors``: a Dirichlet or Beta
fitted by maximum likelihood to the training labels; a Poisson rate, a Bernoulli P(yes), a Gaussian
mean and variance from the training values): a model that beats it has learnt something from the
overhead pixels. NLLs are per photo, summed over the labels of per-label heads (Poisson, Beta,
Bernoulli, Gaussian), which the report also gives per label (``model_nll_per_label``).
The mean-only baseline predicts no spread, so to score it as a density its mean is given the single
concentration that fits the validation split best (alpha = s * mean); this measures what a per-tile
Dirichlet spread adds beyond the mean.
"""

from __future__ import annotations

import numpy as np
import torch

from xview_engine.model.distributions import dirichlet_log_prob, dirichlet_mean, head_nll
from xview_engine.model.manifest import CATEGORICAL, Manifest
from xview_engine.training.priors import constant_prior_nll

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


def best_concentration(mean: torch.Tensor, p: torch.Tensor) -> float:
    """The single s for which Dir(s * mean) fits rows p best (the mean-only head has no spread of its own)."""
    nll = [float(-dirichlet_log_prob(s * mean.clamp_min(1e-6), p).mean()) for s in CONCENTRATIONS]
    return float(CONCENTRATIONS[int(np.argmin(nll))])


def model_nll(distribution: str, params: torch.Tensor, target: torch.Tensor,
              concentration: float | None = None) -> float:
    if distribution == "mean":
        return float(-dirichlet_log_prob(concentration * params.clamp_min(1e-6), target).mean())
    return float(head_nll(distribution, params, target))


def evaluate_heads(model: torch.nn.Module, manifest: Manifest, train, val, test) -> dict[str, dict[str, float]]:
    """Per head: test NLL of the model, of the constant prior, and the mean's squared error.

    ``train``, ``val``, ``test`` are ``TrainingData`` splits.
    """
    pred_val = predict_tiles(model, manifest, val.tiles, times=val.times)
    pred_test = predict_tiles(model, manifest, test.tiles, times=test.times)
    report: dict[str, dict[str, float]] = {}
    for spec in manifest.heads:
        target = torch.from_numpy(test.targets[spec.name])
        row = {"constant_prior_nll": constant_prior_nll(spec.distribution, torch.from_numpy(train.targets[spec.name]),
                                                        target)}
        s = None
        if spec.distribution == "mean":
            s = best_concentration(pred_val[spec.name], torch.from_numpy(val.targets[spec.name]))
            row["fitted_concentration"] = s
        row["model_nll"] = model_nll(spec.distribution, pred_test[spec.name], target, s)
        if spec.distribution not in CATEGORICAL:
            row["model_nll_per_label"] = row["model_nll"] / spec.num_classes
            row["constant_prior_nll_per_label"] = row["constant_prior_nll"] / spec.num_classes
        if spec.distribution in CATEGORICAL:
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
