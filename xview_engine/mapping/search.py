"""The search tool: score every tile with a joint attribute query and write one score raster.

``run_search(SearchParams)`` is `xview search` minus argument parsing. It shares the source, grid
and streaming stages with the mapping tool; only the last step differs: each row of tiles is scored
by the query (``xview_engine.mapping.grammar``) and written straight away, so nothing is parked on disk.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import numpy as np

from xview_engine.errors import SourceError
from xview_engine.mapping.cluster.spec import ClusterSpec
from xview_engine.mapping.grammar import evaluate, heads_of, parse_query
from xview_engine.mapping.grid_rows import grid_rows
from xview_engine.mapping.plan import GridParams, check_params, open_grid
from xview_engine.mapping.products import class_values
from xview_engine.mapping.time_steps import TimeSteps, resolve_time_steps
from xview_engine.model.manifest import Manifest
from xview_engine.model.runtime import read_model_manifest
from xview_engine.outputs import atomic_output, check_outputs_free
from xview_engine.progress import CancelCheck, Log, ProgressCallback, check_cancel
from xview_engine.raster.geotiff import GridRasterWriter, RasterSpec
from xview_engine.raster.source import RasterSource


@dataclass(frozen=True)
class SearchParams(GridParams):
    """`xview search`: a query (see ``xview_engine.mapping.grammar``) scored per tile into the GeoTIFF ``out``."""

    query: str = ""
    out: str = ""
    logic: str = "product"  # 'product' or 'minmax'
    cluster: Optional[ClusterSpec] = None  # run the tiles on a Dask cluster (mapping.cluster); None: here
    time: Optional[str] = None  # a time-aware model: score at this ISO 8601 time (as `xview map --time`)


@dataclass
class SearchResult:
    path: Path
    tiles_total: int
    tiles_run: int
    score_range: tuple[float, float]
    seconds: float


def run_search(params: SearchParams, progress: Optional[ProgressCallback] = None,
               cancel: Optional[CancelCheck] = None, log: Optional[Log] = None,
               source: Optional[RasterSource] = None) -> SearchResult:
    """Score ``params.raster`` with ``params.query``; writes ``params.out`` atomically."""
    started = time.perf_counter()
    log = log or (lambda message: None)
    check_params(params)
    manifest = read_model_manifest(params.model)
    node = parse_query(params.query, manifest, params.logic)
    out = Path(params.out)
    check_outputs_free([out], params.overwrite)
    heads = {name: manifest.head(name) for name in heads_of(node)}
    steps = _search_time(manifest, params)
    tags = {"xview_query": params.query, "xview_logic": params.logic, "xview_command": params.command or "",
            **(steps.band_tags(0) if steps is not None else {})}
    spec = RasterSpec((f"search:score:{params.query}",), tags=tags)
    lo, hi, tiles_run = np.inf, -np.inf, 0
    with open_grid(params, manifest, source) as plan, atomic_output(out) as tmp:
        grid = plan.grid
        log(f"{grid.count:,} tiles to run ({grid.rows:,} rows x {grid.cols:,} columns), "
            f"tile {grid.footprint_m:g} m, stride {grid.stride_m:g} m")
        with grid_rows(params, manifest, plan, out, progress, cancel, log, source is not None,
                       steps.features if steps is not None else None) as (rows, _):
            writer = GridRasterWriter(tmp, grid, spec)
            try:
                for row, outputs in rows:
                    score = _score_row(node, heads, outputs, grid.cols, params.logic)
                    writer.write_row(row, score)
                    if np.isfinite(score).any():
                        lo, hi = min(lo, np.nanmin(score)), max(hi, np.nanmax(score))
                        tiles_run += int(np.isfinite(score).sum())
                if tiles_run == 0:
                    raise SourceError(f"no tile of {params.raster} in the chosen area has at least half of its "
                                      "pixels valid; choose another extent or check the nodata value")
                check_cancel(cancel)
            finally:
                writer.close()
    return SearchResult(out, grid.count, tiles_run, (float(lo), float(hi)), time.perf_counter() - started)


def _search_time(manifest: Manifest, params: SearchParams) -> Optional[TimeSteps]:
    """The one time a time-aware model is scored at (``--time``); None for a time-blind model."""
    if manifest.takes_time and not params.time:
        raise SourceError(f"{params.model} predicts P(attribute | overhead, time): give --time 2026-01-15T08:00, "
                          "the time to score the query at")
    return resolve_time_steps(manifest, params.model, params.time, None)


def _score_row(node, heads, outputs: dict[str, np.ndarray], cols: int, logic: str) -> np.ndarray:
    if not outputs:
        return np.full(cols, np.nan)
    values = {name: class_values(head, outputs[name]) for name, head in heads.items()}
    return evaluate(node, values, logic)
