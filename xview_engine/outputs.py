"""Atomic outputs: write to a temporary name beside the target, rename when complete.

A failed or cancelled run leaves no partial file; an existing output stops a command before any
work unless the caller allows overwriting. Temporary names carry the writer's pid
(``.NAME.PID-XXXX.part``), so what a SIGKILL leaves is recognised and removed by the next run into
the folder (``remove_stale_parts``). ``output_lock`` keeps two runs from writing the same output.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

from xview_engine.errors import OutputError


def check_outputs_free(paths: Iterable[str | os.PathLike], overwrite: bool) -> None:
    """Refuse, before any work, outputs that exist (unless overwrite) or whose folder is missing."""
    for path in map(Path, paths):
        if not path.parent.exists():
            raise OutputError(f"output folder {path.parent} does not exist; create it or choose another path")
        if path.exists() and not overwrite:
            raise OutputError(f"output {path} already exists; pass --overwrite to replace it")


@contextlib.contextmanager
def atomic_output(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path in the target folder; rename it to ``path`` only if the block succeeds."""
    target = Path(path)
    fd, tmp_name = tempfile.mkstemp(prefix=part_prefix(target), suffix=".part" + target.suffix, dir=target.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    os.chmod(tmp, 0o666 & ~_current_umask())  # mkstemp makes 0600; outputs get the usual permissions
    try:
        yield tmp
        os.replace(tmp, target)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


def _current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


PART_NAME = re.compile(r"^\..+\.(\d+)-[^.]+\.part(\.[^.]+)?$")  # .NAME.PID-RANDOM.part[.EXT]
LOCK_SUFFIX = ".xview.lock"


def part_prefix(target: Path) -> str:
    """Start of a temporary name for ``target``: hidden, with the writing process's pid."""
    return f".{target.name}.{os.getpid()}-"


def pid_alive(pid: int) -> bool:
    """Whether a process with this pid exists (one of another user counts as alive)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_stale_parts(folder: Path, log: Callable[[str], None]) -> None:
    """Delete temporary outputs in ``folder`` whose writing process is gone (killed), saying so."""
    with contextlib.suppress(OSError):
        for entry in folder.iterdir():
            match = PART_NAME.match(entry.name)
            if match is None or pid_alive(int(match.group(1))):
                continue
            with contextlib.suppress(OSError):
                shutil.rmtree(entry) if entry.is_dir() and not entry.is_symlink() else entry.unlink()
                log(f"removed {entry}, left by an earlier run (pid {match.group(1)}) that was killed")


@contextlib.contextmanager
def output_lock(target: str | os.PathLike, log: Callable[[str], None]) -> Iterator[None]:
    """Hold ``target``'s lock file (its pid inside) for a whole run; a lock of a dead process is taken over.

    The lock lies beside the output (``.NAME.xview.lock``), file or folder, existing or not, so two
    runs writing the same output meet on it. Where no lock can be made (a missing or read-only
    folder) the run goes on unlocked and its own writes report the problem with the output's path.
    Temporary outputs of killed runs in the output's folder (and in the output folder itself) go.
    """
    target = Path(target)
    lock = target.parent / f".{target.name}{LOCK_SUFFIX}"
    for folder in (target.parent, target):
        if folder.is_dir():
            remove_stale_parts(folder, log)
    locked = _acquire(lock, target, log)
    try:
        yield
    finally:
        with contextlib.suppress(OSError):
            if locked and _lock_owner(lock) == os.getpid():
                lock.unlink()


def _acquire(lock: Path, target: Path, log: Callable[[str], None]) -> bool:
    """Take the lock; False where it cannot be made at all; an OutputError while a live run holds it."""
    for _attempt in range(2):
        try:
            fd = os.open(lock, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        except FileExistsError:
            owner = _lock_owner(lock)
            if (owner is not None and pid_alive(owner)) or (owner is None and _just_made(lock)):
                raise OutputError(f"{target} is being written by another xview run (pid {owner}, lock {lock}); "
                                  "wait for it to finish or choose another output") from None
            with contextlib.suppress(FileNotFoundError):
                lock.unlink()
            log(f"removed the stale lock {lock} of an earlier run (pid {owner}) that is gone")
            continue
        except OSError:
            return False
        with os.fdopen(fd, "w", encoding="ascii") as fh:
            fh.write(f"{os.getpid()}\n")
        return True
    raise OutputError(f"cannot take the lock {lock} for {target}: another run keeps taking it; try again")


def _just_made(lock: Path) -> bool:
    """A lock without a pid yet may be one another run is writing this instant."""
    try:
        return time.time() - lock.stat().st_mtime < 2.0
    except OSError:
        return False


def _lock_owner(lock: Path) -> int | None:
    """The pid written in a lock file; None when unreadable or not a pid (a damaged lock is stale)."""
    try:
        text = lock.read_text(encoding="ascii").strip()
    except (OSError, UnicodeDecodeError):
        return None
    return int(text) if text.isdigit() else None
