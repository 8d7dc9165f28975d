"""`xview search RASTER --model M --query EXPR -o OUT.tif`: joint attribute search, one score raster.

Query grammar: terms [head:]class joined by & (and), | (or), ! (not), parentheses, and thresholds
(> >= < <= a number). A term is the expected probability of the class (or expected count for a
Poisson head); a threshold gives 1 or 0. --logic product (default): a&b = ab, a|b = a+b-ab;
--logic minmax: min and max. Example: "imagenet:car>0.3 & places365:park" = park-likeness where
cars are likely. Class names with spaces go in quotes: places365:"parking lot".
"""

from __future__ import annotations

import argparse

from xview_engine.cli._grid_args import add_cluster_arguments, add_grid_arguments, cluster_spec, grid_kwargs, say


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("search", help="score every tile with a joint attribute query",
                                   description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_grid_arguments(parser)
    add_cluster_arguments(parser)
    parser.add_argument("--query", required=True, help='e.g. "imagenet:car>0.3 & places365:park"')
    parser.add_argument("-o", "--output", required=True, help="score GeoTIFF to write")
    parser.add_argument("--logic", default="product", choices=("product", "minmax"),
                        help="how & and | combine scores (default: product)")
    parser.add_argument("--time", help="a time-aware model: score at this time, ISO 8601 (e.g. 2026-01-15T08:00)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from xview_engine.mapping.search import SearchParams, run_search
    from xview_engine.progress import TerminalProgress

    params = SearchParams(**grid_kwargs(args), cluster=cluster_spec(args), query=args.query, out=args.output,
                          logic=args.logic, time=args.time)
    result = run_search(params, progress=TerminalProgress("xview search"), log=say)
    lo, hi = result.score_range
    say(f"scores {lo:.4g} .. {hi:.4g} over {result.tiles_run:,} tiles")
    print(result.path)
    return 0
