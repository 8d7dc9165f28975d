"""`xview filter PAIRS.csv --classifier C -o kept.csv`: keep the photos a classifier calls positive.

The "Where in the World" scene filter: a classifier trained (`xview classify train`) to tell usable
street scenes from close-ups and indoor shots keeps only the usable rows of a pairs CSV, columns
unchanged. The photos' features come from --features (an .npz from `xview features --photos`) or
are computed with --model (default: the knn model the classifier's features came from). With
--labels (held-out photo,label CSV) it prints precision and recall of the kept class.
"""

from __future__ import annotations

import argparse

from xview_engine.cli._numbers import number


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("filter", help="keep the pairs whose photo a classifier calls positive",
                                   description=__doc__)
    parser.add_argument("pairs", help="pairs CSV to filter")
    parser.add_argument("--classifier", required=True, help="classifier file from xview classify train")
    parser.add_argument("-o", "--out", required=True, help="pairs CSV of the kept rows")
    parser.add_argument("--features", help="photo feature file (.npz) holding the pairs' photos")
    parser.add_argument("--model", help="knn model to compute the photos' features (default: the classifier's)")
    parser.add_argument("--labels", help="held-out label CSV (photo,label): precision and recall")
    parser.add_argument("--threshold", type=number(-1e9, 1e9), default=0.0, help="score above which a photo is kept")
    parser.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    parser.add_argument("--overwrite", action="store_true", help="replace the output if it exists")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from xview_engine.cli.classify import print_held_out
    from xview_engine.training.classify import FilterParams, filter_pairs

    summary = filter_pairs(FilterParams(args.pairs, args.classifier, args.out, args.features, args.model,
                                        args.labels, args.threshold, args.device, args.overwrite))
    print(f"kept {summary['kept']} of {summary['photos']} photos ({100 * summary['kept_share']:.1f} %) as "
          f"'{summary['positive']}': {summary['kept_csv']}")
    print_held_out(summary["held_out"], summary["positive"])
    return 0
