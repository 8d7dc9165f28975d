"""`xview evaluate --index INDEX --photos PAIRS.csv --labels FILE -o REPORT_DIR`: localization metrics.

Localizes every photo of the pairs CSV (optionally one --split) against the index and writes
metrics.json (top-1, top-5, top-10, top-1 %, the full CDF, median and mean rank, accuracy within
25/50/100/250/500/1000 m, per head and combined, and what a random ranking scores), queries.csv
(one row per photo) and cdf.png (the seed's Fig. 5, one curve per head and the combination).
Rank convention: 1-based, ties count against the query. For a method that finds headings (twin), also
the heading error at the true tile where the pairs CSV gives the true heading.

--task verify (a Siamese index, or a knn one for the off-the-shelf baseline): location verification
as in Lin et al. 2015, the same run as `xview verify --pairs`: every photo against its own tile and
--negatives unmatched tiles, verification.json (average precision), pairs.csv, precision_recall.png,
distances.png (matched vs unmatched) and contact_sheet.png (easiest matched, hardest unmatched pairs).
"""

from __future__ import annotations

import argparse

from xview_engine.cli.localize import add_fov_argument, add_photo_label_arguments, parse_weights, split_list
from xview_engine.cli.verify import add_pair_arguments

TASKS = ("localize", "verify")
LOCALIZE_ONLY = ("labels", "teachers", "heads", "weights", "fov")


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("evaluate", help="localization metrics on photos of known position",
                                   description=__doc__)
    parser.add_argument("--index", required=True, help="index folder from `xview index`")
    parser.add_argument("--photos", required=True, help="pairs CSV (path, lat, lon[, split]) of the query photos")
    parser.add_argument("--task", choices=TASKS, default="localize",
                        help="localize (default): rank every tile per photo; verify: matched vs unmatched pairs")
    parser.add_argument("--split", help="evaluate only this split of the pairs CSV, e.g. test")
    add_photo_label_arguments(parser)
    add_fov_argument(parser, "the pairs CSV's fov column, else 360")
    parser.add_argument("--no-time", action="store_true", help="a time-aware index: ignore when the photos were "
                        "taken (each photo's likelihood averaged over the year and the day)")
    add_pair_arguments(parser)
    parser.add_argument("--raster", help="with --task verify: where the contact sheet's tiles are cut "
                        "(default: the index's raster)")
    parser.add_argument("-o", "--out-dir", required=True, help="report folder (created if missing)")
    parser.add_argument("--overwrite", action="store_true", help="replace report files that exist")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.task == "verify":
        from xview_engine.cli.main import UsageError
        from xview_engine.cli.verify import verify_and_report

        given = [f"--{name}" for name in LOCALIZE_ONLY if getattr(args, name) is not None]
        if given:
            raise UsageError(f"--task verify compares photo and tile features: {', '.join(given)} do not apply")
        return verify_and_report(args, args.photos)
    from xview_engine.localization.evaluate import EvaluateParams, evaluate
    from xview_engine.progress import TerminalProgress

    params = EvaluateParams(index=args.index, photos=args.photos, out_dir=args.out_dir, labels=args.labels,
                            teachers=args.teachers, split=args.split, heads=split_list(args.heads),
                            weights=parse_weights(args.weights), device=args.device, overwrite=args.overwrite,
                            fov_deg=args.fov, use_time=not args.no_time)
    report = evaluate(params, progress=TerminalProgress("xview evaluate", unit="photos"))
    print(f"{report['queries_total'] - report['queries_outside_area']} photos ranked among "
          f"{report['candidates']:,} tiles ({report['queries_outside_area']} outside the area)")
    print(f"{'head':<12} {'top-1':>7} {'top-5':>7} {'top-10':>7} {'top-1%':>7} {'median':>8} {'mean':>9}")
    for head, m in report["metrics"].items():
        print(f"{head:<12} {m['top_1']:7.3f} {m['top_5']:7.3f} {m['top_10']:7.3f} {m['top_1pct']:7.3f} "
              f"{m['median_rank']:8.1f} {m['mean_rank']:9.1f}")
    rnd = report["random_ranking"]
    print(f"{'random':<12} {rnd['top_1']:7.3f} {'':>7} {'':>7} {rnd['top_1pct']:7.3f} {rnd['median_rank']:8.1f}")
    for name, h in report.get("heading", {}).items():
        print(f"{name} at the true tile ({h['queries']} photos, FOV {h['fov_deg']:g}): median error "
              f"{h['median_error_deg']:.1f} deg, within +-{0.1 * h['fov_deg']:g} deg {h['within_10pct_fov']:.3f}, "
              f"exact {h['bin_deg']:g}-deg bin {h['exact_bin']:.3f}")
    print(f"report in {args.out_dir}")
    return 0
