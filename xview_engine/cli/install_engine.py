"""`xview install-engine --folder DIR`: pip-install the engine's pinned dependencies into a folder.

What the plugin's "Install xview's engine" button does, for a terminal: the same plan (pinned
versions, numpy kept at this Python's version, a staging folder renamed into place). The folder is
then put on ``sys.path`` (``PYTHONPATH=DIR``, or the plugin does it for its profile folder).
"""

from __future__ import annotations

import argparse

from xview_engine.errors import XviewError


def register(subparsers: argparse._SubParsersAction) -> None:
    from xview_engine.install.cuda import BUILDS

    parser = subparsers.add_parser("install-engine", help="install the engine's dependencies into a folder",
                                   description=__doc__)
    parser.add_argument("--folder", required=True, help="folder to install into (replaced when it exists)")
    parser.add_argument("--build", default="auto", choices=("auto", *BUILDS),
                        help="torch build: auto follows nvidia-smi (default auto)")
    parser.add_argument("--torch-index", default="auto",
                        help="extra index for the torch build: auto (download.pytorch.org) or none (the configured "
                             "package indexes only, e.g. offline with local wheels)")
    parser.add_argument("--only", help="comma-separated distributions to install (default: all of the engine's)")
    parser.add_argument("--method", default="venv", choices=("venv", "target"),
                        help="a venv seeing this Python's packages (default), or pip --target")
    parser.add_argument("--python", help="interpreter to run pip with (default: the Python beside this one)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import time

    from xview_engine.install.cuda import TORCH_INDEX, choose_build, query_nvidia_smi
    from xview_engine.install.interpreter import find_python
    from xview_engine.install.plan import folder_size, make_plan
    from xview_engine.install.requirements import ENGINE_REQUIREMENTS
    from xview_engine.install.run import run_install

    build = choose_build(query_nvidia_smi()).build if args.build == "auto" else args.build
    index = None if args.torch_index == "none" else (
        TORCH_INDEX.format(build=build) if args.torch_index == "auto" else args.torch_index)
    wanted = [r for r in ENGINE_REQUIREMENTS if args.only is None or r.dist in args.only.split(",")]
    unknown = set((args.only or "").split(",")) - {r.dist for r in ENGINE_REQUIREMENTS} - {""}
    if unknown:
        raise XviewError(f"--only names unknown distributions {', '.join(sorted(unknown))} "
                         f"(choose from {', '.join(r.dist for r in ENGINE_REQUIREMENTS)})")
    plan = make_plan(args.folder, args.python or find_python(), build, index, wanted, method=args.method)
    started = time.monotonic()
    folder = run_install(plan)
    print(f"xview: installed {len(wanted)} packages ({build}) into {folder}: "
          f"{folder_size(folder) / 2**20:.0f} MiB in {time.monotonic() - started:.0f} s")
    return 0
