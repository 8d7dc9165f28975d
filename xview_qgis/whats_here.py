"""The "What's here" map tool: click the map, read the scenes, classes and expected counts at that point.

Where the last map run covers the clicked point, values are sampled from its product layers
(``QgsRasterDataProvider.sample`` at the point, transformed to each layer's CRS with the project's
context); the band descriptions (``head:product:class``) say what each value is. Where it does not
(or the user asks for it), the model is run *on the spot* on the one tile centred there: the
engine's ``point_query.describe_point`` in a ``QgsTask``, over the Map tab's raster layer read the
way a map run reads it (``engine_input``). Either way the numbers are the engine's.
"""

from __future__ import annotations

import math
from collections import defaultdict
from typing import Any, Callable, Optional

from qgis.core import QgsCoordinateReferenceSystem, QgsCoordinateTransform, QgsPointXY, QgsProject
from qgis.gui import QgsMapToolEmitPoint

from xview_qgis.bandmeta import band_descriptions, category_names, parse_band_description
from xview_qgis.common import engine_input
from xview_qgis.tasks import RUNNING, XviewTask, report_error, start_task

TOP_N = 5
Show = Callable[[str], None]
_RUNTIME_CACHE: dict[tuple, Any] = {}  # (model path, mtime, device) -> the engine's ModelRuntime; one entry


def sample_products(layers, point: QgsPointXY, point_crs) -> dict[str, list[tuple[str, float]]]:
    """{'head prob' | 'head count' | 'head top': [(class, value), ...] best first} at ``point``."""
    found: dict[str, dict[str, float]] = defaultdict(dict)
    seen = set()
    for layer in layers:
        if layer is None or layer.source() in seen:
            continue
        seen.add(layer.source())
        context = QgsProject.instance().transformContext()
        local = QgsCoordinateTransform(point_crs, layer.crs(), context).transform(point)
        for band, text in enumerate(band_descriptions(layer.source()), 1):
            meta = parse_band_description(text)
            value, ok = layer.dataProvider().sample(local, band)
            if meta is None or not ok or math.isnan(value):
                continue
            if meta.product == "top":
                names = category_names(layer.source(), band)
                label = names[int(value)] if int(value) < len(names) else str(int(value))
                found[f"{meta.head} top"][label] = 1.0
            elif meta.product in ("prob", "count"):
                found[f"{meta.head} {meta.product}"][meta.class_name] = value
    return {key: sorted(values.items(), key=lambda kv: -kv[1])[:TOP_N] for key, values in found.items()}


def describe(samples: dict[str, list[tuple[str, float]]]) -> str:
    """Rich text for the panel: most likely class, top probabilities, expected object counts."""
    if not samples:
        return "No xview result here: run Map over this place first."
    lines = []
    for key, values in samples.items():
        head, product = key.rsplit(" ", 1)
        if product == "top":
            lines.append(f"<b>{head}</b>: most likely <b>{values[0][0]}</b>")
        elif product == "prob":
            lines.append(f"<b>{head}</b> P: " + ", ".join(f"{name} {value:.2f}" for name, value in values))
        else:
            lines.append(f"<b>{head}</b> expected: " + ", ".join(f"{value:.1f} {name}" for name, value in values))
    return "<br>".join(lines)


def describe_summary(summary) -> str:
    """Rich text for an on-the-spot ``PointSummary``: per head, top classes with probabilities or counts."""
    lines = [f"<i>Computed now for the {summary.footprint_m:g} m tile centred here:</i>"]
    for head in summary.heads:
        if head.measure == "probability":
            sure = f" (confidence α₀ {head.concentration:.1f})" if head.concentration is not None else ""
            lines.append(f"<b>{head.head}</b>: most likely <b>{head.top[0][0]}</b>{sure}")
            lines.append(f"<b>{head.head}</b> P: " + ", ".join(f"{name} {value:.2f}" for name, value in head.top))
        else:
            counts = ", ".join(f"{value:.1f} {name}" for name, value in head.top)
            lines.append(f"<b>{head.head}</b> expected: {counts}")
    return "<br>".join(lines)


def open_point_source(layer, bands: tuple[str, ...], point: QgsPointXY, point_crs):
    """(the engine source a map run of ``layer`` would read, ``point`` in that source's CRS); main thread.

    A geographic file is served in the UTM zone of the clicked point, as ``xview map`` would for an
    extent there, so the tile is square on the ground.
    """
    from xview_engine.raster.extent import work_crs_for
    from xview_engine.raster.source import RasterioSource, raster_crs_and_bounds

    path, source = engine_input(layer, bands)
    if source is None:
        lonlat = _transform(point, point_crs, QgsCoordinateReferenceSystem("EPSG:4326"))
        crs, bounds = raster_crs_and_bounds(path)
        source = RasterioSource(path, len(bands), bands, None,
                                work_crs_for(crs, bounds, None, None, (lonlat.x(), lonlat.y())))
    return source, _transform(point, point_crs, QgsCoordinateReferenceSystem.fromWkt(source.crs))


def start_point_query(layer, model_path: str, manifest, device: str, point: QgsPointXY, point_crs, show: Show,
                      message_bar=None) -> Optional[XviewTask]:
    """Run the model on the tile centred at ``point`` in the background; ``show`` gets the answer or why not."""
    from xview_engine.errors import SourceError
    from xview_engine.mapping.point import describe_point

    try:
        if manifest is None or layer is None:
            raise SourceError("choose a model and a raster layer in the Map tab to compute what is here")
        source, local = open_point_source(layer, manifest.input.bands, point, point_crs)
    except Exception as exc:  # a bad choice or file: said in the panel and the message bar
        show(f"Cannot compute here: {report_error(message_bar, exc)}")
        return None

    def work(_progress, cancel):
        return describe_point(source, _runtime(model_path, device), local.x(), local.y(), TOP_N, cancel)

    def done(task: XviewTask) -> None:
        if task.error is not None:
            show(f"Cannot compute here: {report_error(message_bar, task.error, task.details)}")
        else:
            show(describe_summary(task.result))

    show("Computing the tile centred here…")
    return start_task(XviewTask("xview what's here", work, done, cleanup=getattr(source, "close", None)))


def _runtime(model_path: str, device: str):
    """The loaded model, reused across clicks (loading is the slow part); worker thread."""
    import os

    from xview_engine.model.runtime import load_runtime

    key = (model_path, os.path.getmtime(model_path), device)
    if key not in _RUNTIME_CACHE:
        _RUNTIME_CACHE.clear()
        _RUNTIME_CACHE[key] = load_runtime(model_path, "torch", device)
    return _RUNTIME_CACHE[key]


def _transform(point: QgsPointXY, source_crs, target_crs) -> QgsPointXY:
    if source_crs == target_crs:
        return QgsPointXY(point)
    return QgsCoordinateTransform(source_crs, target_crs, QgsProject.instance().transformContext()).transform(point)


class WhatsHereTool(QgsMapToolEmitPoint):
    """Click -> sample the layers given by ``layers_fn()`` -> ``show(text)`` (the dock's panel).

    Where nothing is sampled (no run covers the point) or ``force_fn()`` says so, ``compute(point, crs)``
    runs the model on the spot instead (it shows its own answer); ``task`` is the last such run.
    """

    def __init__(self, canvas, layers_fn, show: Show, compute=None, force_fn=None):
        super().__init__(canvas)
        self.layers_fn, self.show, self.compute = layers_fn, show, compute
        self.force_fn = force_fn or (lambda: False)
        self.task: Optional[XviewTask] = None
        self.canvasClicked.connect(self._clicked)

    def _clicked(self, point: QgsPointXY, _button) -> None:
        crs = self.canvas().mapSettings().destinationCrs()
        samples = {} if self.force_fn() else sample_products(self.layers_fn(), point, crs)
        if samples or self.compute is None:
            self.show(describe(samples))
        elif self.task is not None and self.task in RUNNING:
            self.show("Still computing the last point; click again when it is shown.")
        else:
            self.task = self.compute(point, crs)
