"""`xview doctor`: what the engine needs and what this Python has (the plugin's diagnostics report)."""

from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("doctor", help="report Python, dependencies, torch and the GPU",
                                   description=__doc__)
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.add_argument("--profile", help="a QGIS profile folder: put its xview engine folder on the path first, "
                                          "as the plugin does at start-up, and report it")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from xview_engine.install.bootstrap import bootstrap, engine_folder
    from xview_engine.install.report import environment_report, report_json, report_text

    folder = engine_folder(args.profile) if args.profile else None
    if args.profile:
        bootstrap(args.profile)
    report = environment_report(engine_folder=folder)
    print(report_json(report) if args.json else report_text(report), end="")
    return 0
