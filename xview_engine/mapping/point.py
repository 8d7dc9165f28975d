"""One point, one tile: what the model predicts for the tile centred on a point of a raster.

The "What's here" tool of the plugin needs an answer where no map has been run yet. Rather than a
second inference path, ``describe_point`` lays the engine's own one-tile ``TileGrid`` centred on the
point (so the ground footprint, the CRS ground scale, Web Mercator included, and the no-data rule
are exactly those of ``xview map``) and runs it through ``predict_rows``. The answer, per head, is
the top classes by probability (Dirichlet mean / softmax) or by expected count (Poisson rate),
plus, for Dirichlet heads, the concentration alpha_0 (how sure the model is). A time-aware model
answers at the time ``when`` it is given (the plugin's Map-tab time), as ``xview map --time`` maps.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Optional

import numpy as np

from xview_engine.errors import SourceError
from xview_engine.mapping.batches import Runner, predict_rows
from xview_engine.mapping.products import class_values
from xview_engine.model import distributions as dist
from xview_engine.model.manifest import HeadSpec, InputSpec
from xview_engine.model.runtime import ModelRuntime, at_times
from xview_engine.model.time_features import format_time, time_matrix
from xview_engine.progress import CancelCheck
from xview_engine.raster.grid import TileGrid, make_grid
from xview_engine.raster.source import RasterSource

DEFAULT_TOP_N = 5
_PAD = 1e-3  # the one-tile extent is a hair larger than a footprint, so rounding never loses the tile


@dataclass(frozen=True)
class HeadSummary:
    """One head at the point: ``top`` is ((class, value), ...) best first; value = probability or count."""

    head: str
    distribution: str
    measure: str  # 'probability' or 'expected count'
    top: tuple[tuple[str, float], ...]
    concentration: Optional[float] = None  # Dirichlet alpha_0 (None for other heads)


@dataclass(frozen=True)
class PointSummary:
    """The model's reading of the tile centred at (x, y) of ``crs``; plain data for the UI or JSON."""

    x: float
    y: float
    crs: str
    footprint_m: float
    heads: tuple[HeadSummary, ...]
    time: Optional[str] = None  # what a time-aware model answered at (ISO 8601); None for a time-blind one

    def as_dict(self) -> dict[str, Any]:
        return {"x": self.x, "y": self.y, "crs": self.crs, "footprint_m": self.footprint_m, "time": self.time,
                "heads": [{"head": h.head, "distribution": h.distribution, "measure": h.measure,
                           "top": [list(kv) for kv in h.top], "concentration": h.concentration}
                          for h in self.heads]}


def point_grid(source: RasterSource, tile_px: int, gsd_m: float, x: float, y: float) -> TileGrid:
    """The one-tile grid centred at (x, y) of ``source.crs``; refuses a point outside the source."""
    from xview_engine.raster import crs as geo

    xmin, ymin, xmax, ymax = source.bounds
    if not (xmin <= x <= xmax and ymin <= y <= ymax):
        raise SourceError(f"the point ({x:.2f}, {y:.2f}) is outside the raster; click inside the layer")
    footprint = tile_px * gsd_m
    kx, ky = geo.ground_scale(source.crs, x, y, reference=footprint)
    half_x, half_y = footprint * kx * (1 + _PAD) / 2, footprint * ky * (1 + _PAD) / 2
    extent = (x - half_x, y - half_y, x + half_x, y + half_y)
    return make_grid(extent, source.crs, tile_px, gsd_m, stride_m=footprint, max_tiles=1)


def describe_point(source: RasterSource, runtime: ModelRuntime, x: float, y: float, top_n: int = DEFAULT_TOP_N,
                   cancel: Optional[CancelCheck] = None, when: Optional[datetime] = None) -> PointSummary:
    """Run the model on the tile centred at (x, y) (``source.crs`` units) and summarise every head.

    ``when``: the time a time-aware model answers at (required by one, ignored by a time-blind one).
    """
    manifest, run = runtime.manifest, runtime.run
    if manifest.takes_time:
        if when is None:
            raise SourceError("this model predicts P(attribute | overhead, time): choose the time to answer at "
                              "(the Map tab's time)")
        run = at_times(runtime, time_matrix([when], manifest.time_features))
    grid, outputs = point_outputs(source, run, manifest.input, x, y, cancel)
    heads = tuple(_summarise(head, outputs[head.name][0], top_n) for head in manifest.heads if head.name in outputs)
    time = format_time(when) if manifest.takes_time else None  # a time-aware model was given one, above
    return PointSummary(float(grid.x0), float(grid.y0), source.crs, grid.footprint_m, heads, time)


def point_outputs(source: RasterSource, run: Runner, spec: InputSpec, x: float, y: float,
                  cancel: Optional[CancelCheck] = None) -> tuple[TileGrid, dict[str, np.ndarray]]:
    """The model's (1, K) outputs on the one tile centred at (x, y); refuses a tile mostly without data."""
    grid = point_grid(source, spec.tile_px, spec.gsd_m, x, y)
    outputs: dict[str, np.ndarray] = {}
    with contextlib.closing(predict_rows(source, grid, run, spec.mean, spec.std, 1, cancel=cancel)) as rows:
        for _, row in rows:
            outputs = row
    if not outputs or not all(np.isfinite(v).all() for v in outputs.values()):
        raise SourceError(
            f"less than half of the {grid.footprint_m:g} m tile centred here has data (nodata, transparent or "
            "outside the raster); click further inside the layer"
        )
    return grid, outputs


def _summarise(head: HeadSpec, params: np.ndarray, top_n: int) -> HeadSummary:
    """Top ``top_n`` classes of one head from its (K,) parameters."""
    values = class_values(head, params[None, :])[0].astype(np.float64)
    order = np.argsort(-values, kind="stable")[: max(1, top_n)]
    top = tuple((head.labels[int(i)], float(values[i])) for i in order)
    measure = {"poisson": "expected count", "beta": "expected value", "gaussian": "expected value"}.get(
        head.distribution, "probability")
    concentration = None
    if head.distribution == "dirichlet":
        import torch

        concentration = float(dist.dirichlet_concentration(torch.as_tensor(params[None, :]))[0])
    return HeadSummary(head.name, head.distribution, measure, top, concentration)
