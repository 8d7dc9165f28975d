"""`xview weights list | fetch NAME... | path NAME`: the published teacher and backbone weights, on demand.

`list` shows every file xview knows (name, state in the cache, size, what uses it); `fetch`
downloads into the cache (``$XVIEW_HOME/weights``, default under the user's cache folder) with a
progress bar, resumes an interrupted download, and checks the SHA-256 before the file gets its name;
`path` prints the checked cached file (scripts: ``--backbone-weights "$(xview weights path
imagenet:resnet50)"``), or says what to download and where to place it. Specs take the names
directly: ``--teachers places365:resnet50``, ``--backbone-weights imagenet:resnet50``.
"""

from __future__ import annotations

import argparse

from xview_engine.cli._numbers import positive

MAX_TIMEOUT_S = 3600.0


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("weights", help="published teacher and backbone weights: list, fetch, path",
                                   description=__doc__)
    sub = parser.add_subparsers(dest="action", metavar="ACTION", parser_class=type(parser))
    sub.required = True
    sub.add_parser("list", help="every known file, whether it is cached, what uses it").set_defaults(func=run_list)
    fetch = sub.add_parser("fetch", help="download, check and cache published files")
    fetch.add_argument("names", nargs="+", metavar="NAME", help="e.g. places365:resnet50 imagenet:vgg16")
    fetch.add_argument("--timeout", type=positive(MAX_TIMEOUT_S), default=30.0,
                       help="seconds to wait for the server at each step (default 30)")
    fetch.set_defaults(func=run_fetch)
    path = sub.add_parser("path", help="the checked cached file of NAME (never downloads)")
    path.add_argument("name", metavar="NAME")
    path.set_defaults(func=run_path)


def run_list(args: argparse.Namespace) -> int:
    from xview_engine.weights import cache_states, weights_dir

    print(f"weights folder: {weights_dir()}")
    for state in cache_states():
        entry = state.entry
        size = f"{entry.size / 2**20:7.1f} MiB" if entry.size else f"{'?':>7} MiB"
        here = {"cached": "cached", "partial": f"partial ({state.size / 2**20:.1f} MiB)", "missing": "-"}[state.state]
        print(f"{entry.name:<29} {here:<22} {size}  {entry.description}")
        print(f"{'':<29} used by: {entry.used_by}")
    return 0


def run_fetch(args: argparse.Namespace) -> int:
    from xview_engine.weights import fetch, lookup
    from xview_engine.weights.fetch import mib_progress

    entries = [lookup(name) for name in args.names]  # every name checked before any download
    for entry in entries:
        path = fetch(entry, progress=mib_progress(f"fetch {entry.name}"), timeout=args.timeout,
                     log=lambda line: print(f"xview: {line}"))
        print(f"{entry.name}: {path}")
    return 0


def run_path(args: argparse.Namespace) -> int:
    from xview_engine.errors import WeightsError
    from xview_engine.weights import cached_path, lookup, missing_message
    from xview_engine.weights.store import verify

    entry = lookup(args.name)
    path = cached_path(entry)
    if not path.is_file():
        raise WeightsError(missing_message(entry, path, "`xview weights path` never downloads"))
    verify(entry, path)
    print(path)
    return 0
