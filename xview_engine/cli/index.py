"""`xview index RASTER --model M -o INDEX`: run the model once over every tile and keep the result.

The index (a folder of memory-mapped arrays and index.json) holds each tile's centre (grid CRS and
WGS84) and predicted distributions in the form localization scores with one matrix product; every
`xview localize`, `evaluate` and `retrieve` then reuses it without running the model again. The
tiles are exactly those `xview map` runs with the same options.
"""

from __future__ import annotations

import argparse

from xview_engine.cli._grid_args import add_cluster_arguments, add_grid_arguments, cluster_spec, grid_kwargs, say


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("index", help="index a raster's tiles for localization", description=__doc__)
    add_grid_arguments(parser)
    add_cluster_arguments(parser)
    parser.add_argument("-o", "--out", required=True, help="index folder to write")
    parser.add_argument("--float16", action="store_true",
                        help="store the per-tile parameters as float16: half the disk, slower scoring")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from xview_engine.localization.build import IndexParams, build_index
    from xview_engine.progress import TerminalProgress

    params = IndexParams(**grid_kwargs(args), cluster=cluster_spec(args), out=args.out,
                         dtype="float16" if args.float16 else "float32")
    result = build_index(params, progress=TerminalProgress("xview index"), log=say)
    print(result.path)
    return 0
