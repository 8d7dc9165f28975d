"""`xview classify`: an ensemble of RBF SVMs on per-photo features, trained on your labels.

train:  xview classify train FEATURES.npz LABELS.csv -o C.safetensors [--members 10] [--seed 0] [--c 1]
        [--positive usable]
        LABELS.csv has the columns photo,label and exactly two labels; the positive one (default: the
        last in sorted order) is what a positive score means. FEATURES from
        `xview features --model KNN --photos PAIRS.csv -o FEATURES.npz`.
apply:  xview classify apply C.safetensors FEATURES.npz -o scores.csv [--labels HELD_OUT.csv]
        every photo's label, mean decision (score) and share of members voting positive; with held-out
        labels, accuracy and the positive class's precision and recall.
The classifier file is safetensors (support vectors, dual coefficients, intercepts, gamma), never a pickle.
"""

from __future__ import annotations

import argparse
import json

from xview_engine.cli._numbers import count, number, positive
from xview_engine.limits import MAX_SEED


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("classify", help="photo classifiers (SVM ensemble) on photo features",
                                   description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    actions = parser.add_subparsers(dest="action", metavar="ACTION", parser_class=type(parser))
    actions.required = True
    train = actions.add_parser("train", help="train a classifier on labelled photos")
    train.add_argument("features", help="photo feature file (.npz from xview features --photos)")
    train.add_argument("labels", help="label CSV (columns photo,label; two labels)")
    train.add_argument("-o", "--out", required=True, help="classifier file to write (.safetensors)")
    train.add_argument("--members", type=count(1, 1000), default=10, help="SVMs in the ensemble (default 10)")
    train.add_argument("--seed", type=count(0, MAX_SEED), default=0, help="seed of the bootstrap samples (default 0)")
    train.add_argument("--c", type=positive(1e9), default=1.0, help="SVM regularisation C (default 1)")
    train.add_argument("--positive", help="the label a positive score means (default: last in sorted order)")
    train.add_argument("--unbalanced", action="store_true", help="do not weight the classes by their frequency")
    train.add_argument("--overwrite", action="store_true", help="replace the output if it exists")
    train.set_defaults(func=run_train)
    apply = actions.add_parser("apply", help="score photos with a classifier")
    apply.add_argument("classifier", help="classifier file from xview classify train")
    apply.add_argument("features", help="photo feature file (.npz)")
    apply.add_argument("-o", "--out", required=True, help="scores CSV to write")
    apply.add_argument("--labels", help="held-out label CSV: print accuracy, precision and recall")
    apply.add_argument("--threshold", type=number(-1e9, 1e9), default=0.0, help="score above which a photo is positive")
    apply.add_argument("--overwrite", action="store_true", help="replace the output if it exists")
    apply.set_defaults(func=run_apply)


def print_held_out(metrics: dict | None, positive: str) -> None:
    if metrics:
        print(f"held out: {metrics['photos']} photos, accuracy {metrics['accuracy']:.3f}, precision "
              f"{metrics['precision']:.3f} and recall {metrics['recall']:.3f} of '{positive}', "
              f"{100 * metrics['kept_share']:.1f} % predicted '{positive}'")


def run_train(args: argparse.Namespace) -> int:
    from xview_engine.training.classify import TrainClassifierParams, train_classifier

    summary = train_classifier(TrainClassifierParams(args.features, args.labels, args.out, args.members, args.seed,
                                                     args.c, args.positive, not args.unbalanced, args.overwrite))
    print(json.dumps(summary, indent=2))
    return 0


def run_apply(args: argparse.Namespace) -> int:
    from xview_engine.training.classify import ApplyClassifierParams, apply_classifier

    summary = apply_classifier(ApplyClassifierParams(args.classifier, args.features, args.out, args.labels,
                                                     args.threshold, args.overwrite))
    print(f"{summary['photos']} photos scored, {summary['positive']} '{summary['classes'][1]}': {summary['scores']}")
    print_held_out(summary["held_out"], summary["classes"][1])
    return 0
