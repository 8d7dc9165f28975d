"""Entry point of the `xview` command.

Each command lives in its own module of this package and exposes ``register(subparsers)``, which
adds its parser and sets ``func`` to a function taking the parsed namespace. Command modules import
torch and friends inside their run functions so that ``xview --help`` stays fast.

Error convention: an ``XviewError`` (or a bad argument), and an ``OSError`` (read-only folder,
full disk, ...) print one line ``xview: error: ...`` and exit 2 with no traceback; SIGINT exits 130
and SIGTERM 143, each with one line, after the temporary outputs are removed; anything else is a
bug and exits 1 with its traceback. A command holds the lock of its output for the whole run
(``outputs.output_lock``).
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import importlib
import os
import re
import signal
import sys
import threading
import traceback
import warnings
from collections.abc import Iterator, Sequence
from typing import TextIO

from xview_engine import __version__
from xview_engine.errors import XviewError, XviewWarning
from xview_engine.outputs import output_lock
from xview_engine.progress import Terminated, request_stop, stop_requested

STOP_GRACE_S = 10.0  # after a signal, how long the work may run on to its next ``check_cancel``

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
COMMAND_MODULES += ("doctor", "install_engine")  # environment report and the engine install (install/)
COMMAND_MODULES += ("classify", "filter")  # photo classifiers on features (training/svm.py, training/classify.py)
COMMAND_MODULES += ("weights",)  # published teacher and backbone weights on demand (weights/)


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


OUTPUT_ARGUMENTS = ("out_dir", "out", "output")  # the attribute naming a command's output, if it writes
OS_ERROR_HINTS = {
    errno.EROFS: "the file system is read-only: choose a writable output folder",
    errno.EACCES: "permission denied: choose a folder you may write, or fix its permissions",
    errno.EPERM: "not permitted: choose a folder you may write, or fix its permissions",
    errno.ENOSPC: "no space left on the device: free some space or write elsewhere",
    errno.EDQUOT: "disk quota exceeded: free some space or write elsewhere",
    errno.EFBIG: "the file would be too large for this file system or limit: write elsewhere",
    errno.EEXIST: "it already exists and is not what xview writes there: choose another output",
    errno.ENOTDIR: "a part of the path is a file, not a folder: choose another path",
    errno.EISDIR: "it is a folder: give a file name",
    errno.ENOENT: "check the path",
}


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; returns the process exit status (0 ok, 2 user error, 1 bug, 130/143 interrupt)."""
    args = None
    try:
        with _signals_stop(), _one_line_warnings():
            args = build_parser().parse_args(argv)
            with _lock_output(args):
                status = args.func(args)
    except XviewError as exc:
        print(f"xview: error: {one_line(exc)}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # output piped into `head` and friends: not an error
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except OSError as exc:
        print(f"xview: error: {os_error_line(exc, _output_of(args))}", file=sys.stderr)
        return 2
    except Terminated:
        print("xview: terminated (SIGTERM); no output was written", file=sys.stderr)
        return 143
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


@contextlib.contextmanager
def _signals_stop() -> Iterator[None]:
    """SIGTERM and Ctrl-C stop the run at its next ``check_cancel`` (``progress.request_stop``).

    Work that reaches none within ``STOP_GRACE_S`` (a long call into a library), or a second signal
    before it does, gets the exception raised where it is, as Python's own Ctrl-C handler does.
    Windows has no SIGALRM: there only the second signal does.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    alarm = getattr(signal, "SIGALRM", None)

    def stop(signum: int, frame: object) -> None:
        pending = stop_requested()
        if pending is not None:  # not delivered within the grace (SIGALRM), or a second signal
            request_stop(None)
            raise pending
        if signum != alarm:
            request_stop(Terminated() if signum == signal.SIGTERM else KeyboardInterrupt())
            if alarm is not None:
                signal.setitimer(signal.ITIMER_REAL, STOP_GRACE_S)

    handled = [signal.SIGTERM, signal.SIGINT] + ([alarm] if alarm is not None else [])
    previous = {signum: signal.signal(signum, stop) for signum in handled}
    try:
        yield
    finally:
        if alarm is not None:
            signal.setitimer(signal.ITIMER_REAL, 0)
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        request_stop(None)


@contextlib.contextmanager
def _one_line_warnings() -> Iterator[None]:
    """An XviewWarning (a photo without usable GPS, ...) is one line ``xview: warning: ...``, each time."""
    with warnings.catch_warnings():
        warnings.simplefilter("always", XviewWarning)
        show = warnings.showwarning

        def show_warning(message: Warning | str, category: type[Warning], filename: str, lineno: int,
                         file: TextIO | None = None, line: str | None = None) -> None:
            if issubclass(category, XviewWarning):
                print(f"xview: warning: {one_line(str(message))}", file=sys.stderr)
            else:
                show(message, category, filename, lineno, file, line)

        warnings.showwarning = show_warning
        yield


def _output_of(args: argparse.Namespace | None) -> str | None:
    return next((getattr(args, name) for name in OUTPUT_ARGUMENTS if getattr(args, name, None)), None)


def _lock_output(args: argparse.Namespace) -> contextlib.AbstractContextManager:
    target = _output_of(args)
    if target is None:
        return contextlib.nullcontext()
    return output_lock(target, lambda message: print(f"xview: {message}", file=sys.stderr))


def os_error_line(exc: OSError, output: str | None = None) -> str:
    """An OSError as one line: the path(s) (else the command's output), the system's reason and what to do."""
    paths = " -> ".join(str(p) for p in (exc.filename, exc.filename2) if p is not None)
    paths = paths or (f"output {output}" if output else "a file")
    hint = OS_ERROR_HINTS.get(exc.errno or 0)
    reason = exc.strerror or str(exc)
    return one_line(f"cannot write or read {paths}: {reason}" + (f"; {hint}" if hint else ""))


def one_line(exc: BaseException | str) -> str:
    """One line: line breaks and tabs become spaces, other control characters are escaped, not dropped."""
    text = re.sub(r"[ \t]*[\r\n]+[ \t]*|\t", " ", str(exc).strip())
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode("ascii") for c in text)


if __name__ == "__main__":
    sys.exit(main())
