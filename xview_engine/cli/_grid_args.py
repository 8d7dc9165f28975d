"""Arguments shared by `xview map` and `xview search`: the raster, the model, the tiling, the device."""

from __future__ import annotations

import argparse
import shlex
import sys
from typing import Any

from xview_engine.cli._numbers import count, number, positive
from xview_engine.limits import DEFAULT_MAX_TILES, MAX_BATCH_SIZE, MAX_STRIDE_M, MAX_TILES


def add_grid_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("raster", help="any raster GDAL reads (GeoTIFF, VRT, COG), projected or geographic")
    parser.add_argument("--model", required=True, help="model file (.safetensors, or .onnx with --runtime onnx)")
    stride = parser.add_mutually_exclusive_group()
    stride.add_argument("--stride-m", type=positive(MAX_STRIDE_M),
                        help="distance between tile centres in ground metres "
                        "(default: half a tile)")
    stride.add_argument("--overlap", type=number(0, 1, high_open=True),
                        help="overlap of neighbouring tiles as a fraction of a tile")
    parser.add_argument("--extent", help="xmin,ymin,xmax,ymax to map, in the raster CRS or --extent-crs")
    parser.add_argument("--extent-crs", help="CRS of --extent, e.g. EPSG:4326 (default: the raster's)")
    parser.add_argument("--mask", help="polygons (any OGR vector) limiting the tiles; holes are respected")
    parser.add_argument("--bands", help="source bands in the model's order, e.g. 1,2,3 (default: by colour)")
    parser.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    parser.add_argument("--batch-size", type=count(1, MAX_BATCH_SIZE), default=32, help="tiles per forward pass")
    parser.add_argument("--runtime", default="auto", choices=("auto", "torch", "onnx"),
                        help="auto (default): onnxruntime on the CPU when installed, torch on CUDA")
    parser.add_argument("--threads", type=count(1, 1024), default=None,
                        help="model threads on the CPU (default: the cores, less one for the tile reader from 3 on)")
    parser.add_argument("--max-tiles", type=count(1, MAX_TILES), default=DEFAULT_MAX_TILES,
                        help=f"refuse runs with more tiles (default {DEFAULT_MAX_TILES})")
    parser.add_argument("--overwrite", action="store_true", help="replace outputs that exist")


def grid_kwargs(args: argparse.Namespace) -> dict[str, Any]:
    """GridParams fields from parsed arguments."""
    from xview_engine.errors import SourceError
    from xview_engine.raster.extent import parse_extent

    try:
        bands = tuple(int(b) for b in args.bands.split(",")) if args.bands else ()
    except ValueError:
        raise SourceError(f"--bands '{args.bands}' must be band numbers separated by commas, e.g. 1,2,3") from None
    return {
        "raster": args.raster, "model": args.model, "stride_m": args.stride_m, "overlap": args.overlap,
        "extent": parse_extent(args.extent) if args.extent else None, "extent_crs": args.extent_crs,
        "mask": args.mask, "bands": bands, "device": args.device, "batch_size": args.batch_size,
        "runtime": args.runtime, "threads": args.threads, "max_tiles": args.max_tiles, "overwrite": args.overwrite,
        "command": " ".join(shlex.quote(a) for a in ["xview", *sys.argv[1:]]),
    }


def add_cluster_arguments(parser: argparse.ArgumentParser) -> None:
    """--cluster, --block-tiles, --resume: the run's tiles on a Dask cluster (`xview map`, `index`, `search`)."""
    from xview_engine.mapping.cluster.spec import DEFAULT_BLOCK_TILES, MAX_BLOCK_TILES

    parser.add_argument("--cluster", metavar="ADDRESS",
                        help="run on Dask: local:N (N worker processes here) or a scheduler, tcp://HOST:8786")
    parser.add_argument("--block-tiles", type=count(1, MAX_BLOCK_TILES), default=None,
                        help=f"tiles per cluster task (default {DEFAULT_BLOCK_TILES}); whole rows, or parts of one")
    parser.add_argument("--resume", action="store_true",
                        help="finish an interrupted --cluster run: only its missing blocks are run")


def cluster_spec(args: argparse.Namespace) -> Any:
    """The ``ClusterSpec`` of --cluster (None without it); --block-tiles and --resume need --cluster."""
    from xview_engine.mapping.cluster.spec import DEFAULT_BLOCK_TILES, ClusterError, ClusterSpec, check_spec

    if args.cluster is None:
        if args.resume or args.block_tiles is not None:
            raise ClusterError("--resume and --block-tiles go with --cluster (local:N or a scheduler address)")
        return None
    spec = ClusterSpec(args.cluster, args.block_tiles or DEFAULT_BLOCK_TILES, args.resume)
    check_spec(spec)
    return spec


def say(message: str) -> None:
    print(f"xview: {message}", file=sys.stderr)
