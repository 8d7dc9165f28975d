"""`xview teach PAIRS.csv --teachers SPEC -o labels.npz`: label ground photos with ground-level networks."""

from __future__ import annotations

import argparse

from xview_engine.cli._numbers import count, number
from xview_engine.limits import MAX_BATCH_SIZE

SPEC_HELP = ("comma-separated family[:arch]=weights: places365[:resnet18|resnet50]=X.pth.tar (CSAIL), "
             "imagenet[:resnet50|...]=X.pth (torchvision), coco[:fasterrcnn|fasterrcnn_mobilenet_v3_large_fpn|...]"
             "=X.pth (torchvision Faster R-CNN), synthetic=teacher.safetensors (xview train teacher), "
             "csv[:KIND]=ATTRIBUTES.csv (values you have: a photo column, a column per attribute or HEAD:CLASS); "
             "family[:arch] without =weights uses the published file (xview weights list), e.g. places365:resnet50")


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("teach", help="label ground photos with teacher networks", description=__doc__)
    parser.add_argument("pairs", help="pairs CSV (path, lat, lon, ...; as written by xview synth)")
    parser.add_argument("--teachers", required=True, help=SPEC_HELP)
    parser.add_argument("-o", "--out", required=True, help="label file to write (.npz)")
    parser.add_argument("--kind", action="append", default=[], metavar="HEAD=KIND",
                        help="what a csv teacher's head holds: categorical, counts, fraction ([0, 1]: Beta), "
                             "binary (yes/no: Bernoulli), continuous (Gaussian) "
                             "(repeatable; else ATTRIBUTES.kinds.csv)")
    parser.add_argument("--cache-dir", help="teacher output cache (default: OUT folder/.xview-teach-cache)")
    parser.add_argument("--no-cache", action="store_true", help="do not read or write the cache")
    parser.add_argument("--coco-threshold", type=number(0, 1), default=0.5,
                        help="detection score counted (default 0.5)")
    parser.add_argument("--device", default="auto", help="auto | cpu | cuda (default auto)")
    parser.add_argument("--batch-size", type=count(1, MAX_BATCH_SIZE), default=16, help="photos per batch (default 16)")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing output")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from xview_engine.model.device import describe_device, resolve_device
    from xview_engine.progress import TerminalProgress
    from xview_engine.teachers.run import teach

    device = resolve_device(args.device)
    out = Path(args.out)
    cache = None if args.no_cache else Path(args.cache_dir or out.parent / ".xview-teach-cache")
    print(f"teaching on {describe_device(device)}")
    path = teach(args.pairs, args.teachers, out, device=device, coco_threshold=args.coco_threshold,
                 cache_dir=cache, overwrite=args.overwrite, batch_size=args.batch_size,
                 progress=TerminalProgress("teach", unit="photos"), kinds=_kinds(args.kind))
    print(f"wrote {path}")
    return 0


def _kinds(items: list[str]) -> dict[str, str]:
    """``--kind HEAD=KIND`` options as {head: kind}; the kinds are checked by the attribute teacher."""
    from xview_engine.errors import TeacherError

    kinds = {}
    for item in items:
        head, sep, kind = item.partition("=")
        if not sep or not head.strip() or not kind.strip():
            raise TeacherError(f"--kind '{item}' must be HEAD=KIND, e.g. --kind transient=fraction")
        kinds[head.strip()] = kind.strip()
    return kinds
