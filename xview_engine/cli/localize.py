"""`xview localize PHOTO... (--index INDEX | --raster R --model M) -o HEATMAP.tif`: where was it taken?

Each photo's label distributions (from --labels, a label file written by `xview synth` or
`xview teach`, or computed now by --teachers) are scored under every tile's predicted
distributions, per head and combined (sum of log-likelihoods, or --weights). Writes a heatmap
GeoTIFF per photo (band 1 combined log-likelihood, band 2 posterior over tiles, then one band per
head; several photos: -o is a folder, one <photo>.tif each) and prints the top-k candidates. When
a photo carries EXIF GPS (or the label file gives its position), the true tile's rank, its best-x %
and the distance of the best candidate are reported too.
"""

from __future__ import annotations

import argparse
import json
from typing import TYPE_CHECKING

from xview_engine.cli._numbers import count, number, positive
from xview_engine.limits import MAX_STRIDE_M, MAX_TOP_K, MAX_WEIGHT, check_number

if TYPE_CHECKING:
    from xview_engine.localization.localize import PhotoResult


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("localize", help="find where a ground photo was taken", description=__doc__)
    parser.add_argument("photos", nargs="+", metavar="PHOTO", help="ground photo(s)")
    parser.add_argument("--index", help="index folder from `xview index`")
    parser.add_argument("--raster", help="raster to index on the fly (with --model), or to check --index against")
    parser.add_argument("--model", help="model file for --raster (or to check --index against)")
    add_photo_label_arguments(parser)
    parser.add_argument("-o", "--out", required=True, help="heatmap GeoTIFF (a folder when several photos)")
    parser.add_argument("--top-k", type=count(1, MAX_TOP_K), default=10, help="candidates to report (default 10)")
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    parser.add_argument("--stride-m", type=positive(MAX_STRIDE_M),
                        help="tile stride for --raster indexing (default half a tile)")
    add_fov_argument(parser, "360, panoramas")
    parser.add_argument("--overwrite", action="store_true", help="replace outputs that exist")
    parser.set_defaults(func=run)


def add_photo_label_arguments(parser: argparse.ArgumentParser) -> None:
    """Where the photos' label distributions come from and how heads combine: shared by
    `localize`, `evaluate` and `retrieve`."""
    parser.add_argument("--labels", help="label file holding the photos' distributions (xview synth/teach)")
    parser.add_argument("--teachers", help="teacher spec to label the photos now, e.g. synthetic=teacher.safetensors "
                        "or places365:resnet50 (a published file: xview weights list)")
    parser.add_argument("--heads", help="comma list of heads to use (default: all heads the labels have)")
    parser.add_argument("--weights", help="combination weights, e.g. scene=1,count=0.5 (default 1 each)")
    parser.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))


def add_fov_argument(parser: argparse.ArgumentParser, default: str) -> None:
    """The photos' field of view: a twin index slides a map of FOV / 360 of the panorama width."""
    parser.add_argument("--fov", type=number(0, 360, low_open=True), metavar="DEG",
                        help=f"the photos' horizontal field of view in degrees, for a twin index (default: {default})")


def parse_weights(text: str | None) -> dict[str, float]:
    """'scene=1,count=0.5' -> {'scene': 1.0, 'count': 0.5}; a weight is finite and not negative
    (NaN would make every score NaN and still exit 0)."""
    from xview_engine.cli.main import UsageError

    weights: dict[str, float] = {}
    for part in (p.strip() for p in (text or "").split(",") if p.strip()):
        name, sep, value = part.partition("=")
        try:
            number = float(value)
        except ValueError:
            sep = ""
        if not (sep and name.strip()):
            raise UsageError(f"--weights '{part}' must be head=number, e.g. scene=1,count=0.5")
        weights[name.strip()] = check_number(f"--weights {name.strip()}=", number, 0, MAX_WEIGHT, UsageError)
    return weights


def split_list(text: str | None) -> tuple[str, ...]:
    return tuple(p.strip() for p in text.split(",") if p.strip()) if text else ()


def run(args: argparse.Namespace) -> int:
    from xview_engine.localization.localize import LocalizeParams, localize
    from xview_engine.progress import TerminalProgress

    params = LocalizeParams(
        photos=tuple(args.photos), out=args.out, index=args.index, raster=args.raster, model=args.model,
        labels=args.labels, teachers=args.teachers, heads=split_list(args.heads),
        weights=parse_weights(args.weights), top_k=args.top_k, device=args.device, stride_m=args.stride_m,
        overwrite=args.overwrite, fov_deg=args.fov,
    )
    results = localize(params, progress=TerminalProgress("xview localize"))
    if args.json:
        print(json.dumps([r.to_dict() for r in results], indent=2))
        return 0
    for result in results:
        print_result(result)
    return 0


def print_result(result: PhotoResult) -> None:
    print(f"{result.photo} -> {result.heatmap}")
    for c in result.candidates:
        extras = "".join(f"  {k} {v:.1f}" for k, v in c.extras.items())
        print(f"  {c.rank:3d}  score {c.score:12.3f}  posterior {c.posterior:.4f}  x {c.x:.1f} y {c.y:.1f}  "
              f"lon {c.lon:.6f} lat {c.lat:.6f}{extras}")
    truth = result.truth
    if truth and truth.get("rank"):
        ranks = ", ".join(f"{h} {r}" for h, r in truth["rank"].items())
        print(f"  truth ({truth['source']}): rank {ranks} of {truth['candidates']} tiles "
              f"(best {truth['best_percent']['combined']:.2f} %); best candidate "
              f"{truth['best_candidate_distance_m']:.0f} m from the truth")
    elif truth:
        print(f"  truth ({truth['source']}): {truth['note']}")
