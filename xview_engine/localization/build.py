"""The indexing tool: run the model once over every tile of a raster and keep the result as an index.

``build_index(IndexParams)`` is `xview index` minus argument parsing, and what the plugin's task
calls. It reuses the mapping pipeline as is (``mapping.open_grid`` for the source, extent, mask and
tile grid; ``mapping.grid_rows`` for the model runs, here or on a Dask cluster), so an
index holds exactly the grid and per-tile parameters a map run of the same raster and model
produces, then streams the rows into ``index.write_index``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from xview_engine.cache import file_sha256
from xview_engine.errors import SourceError
from xview_engine.localization import index as ix
from xview_engine.localization.methods import method_for
from xview_engine.mapping.cluster.spec import ClusterSpec
from xview_engine.mapping.grid_rows import grid_rows
from xview_engine.mapping.plan import GridParams, check_params, open_grid
from xview_engine.model.runtime import read_model_manifest
from xview_engine.progress import CancelCheck, Log, ProgressCallback
from xview_engine.raster.source import RasterSource


@dataclass(frozen=True)
class IndexParams(GridParams):
    """`xview index`: the grid of ``GridParams`` written as an index folder ``out``."""

    out: str = "index"
    dtype: str = "float32"  # or float16: half the disk, slower scoring (converted chunk by chunk)
    cluster: Optional[ClusterSpec] = None  # run the tiles on a Dask cluster (mapping.cluster); None: here


@dataclass
class IndexResult:
    path: Path
    tiles: int
    valid_tiles: int
    seconds: float


def build_index(params: IndexParams, progress: Optional[ProgressCallback] = None,
                cancel: Optional[CancelCheck] = None, log: Optional[Log] = None,
                source: Optional[RasterSource] = None) -> IndexResult:
    """Index ``params.raster`` with ``params.model``; ``source`` overrides the raster (plugin layers)."""
    log = log or (lambda message: None)
    started = time.perf_counter()
    check_params(params)
    if params.dtype not in ix.DTYPES:
        raise SourceError(f"--dtype {params.dtype} is not supported (choose from {', '.join(ix.DTYPES)})")
    manifest = read_model_manifest(params.model)
    out = Path(params.out)
    ix.check_index_target(out, params.overwrite)
    raster = ix.raster_identity(params.raster) if source is None and Path(params.raster).is_file() else {
        "path": params.raster}  # a plugin layer or a GDAL URL: nothing to hash
    with open_grid(params, manifest, source) as plan:
        grid = plan.grid
        log(f"{grid.count:,} tiles to index ({grid.rows:,} x {grid.cols:,}), stride {grid.stride_m:g} m")
        times = getattr(method_for(manifest.kind), "index_times", lambda m: None)(manifest)  # a time-aware model
        with grid_rows(params, manifest, plan, out, progress, cancel, log, source is not None,
                       times) as (rows, runtime):
            model = {"path": str(Path(params.model).resolve()), "sha256": file_sha256(params.model),
                     "runtime": runtime}
            extra = {"source": dict(plan.source.info), "area": plan.notes, "command": params.command}
            ix.write_index(out, grid, rows, manifest, raster, model, params.dtype, params.overwrite, extra, cancel)
    seconds = time.perf_counter() - started
    index = ix.load_index(out)
    log(f"wrote index {out}: {index.n_valid:,} of {index.n_tiles:,} tiles in {seconds:.1f} s")
    return IndexResult(out, index.n_tiles, index.n_valid, seconds)
