"""The run's work folder and its record: what a crashed, killed or lost run left, and whether it may finish.

A cluster run writes its blocks into a hidden folder beside its output (``.NAME.xview-blocks``)
with ``run.json``: the run's inputs (the raster's identity without its path and time, the model
file's SHA-256, the mask file's, every tiling and model option that changes a block's numbers, the
grid and the block size) and their key, a SHA-256 of them that each block file carries too.
``--resume`` redoes only the blocks whose file is missing, torn or of another key; when an input or
option changed since, it refuses with one line naming what changed. Without ``--resume`` a folder
left by an interrupted run stops the command (``--overwrite`` starts again). The folder goes when
the outputs are in place, or when the run fails for a reason the user must fix (bad input, a
cancel: nothing is left behind); after an interruption (Ctrl-C, SIGTERM, a kill, a lost cluster)
it stays for ``--resume``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Optional

from xview_engine.cache import file_sha256
from xview_engine.errors import OutputError, XviewError
from xview_engine.mapping.cluster.spec import ClusterError, ClusterSpec
from xview_engine.mapping.plan import GridParams
from xview_engine.outputs import atomic_output
from xview_engine.raster.grid import TileGrid
from xview_engine.raster.identity import raster_identity

FORMAT, VERSION, RECORD = "xview-blocks", 1, "run.json"
WORK_SUFFIX = ".xview-blocks"
# GridParams fields that do not change a block's numbers (or are recorded by content, not by name)
NOT_IN_KEY = ("raster", "model", "mask", "threads", "max_tiles", "overwrite", "command")
RASTER_KEYS = ("bytes", "width", "height", "count", "crs", "transform", "content_hash")


class ClusterLost(ClusterError):
    """The scheduler went away or a block's workers kept dying: the finished blocks stay for ``--resume``."""


def work_folder(output: Path) -> Path:
    """The hidden folder beside ``output`` (a file or a folder's products.json) that holds the run's blocks."""
    return output.parent / f".{output.name}{WORK_SUFFIX}"


def run_inputs(params: GridParams, spec: ClusterSpec, grid: TileGrid, model_sha256: str,
               times: Any = None) -> dict[str, Any]:
    """Everything a block's numbers depend on, as plain JSON data (a time-aware run's (S, F) ``times`` too)."""
    identity = raster_identity(params.raster)
    options = {f.name: getattr(params, f.name) for f in dataclasses.fields(GridParams) if f.name not in NOT_IN_KEY}
    timed = {} if times is None else {"times": [[float(v) for v in step] for step in times]}
    return {
        **timed,
        "raster": {k: identity.get(k) for k in RASTER_KEYS},
        "model": model_sha256,
        "mask": file_sha256(params.mask) if params.mask else None,
        "options": json.loads(json.dumps(options)),  # tuples as lists, as they read back
        "grid": dataclasses.asdict(grid),
        "block_tiles": spec.block_tiles,
    }


def run_key(inputs: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(inputs, sort_keys=True).encode("utf-8")).hexdigest()


def prepare(work: Path, inputs: dict[str, Any], resume: bool, overwrite: bool, log: Callable[[str], None]) -> str:
    """Make (or, resuming, check and tidy) the work folder; return the run's key."""
    key = run_key(inputs)
    if work.exists():
        if resume:
            _check_same(work, _read_record(work), inputs)
            for part in work.glob(".*.part*"):  # a block being written when its worker died
                part.unlink(missing_ok=True)
            return key
        if not overwrite:
            raise OutputError(f"{work} holds the finished blocks of an interrupted run: pass --resume to finish it, "
                              "or --overwrite to start again")
        shutil.rmtree(work)
    elif resume:
        log(f"nothing to resume in {work}: starting from the first block")
    work.mkdir()
    record = {"format": FORMAT, "version": VERSION, "key": key, "inputs": inputs}
    with atomic_output(work / RECORD) as tmp:
        tmp.write_text(json.dumps(record, indent=1), encoding="utf-8")
    return key


@contextlib.contextmanager
def kept_for_resume(work: Path, log: Callable[[str], None]) -> Iterator[None]:
    """Remove the work folder when the block succeeds or fails for the user to fix; keep it after an interruption."""
    try:
        yield
    except ClusterLost:
        _say_kept(work, log)
        raise
    except XviewError:
        shutil.rmtree(work, ignore_errors=True)
        raise
    except BaseException:
        _say_kept(work, log)
        raise
    shutil.rmtree(work, ignore_errors=True)


def _say_kept(work: Path, log: Callable[[str], None]) -> None:
    if work.is_dir():
        log(f"the finished blocks are kept in {work}: run the same command with --resume to finish the run")


def _read_record(work: Path) -> dict[str, Any]:
    try:
        record = json.loads((work / RECORD).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        record = None
    if not isinstance(record, dict) or record.get("format") != FORMAT or record.get("version") != VERSION:
        raise ClusterError(f"cannot resume: {work / RECORD} is missing or damaged; start again with --overwrite")
    return record


def _check_same(work: Path, record: dict[str, Any], inputs: dict[str, Any]) -> None:
    changed = _changes(record.get("inputs") or {}, inputs)
    if changed:
        raise ClusterError(f"cannot resume the run in {work}: {'; '.join(changed)} since it was interrupted; "
                           "undo the change, or start again with --overwrite")


def _changes(before: dict[str, Any], now: dict[str, Any]) -> list[str]:
    """What differs, in the words of the command line."""
    changed = []
    raster = [k for k in RASTER_KEYS if (before.get("raster") or {}).get(k) != now["raster"].get(k)]
    if raster:
        changed.append(f"the raster changed ({', '.join(raster)})")
    for name, what in (("model", "the model file"), ("mask", "the mask file")):
        if before.get(name) != now[name]:
            changed.append(f"{what} changed (another SHA-256)")
    old_options = before.get("options") or {}
    for name, value in now["options"].items():
        if old_options.get(name) != value:
            changed.append(f"--{name.replace('_', '-')} changed ({_shown(old_options.get(name))} -> {_shown(value)})")
    if before.get("block_tiles") != now["block_tiles"]:
        changed.append(f"--block-tiles changed ({before.get('block_tiles')} -> {now['block_tiles']})")
    if not changed and before.get("grid") != now["grid"]:
        changed.append("the tile grid changed (another xview version or PROJ database)")
    return changed


def _shown(value: Optional[Any]) -> str:
    if value is None or value == []:
        return "not given"
    if isinstance(value, list):
        return ",".join(_shown(v) for v in value)
    return f"{value:g}" if isinstance(value, float) else str(value)
