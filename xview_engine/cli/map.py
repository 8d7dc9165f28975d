"""`xview map RASTER --model M --out-dir DIR`: probability, class, confidence and count rasters.

One GeoTIFF per product (one pixel per tile centre, pixel size = stride) and products.json listing
files, bands, head, classes, units, CRS and this command.
"""

from __future__ import annotations

import argparse

from xview_engine.cli._grid_args import add_cluster_arguments, add_grid_arguments, cluster_spec, grid_kwargs, say
from xview_engine.cli._numbers import number


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("map", help="map what people would see on the ground", description=__doc__)
    add_grid_arguments(parser)
    add_cluster_arguments(parser)
    parser.add_argument("--out-dir", required=True, help="folder for the product GeoTIFFs and products.json")
    parser.add_argument("--head", help="model head to map (default: the first)")
    parser.add_argument("--classes", help="classes for prob/count, e.g. beach,park (default: top 10 over the map)")
    parser.add_argument("--products", help="comma list of prob,top,concentration,entropy,count,mean,spread,exceed "
                        "(default: all that fit the head; exceed with --threshold)")
    parser.add_argument("--threshold", type=number(-1e30, 1e30), metavar="T",
                        help="t of the exceed product, P(value > t) (e.g. 0.5 for a [0, 1] attribute)")
    parser.add_argument("--time", help="a time-aware model: map at this time, ISO 8601 (e.g. 2026-01-15T08:00)")
    parser.add_argument("--months", help="a time-aware model: one band per month per product, e.g. 1-12 or 12,1,2 "
                        "(the 15th at noon, or the day and hour of --time); QGIS scrubs through them")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from xview_engine.mapping.map import MapParams, run_map
    from xview_engine.progress import TerminalProgress

    params = MapParams(
        **grid_kwargs(args),
        cluster=cluster_spec(args),
        out_dir=args.out_dir,
        head=args.head,
        classes=_split(args.classes),
        products=_split(args.products),
        threshold=args.threshold,
        time=args.time,
        months=args.months,
    )
    result = run_map(params, progress=TerminalProgress("xview map"), log=say)
    for path in result.files:
        print(path)
    return 0


def _split(text: str | None) -> tuple[str, ...]:
    return tuple(part.strip() for part in text.split(",") if part.strip()) if text else ()
