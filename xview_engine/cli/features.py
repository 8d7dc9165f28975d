"""`xview features --teachers imagenet:resnet50=W.pth -o knn.safetensors [--pairs P.csv --raster R]`.

Turns a published classifier (Places365 or ImageNet checkpoint, loaded strictly and safely) into a
knn model file: a feature extractor keeping ``--layer`` (fc8 class scores, or the penultimate
layer) for aerial tiles of ``--tile-px`` pixels at ``--gsd`` metres and for ground photos. With
reference pairs and their raster it also stores the reference photos' features and their aerial
tiles' features, for kNN-averaged localization (Workman & Jacobs 4.3): `xview index R --model
knn.safetensors`, then `xview localize` / `evaluate` as with any model. `xview pca` colours a
raster by the first three principal components of the same features.

Per-photo features for the photo classifiers (`xview classify`, `xview filter`):
`xview features --model knn.safetensors --photos PAIRS.csv -o photo_features.npz [--split S]`.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from xview_engine.cli._grid_args import say
from xview_engine.cli._numbers import count, positive
from xview_engine.limits import MAX_BATCH_SIZE, MAX_GSD_M, MAX_NEGATIVES, MAX_STRIDE_M, MAX_TILE_PX


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("features", help="a published classifier as features (kNN localization, PCA)",
                                   description=__doc__)
    parser.add_argument("--teachers", help="one classifier: places365[:arch]=PATH, "
                        "imagenet[:arch]=PATH (torchvision .pth, loaded with weights_only) or synthetic=TEACHER "
                        "(the synthetic world's teacher file); without =PATH the published file "
                        "(e.g. imagenet:resnet50; xview weights list)")
    parser.add_argument("-o", "--out", required=True, help="knn model file to write (.safetensors), or with "
                        "--photos the photo feature file (.npz)")
    parser.add_argument("--model", help="with --photos: the knn model whose layer describes the photos")
    parser.add_argument("--photos", help="pairs CSV whose photos get features (with --model; --split to pick one)")
    parser.add_argument("--layer", default="fc8", choices=("fc8", "penultimate"))
    parser.add_argument("--tile-px", type=count(1, MAX_TILE_PX), default=224,
                        help="aerial tile size in pixels (default 224)")
    parser.add_argument("--gsd", type=positive(MAX_GSD_M), default=0.5,
                        help="ground metres per tile pixel (default 0.5)")
    parser.add_argument("--pairs", help="reference photos: pairs CSV (path, lat, lon[, split])")
    parser.add_argument("--raster", help="raster holding the reference photos' aerial tiles")
    parser.add_argument("--split", help="split of the pairs CSV: the reference photos (default train; every row "
                        "when the CSV has no split column), or with --photos the photos described (default all)")
    parser.add_argument("--k", type=count(1, MAX_NEGATIVES), default=30,
                        help="nearest reference photos averaged (default 30)")
    parser.add_argument("--stride-m", type=positive(MAX_STRIDE_M), help="tile spacing when finding the reference tiles")
    parser.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    parser.add_argument("--batch-size", type=count(1, MAX_BATCH_SIZE), default=32)
    parser.add_argument("--overwrite", action="store_true", help="replace the output if it exists")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from xview_engine.cli.main import UsageError
    from xview_engine.training.knn import FeatureModelParams, make_feature_model

    if args.photos or args.model:
        if not (args.photos and args.model) or args.teachers:
            raise UsageError("photo features need --model KNN.safetensors and --photos PAIRS.csv (and no --teachers)")
        return _photo_features(args)
    if not args.teachers:
        raise UsageError("give --teachers (a knn model from a classifier) or --model with --photos (photo features)")
    params = FeatureModelParams(teachers=args.teachers, out=args.out, layer=args.layer, tile_px=args.tile_px,
                                gsd_m=args.gsd, pairs=args.pairs, raster=args.raster, split=args.split or "train",
                                k=args.k, stride_m=args.stride_m, device=args.device, batch_size=args.batch_size,
                                overwrite=args.overwrite)
    print(make_feature_model(params, log=say))
    return 0


def _photo_features(args: argparse.Namespace) -> int:
    from xview_engine.data.photo_features import write_photo_features
    from xview_engine.outputs import check_outputs_free
    from xview_engine.training.knn import pairs_photo_features

    check_outputs_free([Path(args.out)], args.overwrite)
    feats = pairs_photo_features(args.model, args.photos, args.split, args.device)
    write_photo_features(args.out, list(feats.photos), feats.features, feats.names, feats.meta)
    say(f"{len(feats.photos)} photos x {feats.features.shape[1]} features")
    print(args.out)
    return 0
