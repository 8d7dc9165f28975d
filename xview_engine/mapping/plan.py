"""The tile plan shared by every grid run (map, search, index): what to read, how to tile it, and the
opened source with its grid and mask filter.

``GridParams`` is plain data filled the same way by the CLI, the dock and Processing; ``open_grid``
opens the source (a geographic raster in the UTM zone of the area), resolves the extent and mask in
its CRS and lays the grid, refusing absurd tile counts before any work.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Optional

from xview_engine.errors import TilingError
from xview_engine.limits import DEFAULT_MAX_TILES, MAX_BATCH_BYTES, MAX_BATCH_SIZE, MAX_TILES, check_count
from xview_engine.mapping.reader_items import TileFilter
from xview_engine.model.manifest import Manifest
from xview_engine.model.runtime import check_device
from xview_engine.raster.extent import (
    mask_centre_lonlat,
    mask_filter,
    mask_in_crs,
    read_mask,
    resolve_extent,
    work_crs_for,
)
from xview_engine.raster.grid import TileGrid, make_grid
from xview_engine.raster.source import (
    READ_CACHE_BYTES,
    RasterioSource,
    RasterSource,
    block_cache_for,
    bounded_block_cache,
    raster_crs_and_bounds,
)


@dataclass(frozen=True)
class GridParams:
    """What to read and how to tile it; shared by `xview map` and `xview search`. Plain data only."""

    raster: str
    model: str
    stride_m: Optional[float] = None
    overlap: Optional[float] = None
    extent: Optional[tuple[float, float, float, float]] = None
    extent_crs: Optional[str] = None  # CRS of ``extent`` (default: the raster's), e.g. 'EPSG:4326'
    mask: Optional[str] = None  # path of an OGR vector with polygons
    bands: tuple[int, ...] = ()  # 1-based source bands in model order; () = by colour interpretation
    device: str = "auto"
    batch_size: int = 32
    runtime: str = "auto"  # 'auto': onnxruntime on the CPU when installed, torch on CUDA
    threads: Optional[int] = None  # model threads on the CPU; None: model.device.thread_budget
    max_tiles: int = DEFAULT_MAX_TILES
    overwrite: bool = False
    command: Optional[str] = None  # the command line, recorded in the outputs' metadata


@dataclass
class GridPlan:
    """An opened source, its tile grid and mask filter, and notes for the metadata."""

    source: RasterSource
    grid: TileGrid
    tile_filter: Optional[TileFilter]
    notes: dict[str, Any]


def check_params(params: GridParams) -> None:
    """Checks that need no file: numbers in range, the device and runtime present."""
    check_count("--batch-size", params.batch_size, 1, MAX_BATCH_SIZE, TilingError)
    check_count("--max-tiles", params.max_tiles, 1, MAX_TILES, TilingError)
    if params.threads is not None:
        check_count("--threads", params.threads, 1, 1024, TilingError)
    check_device(params.runtime, params.device, params.model)


def check_batch_memory(batch_size: int, manifest: Manifest) -> None:
    """A batch of tiles is float32 pixels: refuse one that would not fit any sane machine, before reading."""
    spec = manifest.input
    need = batch_size * len(spec.bands) * spec.tile_px**2 * 4
    if need > MAX_BATCH_BYTES:
        raise TilingError(f"--batch-size {batch_size} of {spec.tile_px} px tiles needs {need / 2**30:.1f} GiB per "
                          f"batch (at most {MAX_BATCH_BYTES / 2**30:.0f} GiB): lower --batch-size")


@contextlib.contextmanager
def open_grid(params: GridParams, manifest: Manifest, source: Optional[RasterSource] = None) -> Iterator[GridPlan]:
    """Open the source (unless given), resolve extent and mask in its CRS, lay the grid; closes what it opened.

    GDAL's block cache is bounded while the grid is open (``bounded_block_cache``; for a file, a few
    rows of its blocks: ``block_cache_for``), so that reading the source does not keep the decoded
    raster in memory: a run's memory does not grow with it.
    """
    check_batch_memory(params.batch_size, manifest)
    footprint = manifest.input.tile_px * manifest.input.gsd_m
    with bounded_block_cache(block_cache_for(params.raster, footprint) if source is None else READ_CACHE_BYTES):
        with _open_plan(params, manifest, source) as plan:
            yield plan


def open_source(params: GridParams, manifest: Manifest, mask_geometry: Any = None,
                mask_crs: Optional[str] = None) -> tuple[RasterioSource, str]:
    """The raster file as grid runs read it (a geographic one in the UTM zone of the area), and its own CRS.

    A cluster worker opens its own source with this and hands it to ``open_grid`` (``mapping.cluster.worker``).
    """
    if mask_geometry is None and params.mask:
        mask_geometry, mask_crs = read_mask(params.mask)
    raster_crs, raster_bounds = raster_crs_and_bounds(params.raster)
    centre = mask_centre_lonlat(mask_geometry, mask_crs) if mask_geometry is not None else None
    work = work_crs_for(raster_crs, raster_bounds, params.extent, params.extent_crs, centre)
    source = RasterioSource(params.raster, len(manifest.input.bands), manifest.input.bands, params.bands or None, work)
    return source, raster_crs


@contextlib.contextmanager
def _open_plan(params: GridParams, manifest: Manifest, source: Optional[RasterSource]) -> Iterator[GridPlan]:
    mask_geometry = mask_crs = None
    if params.mask:
        mask_geometry, mask_crs = read_mask(params.mask)
    owned = source is None
    if source is None:
        source, raster_crs = open_source(params, manifest, mask_geometry, mask_crs)
    else:
        raster_crs = source.crs
    try:
        mask = mask_in_crs(mask_geometry, mask_crs, source.crs) if mask_geometry is not None else None
        area = resolve_extent(source.bounds, source.crs, raster_crs, params.extent, params.extent_crs, mask)
        spec = manifest.input
        grid = make_grid(area, source.crs, spec.tile_px, spec.gsd_m, params.stride_m, params.overlap,
                         params.max_tiles)
        notes = {"extent": list(area), "mask": params.mask}
        yield GridPlan(source, grid, mask_filter(mask) if mask is not None else None, notes)
    finally:
        if owned:
            source.close()  # type: ignore[attr-defined]
