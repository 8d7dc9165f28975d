"""`xview classify train|apply` and `xview filter` minus argument parsing: photo classifiers on features.

Two uses from the seeds. The "Where in the World" scene filter keeps the photos a classifier calls
usable (a street scene, not a close-up or an indoor shot) before training or evaluating on them;
on held-out labels it reports precision and recall of "usable" and the share of photos kept. The
region classifier of Workman & Jacobs (4.1) tells which of two regions a photo was taken in; its
figure is the accuracy on held-out photos. Both are the same binary SVM ensemble
(``training/svm.py``) on per-photo features (``data/photo_features.py``).
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

import numpy as np

from xview_engine.data.photo_features import PhotoFeatures, read_photo_features, read_photo_labels
from xview_engine.outputs import atomic_output, check_outputs_free
from xview_engine.training.svm import ClassifierError, SvmEnsemble, train_ensemble


@dataclass(frozen=True)
class TrainClassifierParams:
    features: str
    labels: str
    out: str
    members: int = 10
    seed: int = 0
    c: float = 1.0
    positive: Optional[str] = None
    balanced: bool = True
    overwrite: bool = False


@dataclass(frozen=True)
class ApplyClassifierParams:
    classifier: str
    features: str
    out: str  # scores CSV
    labels: Optional[str] = None  # held-out truth: accuracy, precision, recall
    threshold: float = 0.0
    overwrite: bool = False


@dataclass(frozen=True)
class FilterParams:
    pairs: str
    classifier: str
    out: str  # the kept rows, as a pairs CSV
    features: Optional[str] = None  # else computed with ``model`` (default: the classifier's feature model)
    model: Optional[str] = None
    labels: Optional[str] = None
    threshold: float = 0.0
    device: str = "auto"
    overwrite: bool = False


def labelled_rows(features: PhotoFeatures, labels_csv: str) -> tuple[np.ndarray, list[str]]:
    """Rows of the feature file that the label CSV names, and their labels."""
    photos, labels = read_photo_labels(labels_csv)
    return features.rows_of(photos, Path(labels_csv).resolve().parent), labels


def train_classifier(params: TrainClassifierParams) -> dict[str, Any]:
    out = Path(params.out)
    check_outputs_free([out], params.overwrite)
    features = read_photo_features(params.features)
    rows, labels = labelled_rows(features, params.labels)
    meta = {"features": features.meta, "feature_names": len(features.names), "labels": str(Path(params.labels))}
    ensemble = train_ensemble(features.features[rows], labels, params.members, params.seed, params.c,
                              params.positive, params.balanced, meta)
    ensemble.save(out)
    predicted = ensemble.decision(features.features[rows]) > 0
    truth = np.asarray(labels) == ensemble.classes[1]
    return {"classifier": str(out), "classes": list(ensemble.classes), "members": len(ensemble.members),
            "photos": len(rows), "training": binary_metrics(truth, predicted)}


def binary_metrics(truth: np.ndarray, predicted: np.ndarray) -> dict[str, float]:
    """Accuracy, and precision / recall of the positive class; the share predicted positive ("kept")."""
    truth, predicted = np.asarray(truth, bool), np.asarray(predicted, bool)
    tp = int((truth & predicted).sum())
    return {"photos": int(truth.size), "accuracy": float((truth == predicted).mean()) if truth.size else float("nan"),
            "precision": tp / int(predicted.sum()) if predicted.any() else float("nan"),
            "recall": tp / int(truth.sum()) if truth.any() else float("nan"),
            "kept_share": float(predicted.mean()) if truth.size else float("nan")}


def _held_out(ensemble: SvmEnsemble, features: PhotoFeatures, labels_csv: Optional[str], decision: np.ndarray,
              threshold: float) -> Optional[dict[str, float]]:
    if not labels_csv:
        return None
    rows, labels = labelled_rows(features, labels_csv)
    unknown = sorted(set(labels) - set(ensemble.classes))
    if unknown:
        raise ClassifierError(f"label CSV {labels_csv} has labels the classifier does not know: {', '.join(unknown)} "
                              f"(it knows {', '.join(ensemble.classes)})")
    return binary_metrics(np.asarray(labels) == ensemble.classes[1], decision[rows] > threshold)


def apply_classifier(params: ApplyClassifierParams) -> dict[str, Any]:
    """Score every photo of a feature file; writes photo, label, score, votes as CSV."""
    out = Path(params.out)
    check_outputs_free([out], params.overwrite)
    ensemble = SvmEnsemble.load(params.classifier)
    features = read_photo_features(params.features)
    decisions = ensemble.member_decisions(features.features)
    score, votes = decisions.mean(0), (decisions > 0).mean(0)
    with atomic_output(out) as tmp, open(tmp, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["photo", "label", "score", "votes"])
        for photo, s, v in zip(features.photos, score, votes):
            writer.writerow([photo, ensemble.classes[int(s > params.threshold)], f"{s:.6f}", f"{v:.3f}"])
    return {"scores": str(out), "classes": list(ensemble.classes), "photos": len(score),
            "positive": int((score > params.threshold).sum()),
            "held_out": _held_out(ensemble, features, params.labels, score, params.threshold)}


def filter_pairs(params: FilterParams) -> dict[str, Any]:
    """Keep the rows of a pairs CSV whose photo the classifier puts in its positive class."""
    from xview_engine.data.pairs import read_pairs

    out = Path(params.out)
    check_outputs_free([out], params.overwrite)
    ensemble = SvmEnsemble.load(params.classifier)
    pairs = read_pairs(params.pairs)
    features = _pairs_features(params, ensemble)
    rows = features.rows_of([str(p.resolve()) for p in pairs.photos], Path(params.pairs).resolve().parent)
    score = np.full(len(features.photos), -np.inf)
    score[rows] = ensemble.decision(features.features[rows])
    kept = score[rows] > params.threshold
    with open(params.pairs, newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        fields, table = reader.fieldnames or [], list(reader)
    source = Path(params.pairs).resolve().parent
    if out.resolve().parent != source:  # relative photo and tile paths would no longer resolve: make them absolute
        for row in table:
            for column in ("path", "tile"):
                if row.get(column) and not Path(row[column]).is_absolute():
                    row[column] = str(source / row[column])
    with atomic_output(out) as tmp, open(tmp, "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=fields)
        writer.writeheader()
        writer.writerows(row for row, keep in zip(table, kept) if keep)
    return {"kept_csv": str(out), "kept": int(kept.sum()), "photos": len(kept), "kept_share": float(kept.mean()),
            "positive": ensemble.classes[1],
            "held_out": _held_out(ensemble, features, params.labels, score, params.threshold)}


def _pairs_features(params: FilterParams, ensemble: SvmEnsemble) -> PhotoFeatures:
    if params.features:
        return read_photo_features(params.features)
    from xview_engine.training.knn import pairs_photo_features

    model = params.model or (ensemble.meta.get("features") or {}).get("model")
    if not model or not Path(model).is_file():
        raise ClassifierError(f"the photos' features are needed: give --features F.npz or --model KNN.safetensors "
                              f"(the classifier's feature model {model or '(none recorded)'} is not there)")
    return pairs_photo_features(model, params.pairs, device=params.device)
