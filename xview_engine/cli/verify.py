"""`xview verify`: location verification (was this photo taken here?).

one photo:  xview verify PHOTO --model M --raster R (--at LON,LAT | --xy X,Y) [--json]
            the embedding distance between the photo and the tile centred there, and P(same place)
            (a Siamese model)
pairs:      xview verify --pairs PAIRS.csv --index INDEX -o DIR [--split test] [--negatives 20]
            every photo against its own tile and NEGATIVES unmatched tiles at least --min-distance-m
            away: DIR/verification.json (average precision), pairs.csv, precision_recall.png,
            distances.png, contact_sheet.png (easiest matched, hardest unmatched pairs). INDEX of a
            Siamese model verifies by its embeddings; INDEX of a knn model (`xview features`) by the
            classifier's own features of photo and tile, the paper's off-the-shelf baseline.
            `xview evaluate --task verify` runs the same.
"""

from __future__ import annotations

import argparse
import json

from xview_engine.cli._numbers import count, number
from xview_engine.limits import MAX_DISTANCE_M, MAX_NEGATIVES, MAX_SEED


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("verify", help="was this photo taken here? (Siamese models; knn as a baseline)",
                              description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("photo", nargs="?", help="the ground photo (one-photo verification)")
    p.add_argument("--model", help="Siamese model file (one photo)")
    p.add_argument("--raster", help="overhead raster (one photo; with --pairs: where the contact sheet's tiles are "
                   "cut, default the index's raster)")
    p.add_argument("--at", help="LON,LAT of the place (WGS84)")
    p.add_argument("--xy", help="X,Y of the place in the raster's CRS")
    p.add_argument("--json", action="store_true", help="print the answer as JSON")
    p.add_argument("--pairs", help="pairs CSV (path, lat, lon[, split]): the paper's evaluation over an index")
    p.add_argument("--index", help="index of a Siamese or knn model (with --pairs)")
    p.add_argument("--split", help="only this split of the pairs CSV, e.g. test")
    add_pair_arguments(p)
    p.add_argument("-o", "--out-dir", help="report folder (with --pairs)")
    p.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    p.add_argument("--overwrite", action="store_true", help="replace outputs that exist")
    p.set_defaults(func=run)


def add_pair_arguments(parser: argparse.ArgumentParser) -> None:
    """How the unmatched pairs are drawn: shared by `verify --pairs` and `evaluate --task verify`."""
    parser.add_argument("--negatives", type=count(1, MAX_NEGATIVES), default=20,
                        help="unmatched pairs per photo (default 20)")
    parser.add_argument("--min-distance-m", type=number(0, MAX_DISTANCE_M), default=100.0,
                        help="unmatched tiles lie at least this far from the photo (default 100 m)")
    parser.add_argument("--seed", type=count(0, MAX_SEED), default=0, help="seed of the unmatched pairs (default 0)")


def parse_place(text: str | None, option: str) -> tuple[float, float] | None:
    from xview_engine.cli.main import UsageError

    if text is None:
        return None
    try:
        a, b = (float(v) for v in text.split(","))
    except ValueError:
        raise UsageError(f"{option} '{text}' must be two numbers separated by a comma, e.g. 16.40,43.50") from None
    return a, b


def run(args: argparse.Namespace) -> int:
    from xview_engine.cli.main import UsageError

    if args.pairs:
        if not (args.index and args.out_dir) or args.photo:
            raise UsageError("--pairs needs --index INDEX and -o DIR (and no PHOTO)")
        return run_pairs(args)
    if not (args.photo and args.model and args.raster):
        raise UsageError("give PHOTO --model M --raster R with --at LON,LAT or --xy X,Y, or --pairs CSV --index I -o D")
    from xview_engine.localization.verification import verify_point

    answer = verify_point(args.photo, args.model, args.raster, parse_place(args.at, "--at"),
                          parse_place(args.xy, "--xy"), args.device)
    if args.json:
        print(json.dumps(answer, indent=2))
        return 0
    p = answer["p_same_place"]
    print(f"{answer['photo']} at x {answer['x']:.1f} y {answer['y']:.1f} ({answer['footprint_m']:g} m tile): "
          f"distance {answer['distance']:.4f}" + ("" if p is None else f", P(same place) {p:.3f}"))
    return 0


def run_pairs(args: argparse.Namespace) -> int:
    return verify_and_report(args, args.pairs)


def verify_and_report(args: argparse.Namespace, pairs: str) -> int:
    """The pairs evaluation of ``args`` (index, split, out_dir, pair options, raster, device, overwrite)."""
    from xview_engine.localization.verification import VerifyPairsParams, verify_pairs

    report = verify_pairs(VerifyPairsParams(args.index, pairs, args.out_dir, args.split, args.negatives,
                                            args.min_distance_m, args.seed, args.device, args.overwrite,
                                            args.raster))
    print(f"{report['matched_pairs']} matched and {report['unmatched_pairs']} unmatched pairs ({report['method']} "
          f"{report['features']}): average precision {100 * report['average_precision']:.1f} % (random "
          f"{100 * report['random_ap']:.1f} %; paper's Where-CNN 41.9 % on 12.5K matched pairs with 20x unmatched)")
    print(f"report in {args.out_dir}")
    return 0
