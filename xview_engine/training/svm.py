"""An ensemble of RBF support vector machines on photo features, stored without pickle and scored by us.

Workman & Jacobs (4.1) and the "Where in the World" data curation both classify photos from
off-the-shelf features with SVMs. scikit-learn fits each member (``SVC``, RBF kernel) on a seeded,
stratified bootstrap sample of the standardised features; what is kept is only what the decision
function needs: the support vectors, their dual coefficients, the intercept and gamma of each
member, the standardisation and the two classes. The file is safetensors (tensors + a JSON
manifest), never a pickle, and scoring is our own kernel sum (``rbf_decision``), so applying a
classifier needs numpy only; a test holds it equal to scikit-learn's ``decision_function``.

Classifiers are binary: the decision is positive for ``classes[1]`` (the "positive" class, e.g.
``usable`` for the scene filter); the ensemble's score is the members' mean decision and its vote
the share of members on the positive side.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

import numpy as np

from xview_engine.errors import DependencyError, TrainingError
from xview_engine.outputs import atomic_output

MANIFEST_KEY = "xview_classifier"
FORMAT_VERSION = 1
CHUNK = 4096  # photos scored at a time (bounds the kernel matrix)


class ClassifierError(TrainingError):
    """A photo classifier file or its training data is not usable."""


@dataclass(frozen=True)
class SvmMember:
    support: np.ndarray  # (S, D) standardised support vectors
    dual: np.ndarray  # (S,) dual coefficients (signed: positive pulls towards classes[1])
    intercept: float
    gamma: float


@dataclass(frozen=True)
class SvmEnsemble:
    classes: tuple[str, str]  # (negative, positive)
    mean: np.ndarray  # (D,) standardisation
    scale: np.ndarray  # (D,)
    members: tuple[SvmMember, ...]
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def width(self) -> int:
        return int(self.mean.shape[0])

    def member_decisions(self, features: np.ndarray) -> np.ndarray:
        """(M, P) each member's decision value for each photo."""
        x = np.asarray(features, np.float64)
        if x.ndim != 2 or x.shape[1] != self.width:
            raise ClassifierError(f"the classifier takes {self.width} features per photo, got an array of shape "
                                  f"{x.shape}: use features from the same feature model and layer")
        z = (x - self.mean) / self.scale
        return np.stack([rbf_decision(z, m.support, m.dual, m.intercept, m.gamma) for m in self.members])

    def decision(self, features: np.ndarray) -> np.ndarray:
        """(P,) the members' mean decision: > 0 means ``classes[1]``."""
        return self.member_decisions(features).mean(axis=0)

    def votes(self, features: np.ndarray) -> np.ndarray:
        """(P,) share of members voting for ``classes[1]``."""
        return (self.member_decisions(features) > 0).mean(axis=0)

    def save(self, path: str | Path) -> Path:
        from safetensors.numpy import save_file

        tensors = {"mean": self.mean.astype(np.float64), "scale": self.scale.astype(np.float64)}
        for j, m in enumerate(self.members):
            tensors[f"m{j}.support"] = np.ascontiguousarray(m.support, np.float64)
            tensors[f"m{j}.dual"] = np.ascontiguousarray(m.dual, np.float64)
            tensors[f"m{j}.intercept_gamma"] = np.array([m.intercept, m.gamma], np.float64)
        manifest = {"format_version": FORMAT_VERSION, "kind": "svm_ensemble", "kernel": "rbf",
                    "classes": list(self.classes), "members": len(self.members), "width": self.width,
                    "meta": self.meta}
        with atomic_output(path) as tmp:
            save_file(tensors, str(tmp), metadata={MANIFEST_KEY: json.dumps(manifest, sort_keys=True)})
        return Path(path)

    @classmethod
    def load(cls, path: str | Path) -> SvmEnsemble:
        """Read a classifier file strictly; anything else (a pickle, another safetensors file) is refused."""
        from safetensors import SafetensorError, safe_open

        path = Path(path)
        if not path.is_file():
            raise ClassifierError(f"classifier file {path} does not exist; train one with 'xview classify train'")
        try:
            with safe_open(str(path), framework="numpy") as f:
                meta = f.metadata() or {}
                tensors = {k: f.get_tensor(k) for k in f.keys()}
        except (SafetensorError, OSError) as exc:
            raise ClassifierError(f"{path} is not a safetensors classifier file ({exc})") from None
        try:
            manifest = json.loads(meta[MANIFEST_KEY])
            if manifest["format_version"] != FORMAT_VERSION:
                raise ValueError(f"format version {manifest['format_version']} is not {FORMAT_VERSION}")
            members = tuple(SvmMember(tensors[f"m{j}.support"], tensors[f"m{j}.dual"],
                                      float(tensors[f"m{j}.intercept_gamma"][0]),
                                      float(tensors[f"m{j}.intercept_gamma"][1]))
                            for j in range(int(manifest["members"])))
            classes = tuple(str(c) for c in manifest["classes"])
            ensemble = cls(classes, tensors["mean"], tensors["scale"], members,  # type: ignore[arg-type]
                           dict(manifest.get("meta", {})))
        except (KeyError, TypeError, ValueError, IndexError, json.JSONDecodeError) as exc:
            raise ClassifierError(f"{path} is not an xview photo classifier ({type(exc).__name__}: {exc})") from None
        bad = [j for j, m in enumerate(members)
               if m.support.ndim != 2 or m.support.shape != (len(m.dual), ensemble.width)]
        if bad or len(ensemble.classes) != 2:
            raise ClassifierError(f"{path}: member(s) {bad} do not fit {ensemble.width} features, or the classes "
                                  f"{ensemble.classes} are not two")
        return ensemble


def rbf_decision(x: np.ndarray, support: np.ndarray, dual: np.ndarray, intercept: float,
                 gamma: float) -> np.ndarray:
    """(P,) ``sum_s dual_s exp(-gamma |x - sv_s|^2) + intercept``, in chunks of photos."""
    out = np.empty(len(x), np.float64)
    sv_sq = np.square(support).sum(1)
    for start in range(0, len(x), CHUNK):
        block = x[start:start + CHUNK]
        d2 = np.maximum(np.square(block).sum(1)[:, None] - 2.0 * block @ support.T + sv_sq[None, :], 0.0)
        out[start:start + len(block)] = np.exp(-gamma * d2) @ dual + intercept
    return out


def binary_classes(labels: list[str], positive: Optional[str]) -> tuple[str, str]:
    """(negative, positive) of exactly two labels; the positive one named or the last in sorted order."""
    names = sorted(set(labels))
    if len(names) != 2:
        raise ClassifierError(f"photo classifiers are binary: the labels must name exactly two classes, got "
                              f"{len(names)} ({', '.join(names[:6])})")
    if positive is None:
        return names[0], names[1]
    if positive not in names:
        raise ClassifierError(f"--positive '{positive}' is not a label (labels: {', '.join(names)})")
    return (names[0] if names[1] == positive else names[1]), positive


def stratified_bootstrap(y: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Indices drawn with replacement within each class, as many as the class has: both classes stay."""
    return np.concatenate([rng.choice(np.flatnonzero(y == c), size=int((y == c).sum()), replace=True)
                           for c in (0, 1)])


def train_ensemble(features: np.ndarray, labels: list[str], members: int = 10, seed: int = 0, c: float = 1.0,
                   positive: Optional[str] = None, balanced: bool = True,
                   meta: Optional[dict[str, Any]] = None) -> SvmEnsemble:
    """Fit ``members`` RBF SVMs (gamma 'scale') on seeded stratified bootstrap samples."""
    try:
        from sklearn.svm import SVC
    except ImportError:
        raise DependencyError("scikit-learn is needed to train photo classifiers; install it with: "
                              "pip install scikit-learn==1.9.1") from None
    if members < 1 or c <= 0:
        raise ClassifierError(f"--members {members} must be at least 1 and --c {c} positive")
    classes = binary_classes(labels, positive)
    x = np.asarray(features, np.float64)
    y = (np.asarray(labels) == classes[1]).astype(np.int64)
    if min(int(y.sum()), int((1 - y).sum())) < 2:
        raise ClassifierError(f"each class needs at least 2 labelled photos ({classes[0]}: {int((1 - y).sum())}, "
                              f"{classes[1]}: {int(y.sum())})")
    mean, scale = x.mean(0), x.std(0)
    scale = np.where(scale > 1e-12, scale, 1.0)
    z = (x - mean) / scale
    rng = np.random.default_rng(seed)
    strata = (np.asarray(labels) == max(classes)).astype(np.int64)  # by name: --positive does not move the draws
    fitted = []
    for _ in range(members):
        rows = stratified_bootstrap(strata, rng)
        gamma = 1.0 / (z.shape[1] * max(float(z[rows].var()), 1e-12))  # scikit-learn's gamma='scale'
        svm = SVC(kernel="rbf", C=c, gamma=gamma, class_weight="balanced" if balanced else None).fit(z[rows], y[rows])
        fitted.append(SvmMember(svm.support_vectors_.copy(), svm.dual_coef_[0].copy(), float(svm.intercept_[0]),
                                gamma))
    info = {**(meta or {}), "seed": seed, "c": c, "balanced": balanced, "trained_on": len(y),
            "counts": {classes[0]: int((1 - y).sum()), classes[1]: int(y.sum())}}
    return SvmEnsemble(classes, mean, scale, tuple(fitted), info)
