"""The mapping tool: a raster and a model in, one GeoTIFF per product and products.json out.

``run_map(MapParams)`` is the whole of `xview map` minus argument parsing, and what the plugin's
task calls. Stages: read the manifest and refuse existing outputs (before any work) -> open the
source (geographic rasters in the UTM zone of the area) -> lay the tile grid and say how many
tiles will run -> stream tiles through the model, parking each row's parameters in a temporary
file beside the outputs (memory stays flat; the default classes need the whole map's means) ->
choose classes -> write every product a row at a time to temporary files -> rename them all.
A failure or a cancel leaves nothing behind.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import re
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, Optional

import numpy as np

from xview_engine import __version__
from xview_engine.errors import OutputError, SourceError
from xview_engine.mapping.batches import predict_rows
from xview_engine.mapping.cluster.spec import ClusterSpec
from xview_engine.mapping.plan import GridParams, GridPlan, check_params, open_grid
from xview_engine.mapping.products import (
    DEFAULT_TOP_CLASSES,
    PRODUCTS,
    choose_classes,
    class_values,
    compute_product,
    resolve_products,
    top_dtype,
)
from xview_engine.mapping.time_steps import TIME_MARK, TimeSteps, resolve_time_steps
from xview_engine.model.manifest import HeadSpec, Manifest
from xview_engine.model.runtime import ModelRuntime, at_times, load_runtime, read_model_manifest
from xview_engine.outputs import atomic_output, check_outputs_free
from xview_engine.progress import CancelCheck, Log, ProgressCallback, check_cancel
from xview_engine.raster.geotiff import GridRasterWriter, RasterSpec, pam_xml
from xview_engine.raster.grid import TileGrid
from xview_engine.raster.source import RasterSource


@dataclass(frozen=True)
class MapParams(GridParams):
    """`xview map`: products of one head written to ``out_dir``."""

    out_dir: str = "."
    head: Optional[str] = None  # default: the model's first head
    classes: tuple[str, ...] = ()  # default: the top ``top_classes`` by mean over the map
    products: tuple[str, ...] = ()  # default: every product that fits the head's distribution
    top_classes: int = DEFAULT_TOP_CLASSES
    threshold: Optional[float] = None  # t of the 'exceed' product, P(value > t)
    cluster: Optional[ClusterSpec] = None  # run the tiles on a Dask cluster (mapping.cluster); None: here
    time: Optional[str] = None  # a time-aware model: map at this ISO 8601 time (mapping.time_steps)
    months: Optional[str] = None  # ... or one band per month, e.g. '1-12'


@dataclass
class MapResult:
    """What a run made: files (products, sidecars, products.json) and products.json's content."""

    files: tuple[Path, ...]
    metadata: dict[str, Any]
    tiles_total: int
    tiles_run: int
    seconds: float


def run_map(params: MapParams, progress: Optional[ProgressCallback] = None, cancel: Optional[CancelCheck] = None,
            log: Optional[Log] = None, source: Optional[RasterSource] = None) -> MapResult:
    """Map ``params.raster`` with ``params.model``; see the module docstring. ``source`` overrides the raster."""
    log = log or (lambda message: None)
    check_params(params)
    manifest = read_model_manifest(params.model)
    head = manifest.head(params.head) if params.head else manifest.heads[0]
    products = resolve_products(head, params.products, params.threshold)
    for name in params.classes:
        head.class_index(name)
    steps = resolve_time_steps(manifest, params.model, params.time, params.months)
    out_dir = Path(params.out_dir)
    paths = {name: out_dir / f"{_safe(head.name)}_{name}.tif" for name in products}
    sidecars = {name: Path(f"{p}.aux.xml") for name, p in paths.items() if name == "top"}
    json_path = out_dir / "products.json"
    with _output_dir(out_dir):
        check_outputs_free([*paths.values(), *sidecars.values(), json_path], params.overwrite)
        run = _map if params.cluster is None else _cluster_map()
        result = run(params, manifest, head, products, paths, sidecars, json_path, progress, cancel, log, source,
                     steps)
    log(f"wrote {len(paths)} product(s) to {out_dir} in {result.seconds:.1f} s "
        f"({result.tiles_total / max(result.seconds, 1e-9):.1f} tiles/s)")
    return result


def _map(params: MapParams, manifest: Manifest, head: HeadSpec, products: tuple[str, ...], paths: dict[str, Path],
         sidecars: dict[str, Path], json_path: Path, progress: Optional[ProgressCallback],
         cancel: Optional[CancelCheck], log: Log, source: Optional[RasterSource],
         steps: Optional[TimeSteps]) -> MapResult:
    started = time.perf_counter()
    out_dir = json_path.parent
    with tempfile.TemporaryFile(dir=out_dir, prefix=".xview-map-") as store:
        with open_grid(params, manifest, source) as plan:  # the source is closed before the products are written
            runtime = _load_runtime(params, manifest, plan, log)
            sums, tiles_run = _predict_to_store(plan, runtime, manifest, head, params, store, progress, cancel, steps)
            metadata = _metadata(params, manifest, runtime, plan, head, tiles_run)
        classes = choose_classes(head, params.classes or None, sums / max(tiles_run, 1), params.top_classes)
        if steps is not None:
            metadata["time"] = {"features": list(manifest.time_features), **steps.describe()}
        metadata["products"] = [_product_entry(n, head, classes, paths[n], sidecars.get(n), params.threshold, steps)
                                for n in products]
        files = _write_products(store, plan.grid, head, products, classes, paths, sidecars, json_path,
                                metadata, cancel, params.threshold, steps)
    return MapResult(files, metadata, plan.grid.count, tiles_run, time.perf_counter() - started)


def _cluster_map():  # Dask and the cluster modules only for cluster runs; they reuse the writers below
    from xview_engine.mapping.cluster.map_products import map_on_cluster

    return map_on_cluster


def _load_runtime(params: GridParams, manifest: Manifest, plan: GridPlan, log: Log) -> ModelRuntime:
    grid = plan.grid
    log(
        f"{grid.count:,} tiles to run ({grid.rows:,} rows x {grid.cols:,} columns): tile {grid.footprint_m:g} m "
        f"= {grid.tile_px} px x {grid.gsd_m:g} m, stride {grid.stride_m:g} m, in {grid.describe()['crs']} "
        f"(ground scale {grid.scale_x:.5g} units/m)"
    )
    if plan.source.info.get("band_note"):  # a grey band repeated, bands taken in order, a palette expanded
        log(f"bands: {plan.source.info['band_note']}")
    runtime = load_runtime(params.model, params.runtime, params.device, params.threads)
    if runtime.manifest.head_names != manifest.head_names:
        raise SourceError(f"{params.model}: the runtime's model does not match its manifest")
    log(runtime.description)
    return runtime


def _predict_to_store(plan: GridPlan, runtime: ModelRuntime, manifest: Manifest, head: HeadSpec,
                      params: GridParams, store: BinaryIO, progress: Optional[ProgressCallback],
                      cancel: Optional[CancelCheck], steps: Optional[TimeSteps] = None) -> tuple[np.ndarray, int]:
    """Run every tile; park each row's (cols, S * P) parameters in ``store`` (S times, 1 for a time-blind
    model; P per tile, e.g. a Beta head's 2K); return class sums and tiles run."""
    sums = np.zeros(head.num_classes, np.float64)
    tiles_run = 0
    spec = manifest.input
    width = head.num_params * (len(steps) if steps is not None else 1)
    runner = runtime.run if steps is None else at_times(runtime, steps.features)
    rows = predict_rows(plan.source, plan.grid, runner, spec.mean, spec.std, params.batch_size,
                        plan.tile_filter, progress, cancel, **runtime.batch_options)
    with contextlib.closing(rows):  # a failed write stops the reader before the source closes
        for _, outputs in rows:
            block = outputs.get(head.name, np.full((plan.grid.cols, width), np.nan, np.float32))
            store.write(np.ascontiguousarray(block, np.float32).tobytes())
            valid = ~np.isnan(block).any(axis=1)
            if valid.any():
                sums += class_values(head, block[valid].reshape(-1, head.num_params)).sum(0, dtype=np.float64)
                tiles_run += int(valid.sum())
    if tiles_run == 0:
        raise SourceError(
            f"no tile of {params.raster} in the chosen area has at least half of its pixels valid (nodata, "
            "transparent or outside the mask everywhere); choose another extent or check the nodata value"
        )
    check_cancel(cancel)
    return sums, tiles_run


def _write_products(store: BinaryIO, grid: TileGrid, head: HeadSpec, products: tuple[str, ...],
                    classes: tuple[int, ...], paths: dict[str, Path], sidecars: dict[str, Path], json_path: Path,
                    metadata: dict[str, Any], cancel: Optional[CancelCheck],
                    threshold: Optional[float] = None, steps: Optional[TimeSteps] = None) -> tuple[Path, ...]:
    specs = {name: _raster_spec(name, head, classes, metadata.get("command"), threshold, steps) for name in products}
    n_steps = len(steps) if steps is not None else 1
    with contextlib.ExitStack() as stack:
        temps = {name: stack.enter_context(atomic_output(paths[name])) for name in products}
        writers = {name: GridRasterWriter(temps[name], grid, specs[name]) for name in products}
        stack.callback(lambda: [w.close() for w in writers.values()])
        store.seek(0)
        row_bytes = grid.cols * n_steps * head.num_params * 4
        for row in range(grid.rows):
            check_cancel(cancel)
            block = np.frombuffer(store.read(row_bytes), np.float32).reshape(grid.cols, n_steps, head.num_params)
            for name, writer in writers.items():
                writer.write_row(row, np.concatenate([compute_product(name, head, block[:, s], classes, threshold)
                                                      for s in range(n_steps)], axis=1))
        for writer in writers.values():
            writer.close()
        for name, sidecar in sidecars.items():
            stack.enter_context(atomic_output(sidecar)).write_text(pam_xml(specs[name]), encoding="utf-8")
        stack.enter_context(atomic_output(json_path)).write_text(json.dumps(metadata, indent=2), encoding="utf-8")
    return (*paths.values(), *sidecars.values(), json_path)


def _raster_spec(name: str, head: HeadSpec, classes: tuple[int, ...], command: Optional[str],
                 threshold: Optional[float] = None, steps: Optional[TimeSteps] = None) -> RasterSpec:
    tags = {"xview_product": name, "xview_head": head.name, "xview_command": command or "",
            "xview_distribution": head.distribution}
    if PRODUCTS[name].needs_threshold:
        tags["xview_threshold"] = repr(threshold)
    if name == "top":
        descriptions: tuple[str, ...] = (f"{head.name}:top",)
    elif PRODUCTS[name].per_class:
        descriptions = tuple(f"{head.name}:{name}:{head.labels[i]}" for i in classes)
    else:
        descriptions = (f"{head.name}:{name}",)
    band_tags: tuple[dict[str, str], ...] = ()
    if steps is not None:  # month-major: every step repeats the bands, its time in description and metadata
        descriptions = tuple(f"{d}{TIME_MARK}{steps.label(s)}" for s in range(len(steps)) for d in descriptions)
        band_tags = tuple(steps.band_tags(s) for s in range(len(steps)) for _ in range(len(descriptions) // len(steps)))
    if name == "top":
        dtype, nodata = top_dtype(head)
        return RasterSpec(descriptions, dtype, nodata, head.labels, tags, band_tags=band_tags)
    return RasterSpec(descriptions, tags=tags, band_tags=band_tags)


def _product_entry(name: str, head: HeadSpec, classes: tuple[int, ...], path: Path,
                   sidecar: Optional[Path], threshold: Optional[float] = None,
                   steps: Optional[TimeSteps] = None) -> dict[str, Any]:
    spec = _raster_spec(name, head, classes, None, threshold, steps)
    entry: dict[str, Any] = {
        "product": name, "file": path.name, "head": head.name, "units": PRODUCTS[name].units,
        "dtype": spec.dtype, "nodata": spec.nodata,
        "bands": [{"band": i + 1, "description": d} for i, d in enumerate(spec.descriptions)],
    }
    if PRODUCTS[name].needs_threshold:
        entry.update(threshold=threshold, units=f"P(value > {threshold:g})")
    if PRODUCTS[name].per_class:
        for band, index in zip(entry["bands"], classes * (len(steps) if steps is not None else 1)):
            band.update({"class": head.labels[index], "class_index": index})
    for band, tags in zip(entry["bands"], spec.band_tags):
        band.update({key[len("xview_"):]: value for key, value in tags.items()})
    if sidecar is not None:
        entry["category_names"] = {"file": sidecar.name, "classes": list(head.labels)}
    return entry


def _metadata(params: GridParams, manifest: Manifest, runtime: ModelRuntime, plan: GridPlan, head: HeadSpec,
              tiles_run: int) -> dict[str, Any]:
    grid = plan.grid.describe()
    source_info = dict(plan.source.info)
    if source_info.get("reprojected_to"):
        grid["work_crs_note"] = f"source reprojected to {source_info['reprojected_to']}; tiles are square in metres"
    return {
        "xview_version": __version__,
        "command": params.command,
        "params": dataclasses.asdict(params),
        "model": {"file": str(params.model), "kind": manifest.kind, "backbone": manifest.backbone.name,
                  "input": dataclasses.asdict(manifest.input), "runtime": runtime.description},
        "source": source_info,
        "grid": grid,
        "area": plan.notes,
        "tiles": {"total": plan.grid.count, "run": tiles_run, "skipped": plan.grid.count - tiles_run,
                  "skip_rule": "tiles with more than half of their pixels nodata, or centred outside the mask"},
        "head": {"name": head.name, "distribution": head.distribution, "label_space": head.label_space,
                 "classes": len(head.labels)},
    }


@contextlib.contextmanager
def _output_dir(path: Path) -> Iterator[None]:
    """Create the output folder if needed; remove it again if the run fails and left it empty."""
    created = not path.exists()
    if created and not path.parent.exists():
        raise OutputError(f"cannot create {path}: its parent folder {path.parent} does not exist")
    path.mkdir(exist_ok=True)
    try:
        yield
    except BaseException:
        if created and not any(path.iterdir()):
            path.rmdir()
        raise


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name)
