"""`xview features`: a published classifier turned into a knn model file, with its reference set.

The classifier checkpoint (Places365 or ImageNet, through the teacher loaders: file check,
``weights_only=True``, strict; or the synthetic world's teacher file, for synthetic worlds) is
converted into a safetensors model of kind ``knn`` that keeps the layer asked for (``fc8`` class
scores or the ``penultimate`` layer). With a pairs CSV and a raster, the reference photos (one
split, by default ``train``) are described twice, by their own features and by the features of the
aerial tile nearest where they were taken (a tile of the same grid `xview index` lays, found
through a temporary index), and both go into the file: kNN-averaged localization
(``localization/knn.py``) needs nothing else. The reference photos' paths go into the manifest's
training entry, for tile -> photo search (``localization/photo_search.py``).
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Optional

import numpy as np
import torch

from xview_engine.errors import TeacherError
from xview_engine.model.feature_net import (
    HEAD,
    IMAGENET_MEAN,
    IMAGENET_STD,
    SYNTHETIC_ARCH,
    FeatureNetwork,
    feature_manifest,
    last_linear,
    penultimate_width,
)
from xview_engine.model.file import save_model
from xview_engine.outputs import check_outputs_free
from xview_engine.progress import Log
from xview_engine.teachers import DEFAULT_ARCH as TEACHER_ARCH

if TYPE_CHECKING:
    from xview_engine.data.photo_features import PhotoFeatures

DEFAULT_ARCH = {family: TEACHER_ARCH[family] for family in ("places365", "imagenet")}  # the classifier families


@dataclass(frozen=True)
class FeatureModelParams:
    """Plain data for `xview features`: one classifier, the layer, the tiles it sees, the references."""

    teachers: str  # places365[:arch][=PATH] or imagenet[:arch][=PATH] (no PATH: the published file)
    out: str
    layer: str = "fc8"
    tile_px: int = 224
    gsd_m: float = 0.5
    pairs: Optional[str] = None
    raster: Optional[str] = None
    split: Optional[str] = "train"  # reference photos; every row when the CSV has no split column
    k: int = 30
    stride_m: Optional[float] = None
    device: str = "auto"
    batch_size: int = 32
    overwrite: bool = False


@dataclass(frozen=True)
class Classifier:
    """A loaded classifier and what its knn manifest needs: fc8 column names, input normalisation."""

    family: str
    arch: str
    net: torch.nn.Module
    classes: int
    fc8_labels: tuple[str, ...]
    teacher: Optional[dict] = None  # the synthetic teacher's shape (model/feature_net.py)
    mean: tuple[float, ...] = IMAGENET_MEAN
    std: tuple[float, ...] = IMAGENET_STD


def load_classifier(spec: str) -> Classifier:
    """The one classifier named by ``spec`` (Places365, ImageNet or the synthetic teacher)."""
    from xview_engine.teachers import parse_spec

    entries = parse_spec(spec)
    if len(entries) != 1 or entries[0][0] not in (*DEFAULT_ARCH, "synthetic"):
        raise TeacherError(f"--teachers must name one classifier (places365[:arch]=PATH, imagenet[:arch]=PATH or "
                           f"synthetic=PATH), got '{spec}'")
    family, arch, path = entries[0]
    if family == "synthetic":
        return _synthetic_classifier(path)
    arch = arch or DEFAULT_ARCH[family]
    if family == "places365":
        from xview_engine.teachers.places365 import load_places365 as load
    else:
        from xview_engine.teachers.imagenet import load_imagenet as load
    teacher = load(path, arch, "cpu")
    return Classifier(family, arch, teacher.net, last_linear(teacher.net).out_features, teacher.info.labels)


def _synthetic_classifier(path: str) -> Classifier:
    from xview_engine.teachers.synthetic import PHOTO_MEAN, PHOTO_STD, read_synthetic_teacher

    net, spec = read_synthetic_teacher(path)
    shape = {"heads": [[h.name, len(h.labels)] for h in spec.heads], "channels": spec.channels,
             "depth": spec.depth, "hidden": spec.hidden, "photo_px": [spec.height, spec.width]}
    labels = tuple(f"{h.name}:{label}" for h in spec.heads for label in h.labels)
    return Classifier("synthetic", SYNTHETIC_ARCH, net, len(labels), labels, shape, PHOTO_MEAN, PHOTO_STD)


def make_feature_model(params: FeatureModelParams, log: Optional[Log] = None) -> Path:
    """Write the knn model file ``params.out``; see the module docstring."""
    from xview_engine.model.feature_net import LAYERS

    log = log or (lambda message: None)
    if params.layer not in LAYERS:
        raise TeacherError(f"--layer {params.layer} is unknown (choose from {', '.join(LAYERS)})")
    if bool(params.pairs) != bool(params.raster):
        raise TeacherError("reference photos need both --pairs CSV and --raster R (their aerial tiles)")
    if params.k < 1:
        raise TeacherError(f"--k {params.k} must be at least 1")
    out = Path(params.out)
    check_outputs_free([out], params.overwrite)
    clf = load_classifier(params.teachers)
    labels = clf.fc8_labels if params.layer == "fc8" else tuple(f"f{i}" for i in range(penultimate_width(clf.net)))
    training: dict = {"teacher": params.teachers, "layer": params.layer, "pairs": params.pairs,
                      "raster": params.raster, "split": params.split}

    def manifest_for(references: int):
        return feature_manifest(clf.arch, clf.classes, clf.family, params.layer, labels, params.tile_px,
                                params.gsd_m, references, params.k, training, clf.teacher, clf.mean, clf.std)

    model = FeatureNetwork(manifest_for(0))
    model.net.load_state_dict(clf.net.state_dict(), strict=True)
    if not params.pairs:
        return save_model(model, manifest_for(0), out)  # type: ignore[arg-type]
    photo_feats, tile_feats, photos, lonlat = reference_features(params, model, manifest_for(0), log)
    # the reference photos' paths and places travel with their features: tile -> photo search shows them
    training["reference_photos"] = [str(Path(p).resolve()) for p in photos]
    training["reference_lonlat"] = [[round(float(lon), 7), round(float(lat), 7)] for lon, lat in lonlat]
    final = FeatureNetwork(manifest_for(len(photo_feats)))
    final.net.load_state_dict(model.net.state_dict(), strict=True)
    final.reference_photos.copy_(torch.from_numpy(photo_feats))
    final.reference_tiles.copy_(torch.from_numpy(tile_feats))
    log(f"{len(photo_feats)} reference photos with their aerial tiles; k = {params.k}")
    return save_model(final, manifest_for(len(photo_feats)), out)  # type: ignore[arg-type]


def reference_features(params: FeatureModelParams, model: FeatureNetwork, manifest,
                       log: Log) -> tuple[np.ndarray, np.ndarray, list[Path], np.ndarray]:
    """(R, D) float32 features of the reference photos and of the aerial tile where each was taken,
    the photos' paths and (R, 2) lon/lat."""
    from xview_engine.data.pairs import read_pairs
    from xview_engine.localization.build import IndexParams, build_index
    from xview_engine.localization.index import load_index
    from xview_engine.localization.knn import photo_features
    from xview_engine.localization.localize import truth_tiles
    from xview_engine.model.device import resolve_device

    pairs = read_pairs(params.pairs or "")
    rows = np.flatnonzero(pairs.split_mask(params.split)) if params.split and "split" in pairs.columns \
        else np.arange(len(pairs))
    with tempfile.TemporaryDirectory(prefix="xview-knn-") as tmp:
        plain = save_model(model, manifest, Path(tmp) / "features.safetensors")  # type: ignore[arg-type]
        build_index(IndexParams(raster=params.raster or "", model=str(plain), stride_m=params.stride_m,
                                device=params.device, batch_size=params.batch_size, out=str(Path(tmp) / "index")),
                    log=log)
        index = load_index(Path(tmp) / "index")
        lonlat = np.column_stack([pairs.columns["lon"][rows], pairs.columns["lat"][rows]])
        tiles = truth_tiles(index, lonlat)
        kept = rows[tiles >= 0]
        if kept.size == 0:
            raise TeacherError(f"no reference photo of {params.pairs} lies on an indexed tile of {params.raster}")
        if kept.size < rows.size:
            log(f"{rows.size - kept.size} reference photos lie outside the raster's tiles and are left out")
        tile_feats = np.asarray(index.arrays[HEAD][tiles[tiles >= 0]], np.float32)
        del index
    device = resolve_device(params.device)
    photos = [pairs.photos[i] for i in kept]
    photo_feats = photo_features(model.to(device).eval(), photos, device)
    return photo_feats.astype(np.float32), tile_feats, photos, lonlat[tiles >= 0]


def pairs_photo_features(model_path: str | Path, pairs_path: str | Path, split: Optional[str] = None,
                         device: str = "auto") -> PhotoFeatures:
    """Every photo of a pairs CSV (or of one split) described by a knn model's layer: the per-photo
    features the photo classifiers train and score on (``data/photo_features.py``)."""
    from xview_engine.data.pairs import read_pairs
    from xview_engine.data.photo_features import PhotoFeatures
    from xview_engine.localization.knn import photo_features
    from xview_engine.model.device import resolve_device
    from xview_engine.model.file import load_model

    pairs = read_pairs(pairs_path)
    rows = np.flatnonzero(pairs.split_mask(split)) if split else np.arange(len(pairs))
    if rows.size == 0:
        raise TeacherError(f"pairs CSV {pairs_path} has no photo of split '{split}'")
    torch_device = resolve_device(device)
    loaded = load_model(model_path, device=torch_device)
    if loaded.manifest.kind != "knn":
        raise TeacherError(f"{model_path} is a '{loaded.manifest.kind}' model; photo features come from a knn model "
                           "('xview features --teachers ...')")
    photos = [pairs.photos[i] for i in rows]
    feats = photo_features(loaded.model, photos, torch_device)
    meta = {"model": str(Path(model_path).resolve()), "layer": loaded.manifest.backbone.options.get("layer"),
            "pairs": str(Path(pairs_path).resolve()), "split": split}
    return PhotoFeatures(tuple(str(p.resolve()) for p in photos), feats.astype(np.float32),
                         loaded.manifest.heads[0].labels, meta)
