"""`xview pca RASTER --model M -o pca.tif`: a false-colour land-cover map from any model's tile features.

The first three principal components of every tile's outputs (a knn model from `xview features`:
the classifier's fc8 or penultimate layer, as in Workman & Jacobs Fig. 7; a distillation model: its
heads side by side) are stretched to 1-255 (2nd-98th percentile) and written as the red, green and
blue bands of a GeoTIFF (0 = nodata) that opens in QGIS as an RGB layer. --basis-out saves the
basis so that --basis-in colours another raster the same way.
"""

from __future__ import annotations

import argparse

from xview_engine.cli._grid_args import add_cluster_arguments, add_grid_arguments, cluster_spec, grid_kwargs, say


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("pca", help="PCA false-colour map of tile features", description=__doc__)
    add_grid_arguments(parser)
    add_cluster_arguments(parser)
    parser.add_argument("-o", "--out", required=True, help="RGB GeoTIFF to write")
    parser.add_argument("--basis-in", help="colour with this saved basis (JSON) instead of fitting one")
    parser.add_argument("--basis-out", help="save the fitted basis (JSON) here")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from xview_engine.mapping.pca import PcaParams, run_pca
    from xview_engine.progress import TerminalProgress

    params = PcaParams(**grid_kwargs(args), out=args.out, basis_in=args.basis_in, basis_out=args.basis_out,
                       cluster=cluster_spec(args))
    result = run_pca(params, progress=TerminalProgress("xview pca"), log=say)
    print(result.path)
    return 0
