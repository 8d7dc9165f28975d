"""`xview retrieve`: cross-view retrieval both ways, with the localization likelihood.

photo -> tiles:  xview retrieve PHOTO... --index INDEX --labels FILE -o DIR [--top-k K]
                 the k best overhead tiles per photo, as PNG chips DIR/<photo>_rankNN.png
tile -> photos:  xview retrieve --tile X,Y [--tile-crs EPSG:4326] --index INDEX --labels FILE -o DIR
                 the photos of the label file most likely under that tile's predicted distributions
Both write DIR/retrieve.json (ranks, scores, coordinates).
"""

from __future__ import annotations

import argparse

from xview_engine.cli._numbers import count
from xview_engine.cli.localize import add_photo_label_arguments, parse_weights, split_list
from xview_engine.limits import MAX_CHIPS


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("retrieve", help="photo -> overhead tiles, or tile -> ground photos",
                                   description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("photos", nargs="*", metavar="PHOTO", help="query photos (photo -> tiles), or the "
                        "collection for --tile with --teachers (default: every photo of --labels)")
    parser.add_argument("--index", required=True, help="index folder from `xview index`")
    parser.add_argument("--tile", help="X,Y of a point on the map: tile -> photos")
    parser.add_argument("--tile-crs", help="CRS of --tile, e.g. EPSG:4326 for lon,lat (default: the index's)")
    parser.add_argument("--raster", help="raster to cut chips from (default: the one the index was built from)")
    add_photo_label_arguments(parser)
    parser.add_argument("--top-k", type=count(1, MAX_CHIPS), default=5, help="results per query (default 5)")
    parser.add_argument("-o", "--out-dir", required=True, help="output folder (created if missing)")
    parser.add_argument("--overwrite", action="store_true", help="replace outputs that exist")
    parser.set_defaults(func=run)


def parse_point(text: str | None) -> tuple[float, float] | None:
    from xview_engine.cli.main import UsageError

    if text is None:
        return None
    try:
        x, y = (float(v) for v in text.split(","))
    except ValueError:
        raise UsageError(f"--tile '{text}' must be X,Y, e.g. 613150,4817300 or 16.40,43.50 with --tile-crs "
                         "EPSG:4326") from None
    return x, y


def run(args: argparse.Namespace) -> int:
    from xview_engine.localization.retrieve import RetrieveParams, retrieve

    params = RetrieveParams(index=args.index, out_dir=args.out_dir, photos=tuple(args.photos),
                            tile=parse_point(args.tile), tile_crs=args.tile_crs, labels=args.labels,
                            teachers=args.teachers, raster=args.raster, heads=split_list(args.heads),
                            weights=parse_weights(args.weights), top_k=args.top_k, device=args.device,
                            overwrite=args.overwrite)
    report = retrieve(params)
    if report["direction"] == "tile->photos":
        t = report["tile"]
        print(f"tile {t['tile']} at lon {t['lon']:.6f} lat {t['lat']:.6f} ({report['chip']}):")
        for p in report["photos"]:
            print(f"  {p['rank']:3d}  score {p['score']:12.3f}  {p['photo']}")
    else:
        for entry in report["photos"]:
            print(f"{entry['photo']}:")
            for c, chip in zip(entry["candidates"], entry["chips"]):
                print(f"  {c['rank']:3d}  score {c['score']:12.3f}  lon {c['lon']:.6f} lat {c['lat']:.6f}  {chip}")
    print(f"results in {args.out_dir}/retrieve.json")
    return 0
