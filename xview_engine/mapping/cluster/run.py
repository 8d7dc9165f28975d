"""A grid run's blocks on a cluster, from the work folder's preparation to the finished block set.

``cluster_blocks`` is what every tool's cluster path goes through: lay the blocks, key the run
(``resume.run_inputs``), prepare the work folder (or resume it: the blocks already there and whole
are not run again), connect, run the missing blocks with progress, and yield the ``BlockRun`` the
tool assembles its outputs from. Leaving the context removes the work folder, unless the run was
interrupted (``resume.kept_for_resume``).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

import numpy as np

from xview_engine.cache import file_sha256
from xview_engine.errors import SourceError
from xview_engine.mapping.cluster import resume
from xview_engine.mapping.cluster.blocks import BlockSet, block_ok, layout
from xview_engine.mapping.cluster.client import connect, run_tasks
from xview_engine.mapping.cluster.spec import ClusterSpec, check_spec
from xview_engine.mapping.cluster.worker import BlockDone, BlockTask
from xview_engine.mapping.plan import GridParams, GridPlan
from xview_engine.model.manifest import Manifest
from xview_engine.progress import CancelCheck, Log, ProgressCallback


@dataclass
class BlockRun:
    """The finished blocks of a run, what ran them (``description``, as a runtime's) and the cluster metadata."""

    blocks: BlockSet
    description: str
    cluster: dict[str, Any]


def check_cluster_input(spec: ClusterSpec, raster: str, has_own_source: bool) -> None:
    """Before any work: a valid spec, and a raster the workers can open by path."""
    check_spec(spec)
    if has_own_source or not Path(raster).is_file():
        raise SourceError(f"a cluster run opens the raster by path on every worker, and {raster} is not a file: "
                          "give a raster file (GeoTIFF, VRT, COG) the workers can read")


@contextlib.contextmanager
def cluster_blocks(params: GridParams, spec: ClusterSpec, manifest: Manifest, plan: GridPlan, work: Path,
                   progress: Optional[ProgressCallback], cancel: Optional[CancelCheck], log: Log,
                   times: Optional[np.ndarray] = None) -> Iterator[BlockRun]:
    """Run the grid's blocks on the cluster (those not already done); yield them for the tool to assemble.

    ``times``: (S, F) time features a time-aware model runs every tile at (part of the run's key).
    """
    blocks = layout(plan.grid, spec.block_tiles)
    model_sha256 = file_sha256(params.model)
    inputs = resume.run_inputs(params, spec, plan.grid, model_sha256, times)
    key = resume.prepare(work, inputs, spec.resume, params.overwrite, log)  # its refusals leave the folder be
    with resume.kept_for_resume(work, log):
        todo = [b for b in blocks if not block_ok(work, b, key)] if spec.resume else list(blocks)
        log(f"{plan.grid.count:,} tiles in {len(blocks):,} block(s) of up to {spec.block_tiles:,} tiles"
            + (f"; {len(blocks) - len(todo):,} already done, {len(todo):,} to run" if spec.resume else ""))
        done: list[BlockDone] = []
        with connect(spec, params.device, log) as session:
            tasks = [BlockTask(params, plan.grid, block, str(work), key, model_sha256, session.threads_by_host,
                               session.gpus, times) for block in todo]
            finished = plan.grid.count - sum(b.count for b in todo)
            done = run_tasks(session, tasks, finished, plan.grid.count, progress, cancel)
            meta = {"address": spec.address, "workers": session.workers, "blocks": len(blocks),
                    "block_tiles": spec.block_tiles, "blocks_resumed": len(blocks) - len(todo)}
        yield BlockRun(BlockSet(work, plan.grid, blocks, manifest), _description(done), meta)


def _description(done: list[BlockDone]) -> str:
    """What ran the blocks, as a runtime describes itself; several kinds of worker are all named."""
    kinds = sorted({d.runtime for d in done})
    if not kinds:
        return "blocks of an earlier run (resumed)"
    return f"{kinds[0]} on the cluster's workers" if len(kinds) == 1 else "; ".join(kinds)
