"""`xview map --cluster`: the blocks run on the cluster, then the products written as a single-process run writes them.

The blocks hold every tile's parameters, not products: the default classes of the per-class
products are the top classes by mean over the whole map, known only when every block is done, so
the block means are reduced first (``BlockSet.class_sums``: each row's sums, in grid order, as the
single-process run adds them) and only then are the products written, by ``mapping.map``'s own
writer reading the blocks through ``BlockSet.store`` (one tiled, compressed GeoTIFF per product,
band descriptions, category sidecar, products.json with the cluster's part in it; all under
temporary names, renamed together).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Optional

from xview_engine.errors import SourceError
from xview_engine.mapping import map as single
from xview_engine.mapping.cluster.resume import work_folder
from xview_engine.mapping.cluster.run import check_cluster_input, cluster_blocks
from xview_engine.mapping.plan import open_grid
from xview_engine.mapping.products import choose_classes
from xview_engine.mapping.time_steps import TimeSteps
from xview_engine.model.manifest import HeadSpec, Manifest
from xview_engine.progress import CancelCheck, Log, ProgressCallback
from xview_engine.raster.source import RasterSource


def map_on_cluster(params: single.MapParams, manifest: Manifest, head: HeadSpec, products: tuple[str, ...],
                   paths: dict[str, Path], sidecars: dict[str, Path], json_path: Path,
                   progress: Optional[ProgressCallback], cancel: Optional[CancelCheck], log: Log,
                   source: Optional[RasterSource], steps: Optional[TimeSteps] = None) -> single.MapResult:
    """``mapping.map._map``'s cluster twin: the same arguments, the same outputs (a time-aware map's
    ``steps`` too: every tile run at each of its times on the workers)."""
    assert params.cluster is not None
    check_cluster_input(params.cluster, params.raster, source is not None)
    started = time.perf_counter()
    with open_grid(params, manifest) as plan:  # the grid, extent and mask; the workers open the raster themselves
        grid = plan.grid
    log(f"{grid.count:,} tiles to run ({grid.rows:,} rows x {grid.cols:,} columns) on {params.cluster.address}")
    with cluster_blocks(params, params.cluster, manifest, plan, work_folder(json_path), progress, cancel, log,
                        steps.features if steps is not None else None) as run:
        sums, tiles_run = run.blocks.class_sums(head.name)
        if tiles_run == 0:
            raise SourceError(f"no tile of {params.raster} in the chosen area has at least half of its pixels valid "
                              "(nodata, transparent or outside the mask everywhere); choose another extent or check "
                              "the nodata value")
        metadata = single._metadata(params, manifest, run, plan, head, tiles_run)  # type: ignore[arg-type]
        metadata["cluster"] = run.cluster
        classes = choose_classes(head, params.classes or None, sums / max(tiles_run, 1), params.top_classes)
        if steps is not None:
            metadata["time"] = {"features": list(manifest.time_features), **steps.describe()}
        metadata["products"] = [single._product_entry(n, head, classes, paths[n], sidecars.get(n), params.threshold,
                                                      steps) for n in products]
        store = run.blocks.store(head.name, len(steps) if steps is not None else 1)
        files = single._write_products(store, grid, head, products, classes, paths,  # type: ignore[arg-type]
                                       sidecars, json_path, metadata, cancel, params.threshold, steps)
    return single.MapResult(files, metadata, grid.count, tiles_run, time.perf_counter() - started)
