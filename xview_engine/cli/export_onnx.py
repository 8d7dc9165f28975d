"""`xview export-onnx MODEL -o model.onnx`: the same model as ONNX, manifest in metadata_props."""

from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("export-onnx", help="export a model file to ONNX", description=__doc__)
    parser.add_argument("model", help="model file (.safetensors)")
    parser.add_argument("-o", "--output", required=True, help="ONNX file to write")
    parser.add_argument("--overwrite", action="store_true", help="replace the output if it exists")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from xview_engine.model.file import read_manifest
    from xview_engine.model.onnx_export import export_onnx
    from xview_engine.outputs import check_outputs_free

    check_outputs_free([args.output], args.overwrite)
    read_manifest(args.model)  # fail on a bad model before any work
    path = export_onnx(args.model, args.output)
    print(f"wrote {path}")
    return 0
