"""The rows of a grid run, from this process or from a cluster: the one seam `index` and `search` read through.

``grid_rows`` yields ``(rows, runtime description)``: ``predict_rows`` over the whole grid with the
model loaded here, or, when the tool's parameters name a cluster, the rows of the blocks the
cluster ran (``mapping.cluster``, imported only then), read back in grid order from the run's work
folder beside ``output``. Either way the tool consumes the same rows and writes the same outputs.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Optional

import numpy as np

from xview_engine.mapping.batches import predict_rows
from xview_engine.mapping.plan import GridParams, GridPlan
from xview_engine.model.manifest import Manifest
from xview_engine.model.runtime import at_times, load_runtime
from xview_engine.progress import CancelCheck, Log, ProgressCallback


@contextlib.contextmanager
def grid_rows(params: GridParams, manifest: Manifest, plan: GridPlan, output: Path,
              progress: Optional[ProgressCallback], cancel: Optional[CancelCheck], log: Log,
              source_given: bool = False, times: Optional[np.ndarray] = None) -> Iterator[tuple]:
    """``(rows, description)`` of the run; a cluster run's work folder goes when the block ends well.

    ``source_given``: the tool reads a source of the caller's (a QGIS layer), which no worker can open.
    ``times``: (S, F) time features a time-aware model runs every tile at (``model.runtime.at_times``).
    """
    spec = getattr(params, "cluster", None)
    if spec is not None:
        from xview_engine.mapping.cluster.resume import work_folder
        from xview_engine.mapping.cluster.run import check_cluster_input, cluster_blocks

        check_cluster_input(spec, params.raster, source_given)

        with cluster_blocks(params, spec, manifest, plan, work_folder(output), progress, cancel, log,
                            times) as run:
            yield run.blocks.rows(), run.description
        return
    runtime = load_runtime(params.model, params.runtime, params.device, params.threads)
    log(f"running on {runtime.description}")
    spec_in = manifest.input
    runner = runtime.run if times is None else at_times(runtime, times)
    rows = predict_rows(plan.source, plan.grid, runner, spec_in.mean, spec_in.std, params.batch_size,
                        plan.tile_filter, progress, cancel, **runtime.batch_options)
    with contextlib.closing(rows):  # the reader stops before the caller closes the source it reads
        yield rows, runtime.description
