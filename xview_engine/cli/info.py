"""`xview info MODEL`: print what a model file is (its manifest), as text or JSON."""

from __future__ import annotations

import argparse
import json


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("info", help="show a model file's manifest", description=__doc__)
    parser.add_argument("model", help="model file (.safetensors) or exported .onnx")
    parser.add_argument("--json", action="store_true", help="print the whole manifest as JSON")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from xview_engine.model.file import read_manifest

    if str(args.model).lower().endswith(".onnx"):
        from xview_engine.model.onnx_export import read_onnx_manifest

        manifest = read_onnx_manifest(args.model)
    else:
        manifest = read_manifest(args.model)
    if args.json:
        print(json.dumps(manifest.to_dict(), indent=2, sort_keys=True))
        return 0
    inp = manifest.input
    print(f"model:      {args.model}")
    print(f"kind:       {manifest.kind} (format version {manifest.format_version})")
    options = ", ".join(f"{k}={v}" for k, v in manifest.backbone.options.items())
    print(f"backbone:   {manifest.backbone.name}{f' ({options})' if options else ''}, heads hidden {manifest.hidden}")
    print(
        f"input:      {inp.tile_px} px tiles at {inp.gsd_m:g} m/px = {inp.footprint_m:g} m on the ground; "
        f"bands {', '.join(inp.bands)}; mean {list(inp.mean)} std {list(inp.std)}"
    )
    if manifest.takes_time:
        print(f"time:       the heads take when the photo was taken: {', '.join(manifest.time_features)} "
              "(sin/cos); map with --time or --months")
    for head in manifest.heads:
        shown = ", ".join(head.labels[:6]) + (", ..." if head.num_classes > 6 else "")
        space = f"{head.num_classes} {head.label_space} labels"
        print(f"head:       {head.name}: {head.distribution} over {space} ({shown})")
    for key, value in sorted(manifest.training.items()):
        print(f"training:   {key} = {value}")
    return 0
