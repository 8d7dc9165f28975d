"""What a Dask worker runs: one block of tiles, from the raster opened by path to the block's file.

A task carries plain data only (``BlockTask``: the tool's parameters, the grid, the block, the work
folder, the run's key, the model file's SHA-256): no dataset, no model. rasterio datasets are not
picklable nor thread-safe, so each worker thread opens the source itself (``mapping.plan.open_source``)
and keeps it open for the run's next blocks on that thread; ``open_grid`` lays the same extent, mask
and grid as the client's over it. The model is loaded once per worker process and kept in a cache
keyed by its file's SHA-256 (``cache.file_sha256``, memoised by path, size and time) with the
runtime, device and threads: a worker that sees another file at the model's path refuses, by name,
instead of mixing two models.

On a machine with GPUs a local cluster has one worker per GPU (``client.local_plan``): worker ``i``
runs on ``cuda:i mod G``. Workers of a remote cluster use the device they were started for
(``CUDA_VISIBLE_DEVICES`` per ``dask worker``).
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

import numpy as np

from xview_engine.cache import file_sha256
from xview_engine.mapping.batches import predict_rows
from xview_engine.mapping.cluster.blocks import Block, collect_block, write_block
from xview_engine.mapping.cluster.spec import ClusterError
from xview_engine.mapping.plan import GridParams, open_grid, open_source
from xview_engine.model.manifest import Manifest
from xview_engine.model.runtime import ModelRuntime, at_times, load_runtime, read_model_manifest
from xview_engine.raster.grid import TileGrid
from xview_engine.raster.source import RasterSource

_MODELS: dict[tuple, tuple[Manifest, ModelRuntime]] = {}  # (sha256, runtime, device, threads) -> loaded, per process
_DIGESTS: dict[tuple, str] = {}  # (path, size, mtime_ns) -> sha256
_MODEL_LOCK = threading.Lock()
_THREAD = threading.local()  # .source: (run key, RasterioSource) this thread reads


@dataclass(frozen=True)
class BlockTask:
    """One block to run: plain data, pickled to the worker."""

    params: GridParams
    grid: TileGrid  # the client's: the worker's own must agree
    block: Block
    work: str
    key: str
    model_sha256: str
    threads_by_host: dict[str, int] = field(default_factory=dict)  # model threads per worker, by host
    gpus: int = 0  # local cluster on a GPU machine: GPUs to spread the workers over
    times: Optional[np.ndarray] = None  # (S, F) time features a time-aware model runs every tile at


@dataclass(frozen=True)
class BlockDone:
    index: int
    tiles_run: int
    seconds: float
    runtime: str
    worker: str


def run_block(task: BlockTask) -> BlockDone:
    """The Dask task: predict the block's tiles and write its file; returns what the client reports."""
    started = time.perf_counter()
    worker_name, host = _worker_identity()
    params = task.params
    device = params.device
    if task.gpus and device != "cpu" and isinstance(worker_name, int):
        device = f"cuda:{worker_name % task.gpus}"
    threads = params.threads or task.threads_by_host.get(host)
    manifest, runtime = cached_model(params.model, task.model_sha256, params.runtime, device, threads, host)
    spec = manifest.input
    with open_grid(params, manifest, _cached_source(task, manifest)) as plan:
        _check_grid(plan.grid, task.grid, params.raster)
        runner = runtime.run if task.times is None else at_times(runtime, task.times)
        rows = predict_rows(plan.source, plan.grid, runner, spec.mean, spec.std, params.batch_size,
                            plan.tile_filter, span=task.block.span, **runtime.batch_options)
        with contextlib.closing(rows):  # the reader stops before the source closes, however this ends
            arrays = collect_block(manifest, task.block, rows)
    write_block(Path(task.work), task.block, task.key, arrays)
    tiles_run = max((int(v.sum()) for k, v in arrays.items() if k.startswith("runs.")), default=0)
    return BlockDone(task.block.index, tiles_run, time.perf_counter() - started, runtime.description,
                     f"{host} #{worker_name}")


def cached_model(path: str, sha256: str, runtime: str, device: str, threads: Optional[int],
                 where: str = "this worker") -> tuple[Manifest, ModelRuntime]:
    """The model loaded once per process, keyed by its file's SHA-256 (checked against the run's)."""
    with _MODEL_LOCK:
        digest = _digest(path)
        if digest != sha256:
            raise ClusterError(f"the model file {path} on {where} is not the one the run started with (SHA-256 "
                               f"{digest[:12]}... != {sha256[:12]}...): give every worker the same model file")
        key = (sha256, runtime, device, threads)
        if key not in _MODELS:
            _MODELS.clear()  # one model per worker at a time: a new run's model replaces the last one
            loaded = load_runtime(path, runtime, device, threads)
            _MODELS[key] = (read_model_manifest(path), loaded)
        return _MODELS[key]


def _digest(path: str) -> str:
    stat = os.stat(path)
    memo = (os.path.abspath(path), stat.st_size, stat.st_mtime_ns)
    if memo not in _DIGESTS:
        _DIGESTS[memo] = file_sha256(path)
    return _DIGESTS[memo]


def _cached_source(task: BlockTask, manifest: Manifest) -> RasterSource:
    """This thread's source for the run, opened on its first block and kept for the next ones.

    Opening measures the stretch of a non-byte raster on a decimated read: once per worker thread, not
    once per block. The extent, mask and grid are laid again for each block (``open_grid``), cheaply.
    """
    held = getattr(_THREAD, "source", None)
    if held is not None and held[0] == task.key:
        return held[1]
    if held is not None:
        held[1].close()
        _THREAD.source = None
    source, _ = open_source(task.params, manifest)
    _THREAD.source = (task.key, source)
    return source


def _check_grid(mine: TileGrid, theirs: TileGrid, raster: str) -> None:
    same_shape = (mine.rows, mine.cols, mine.tile_px, mine.stride_px) == (theirs.rows, theirs.cols, theirs.tile_px,
                                                                         theirs.stride_px)
    tolerance = 1e-6 * max(abs(mine.stride_xy[0]), 1e-9)
    if not same_shape or abs(mine.x0 - theirs.x0) > tolerance or abs(mine.y0 - theirs.y0) > tolerance:
        raise ClusterError(f"a worker lays another tile grid over {raster} than the client ({mine.rows} x {mine.cols} "
                           f"tiles, not {theirs.rows} x {theirs.cols}): give every worker the same raster file")


def _worker_identity() -> tuple[Any, str]:
    """(the Dask worker's name, its host); (None, 'this process') outside a worker."""
    try:
        from distributed import get_worker

        worker = get_worker()
    except (ImportError, ValueError):
        return None, "this process"
    host = worker.address.split("://", 1)[-1].rsplit(":", 1)[0]
    return worker.name, host
