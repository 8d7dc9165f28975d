"""Entry point of the `xview` command.

Each command lives in its own module of this package and exposes ``register(subparsers)``, which
adds its parser and sets ``func`` to a function taking the parsed namespace. Command modules import
torch and friends inside their run functions so that ``xview --help`` stays fast.

Error convention: an ``XviewError`` (or a bad argument) prints one line ``xview: error: ...`` and
exits 2 with no traceback; anything else is a bug and exits 1 with its traceback.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
import traceback
from collections.abc import Sequence

from xview_engine import __version__
from xview_engine.errors import XviewError

# Modules of xview_engine.cli that register a command, in the order `xview --help` lists them.
COMMAND_MODULES: tuple[str, ...] = (
    "info",
    "export_onnx",
    "synth",
    "map",
    "search",
    "teach",
    "train",
    "index",
    "localize",
    "evaluate",
    "retrieve",
    "verify",
    "demo",
)
COMMAND_MODULES += ("features", "pca")  # off-the-shelf classifier features (training/knn.py, mapping/pca.py)


class OneLineArgumentParser(argparse.ArgumentParser):
    """argparse prints the usage block before an error; the contract is a single line."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise UsageError(f"{message} (see '{self.prog} --help')")


class UsageError(XviewError):
    """A bad command-line argument."""


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineArgumentParser(
        prog="xview",
        description="Map what people would see on the ground from overhead imagery, "
        "and find where a ground photo was taken.",
    )
    parser.add_argument("--version", action="version", version=f"xview {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=OneLineArgumentParser)
    subparsers.required = True
    for name in COMMAND_MODULES:
        importlib.import_module(f"xview_engine.cli.{name}").register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; returns the process exit status (0 ok, 2 user error, 1 bug, 130 interrupt)."""
    try:
        args = build_parser().parse_args(argv)
        status = args.func(args)
    except XviewError as exc:
        print(f"xview: error: {one_line(exc)}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # output piped into `head` and friends: not an error
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except KeyboardInterrupt:
        print("xview: interrupted; no output was written", file=sys.stderr)
        return 130
    except SystemExit as exc:  # --help / --version
        return int(exc.code or 0)
    except Exception:  # a bug: show everything so it can be reported
        traceback.print_exc()
        print("xview: internal error (a bug); please report it with the traceback above", file=sys.stderr)
        return 1
    return int(status or 0)


def one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())


if __name__ == "__main__":
    sys.exit(main())
