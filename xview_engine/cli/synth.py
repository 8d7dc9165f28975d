"""`xview synth`: make a synthetic cross-view world with known truth (see ``xview_engine.synth``)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from xview_engine.cli._numbers import count, number, positive
from xview_engine.limits import MAX_GSD_M, MAX_PHOTOS, MAX_SEED, MAX_WORLD_M


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "synth",
        help="make a synthetic world (overhead GeoTIFF, ground photos, true labels)",
        description="Write a seeded procedural world with known truth: overhead.tif, landcover.tif, "
        "photos/*.jpg with EXIF GPS and heading, labels.json/.npz, pairs.csv. Everything is synthetic.",
    )
    parser.add_argument("-o", "--out-dir", required=True, help="output folder (created if missing)")
    parser.add_argument("--seed", type=count(0, MAX_SEED), default=0,
                        help="random seed; same seed, same bytes (default 0)")
    parser.add_argument("--size-m", type=positive(MAX_WORLD_M), default=3000.0,
                        help="side of the square world in metres")
    parser.add_argument("--gsd", type=positive(MAX_GSD_M), default=0.5, help="overhead pixel size in ground metres")
    parser.add_argument("--photos", type=count(0, MAX_PHOTOS), default=2000, help="number of ground photos")
    parser.add_argument("--fov", type=number(0, 360, low_open=True), default=360.0,
                        help="photo field of view in degrees: 360 (panorama); from 180 a cylindrical crop of the "
                        "panorama (e.g. 180, 270); under 180 a perspective photo (e.g. 90, 70)")
    parser.add_argument("--water-photo-share", type=number(0, 1), default=0.12,
                        help="share of photos taken afloat (boats, piers, ferries), in [0, 1] (default 0.12)")
    parser.add_argument("--months", help="photos taken in these months (e.g. 1-12 or 12,1,2), each rendered at its "
                        "time (snow, bare trees, night), with EXIF DateTimeOriginal, a pairs.csv time column and the "
                        "transient attributes snow, night, foliage in labels.npz (default: timeless photos)")
    parser.add_argument("--crs", default="EPSG:32633", help="projected CRS as EPSG code (default EPSG:32633)")
    parser.add_argument("--preview", nargs="?", const="", default=None, metavar="DIR",
                        help="also write preview PNGs (default folder OUT_DIR/preview)")
    parser.add_argument("--overwrite", action="store_true", help="replace existing outputs")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from xview_engine.errors import SynthError
    from xview_engine.model.time_features import TimeFormatError, parse_months
    from xview_engine.progress import TerminalProgress
    from xview_engine.synth.params import SynthParams
    from xview_engine.synth.preview import write_preview
    from xview_engine.synth.world import make_world

    try:
        months = parse_months(args.months) if args.months else ()
    except TimeFormatError as exc:
        raise SynthError(f"--months: {exc}") from None
    params = SynthParams(seed=args.seed, size_m=args.size_m, gsd=args.gsd, photos=args.photos, fov=args.fov,
                         crs=args.crs, water_photo_share=args.water_photo_share, months=months)
    progress = TerminalProgress("xview synth", unit="steps")
    make_world(params, args.out_dir, progress=progress, overwrite=args.overwrite)
    print(f"wrote a synthetic world ({params.size_m:g} m, {params.photos} photos) to {args.out_dir}")
    if args.preview is not None:
        folder = Path(args.preview) if args.preview else Path(args.out_dir) / "preview"
        for path in write_preview(args.out_dir, folder):
            print(f"preview: {path}", file=sys.stdout)
    return 0
