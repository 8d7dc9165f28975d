"""The "What's here" map tool: click the map, read the scenes, classes and expected counts at that point.

Where the last map run covers the clicked point, values are sampled from its product layers
(``QgsRasterDataProvider.sample`` at the point, transformed to each layer's CRS with the project's
context); the band descriptions (``head:product:class``) say what each value is. Where it does not
(or the user asks for it), the model is run *on the spot* on the one tile centred there: the
engine's ``mapping.point.describe_point`` in a ``QgsTask``, over the Map tab's raster layer read the
way a map run reads it (``engine_input``). Either way the numbers are the engine's.

What else the model can say about the tile, its localization method says (``model_extras``; the
plugin never branches on the kind): a method with ``verify`` (Siamese) answers "was this photo
taken here?" for the photo chosen in the Geolocate tab (embedding distance, P(same place)); one
with a photo collection (knn) shows the reference photos whose tiles look most like this one
(``photo_search.photos_at_point``), as thumbnails in the answer, read through the engine's safe opener.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass, field
from html import escape
from typing import Any, Callable, Optional

from qgis.core import QgsCoordinateReferenceSystem, QgsCoordinateTransform, QgsPointXY, QgsProject
from qgis.gui import QgsMapToolEmitPoint

from xview_qgis.bandmeta import band_descriptions, category_names, parse_band_description
from xview_qgis.common import engine_input
from xview_qgis.point_answers import hit_line, verdict_line
from xview_qgis.tasks import RUNNING, XviewTask, report_error, start_task
from xview_qgis.thumbnails import Thumbnail, read_thumbnail

TOP_N = 5
TOP_PHOTOS = 8
Show = Callable[[str], None]
PhotosHtml = Callable[[list[Thumbnail]], str]
_RUNTIME_CACHE: dict[tuple, Any] = {}  # (model path, mtime, device) -> the engine's ModelRuntime; one entry


def sample_products(layers, point: QgsPointXY, point_crs) -> dict[str, list[tuple[str, float]]]:
    """{'head prob' | 'head count' | 'head mean' | 'head top': [(class, value), ...] best first} at ``point``."""
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
            elif meta.product in ("prob", "count", "mean"):
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
            lines.append(f"<b>{head}</b> expected: " + ", ".join(f"{value:.3g} {name}" for name, value in values))
    return "<br>".join(lines)


def describe_summary(summary) -> str:
    """Rich text for an on-the-spot ``PointSummary``: per head, top classes with probabilities or counts."""
    at = f", at {escape(summary.time)}" if getattr(summary, "time", None) else ""
    lines = [f"<i>Computed now for the {summary.footprint_m:g} m tile centred here{at}:</i>"]
    for head in summary.heads:
        if head.measure == "probability":
            sure = f" (confidence α₀ {head.concentration:.1f})" if head.concentration is not None else ""
            if head.distribution != "bernoulli":  # yes / no attributes are not one choice among classes
                lines.append(f"<b>{head.head}</b>: most likely <b>{head.top[0][0]}</b>{sure}")
            lines.append(f"<b>{head.head}</b> P: " + ", ".join(f"{name} {value:.2f}" for name, value in head.top))
        else:
            counts = ", ".join(f"{value:.3g} {name}" for name, value in head.top)
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


@dataclass(frozen=True)
class PointChoices:
    """What a point query reads: the Map tab's layer, the model panel's model, the Geolocate tab's photo."""

    layer: Any
    model_path: str
    manifest: Any
    device: str
    photo: str = ""
    when: Optional[str] = None  # the Map tab's time (ISO 8601), what a time-aware model answers at


@dataclass
class PointAnswer:
    """What a point query found (``samples`` of the last run, or the model's ``summary`` computed now) and what
    the model's method adds: the verification answer, the photos of similar-looking places and thumbnails."""

    samples: dict[str, list[tuple[str, float]]]
    footprint_m: float
    summary: Any = None
    verdict: Optional[dict[str, Any]] = None
    ask_photo: bool = False  # the model verifies, but no photo is chosen in the Geolocate tab
    hits: list = field(default_factory=list)
    thumbnails: list = field(default_factory=list)


def model_extras(manifest) -> tuple[bool, bool]:
    """(answers "was this photo taken here?", carries a photo collection), asked of the model's method."""
    from xview_engine.localization.methods import method_for

    method = method_for(manifest.kind)
    return callable(getattr(method, "verify", None)), callable(getattr(method, "reference_queries", None))


def describe_answer(answer: PointAnswer) -> str:
    """Rich text for the panel: the reading of the tile, then the verification and the photos found."""
    if answer.samples:
        lines = [describe(answer.samples)]
    elif answer.summary is not None:
        lines = [describe_summary(answer.summary)]
    else:
        lines = [f"<i>Computed now for the {answer.footprint_m:g} m tile centred here:</i>"]
    if answer.verdict is not None:
        line = verdict_line(answer.verdict)
        lines.append(f"<b>{escape(line[0].upper() + line[1:])}</b>")
    if answer.ask_photo:
        lines.append("Choose a photo in the Geolocate tab to ask whether it was taken here.")
    if answer.hits:
        found = ", ".join(escape(hit_line(hit.to_dict())) for hit in answer.hits)
        lines.append(f"<b>Photos of similar-looking places</b> (the model's reference photos whose tiles look most "
                     f"like this one): {found}")
    return "<br>".join(lines)


def thumbnails(answer: PointAnswer) -> list[Thumbnail]:
    """The photos found, for the answer panel: rank and distance (or score) under each."""
    out = []
    for hit, rgb in zip(answer.hits, answer.thumbnails):
        value = f"d {hit.distance:.2f}" if hit.distance is not None else f"{hit.score:.3g}"
        out.append(Thumbnail(rgb, f"#{hit.rank} {value}"))
    return out


def start_point_query(choices: PointChoices, point: QgsPointXY, point_crs, samples: dict, show: Show,
                      photos_html: PhotosHtml = lambda photos: "", message_bar=None) -> Optional[XviewTask]:
    """Answer for the tile centred at ``point`` in the background; ``show`` gets the answer or why not, with
    the photos found as ``photos_html`` lays them out (``thumbnails.photo_table``).

    With ``samples`` of the last run and nothing for the model's method to add, the samples are the
    answer and nothing runs. Only then is the method asked here, on the main thread; otherwise the
    task asks it (its module may import torch, seconds the first time).
    """
    from xview_engine.errors import SourceError

    try:
        if choices.manifest is None or choices.layer is None:
            if samples:
                show(describe(samples))
                return None
            raise SourceError("choose a model and a raster layer in the Map tab to compute what is here")
        extras = model_extras(choices.manifest) if samples else None
        if extras is not None and not any(extras):
            show(describe(samples))
            return None
        source, local = open_point_source(choices.layer, choices.manifest.input.bands, point, point_crs)
    except Exception as exc:  # a bad choice or file: said in the panel and the message bar
        show(f"Cannot compute here: {report_error(message_bar, exc)}")
        return None

    def done(task: XviewTask) -> None:
        if task.error is not None:
            show(f"Cannot compute here: {report_error(message_bar, task.error, task.details)}")
        else:
            show(describe_answer(task.result) + photos_html(thumbnails(task.result)))

    work = _point_work(choices, source, local.x(), local.y(), samples, extras)
    show(describe(samples) if samples else "Computing the tile centred here…")
    return start_task(XviewTask("xview what's here", work, done, cleanup=getattr(source, "close", None)))


def _point_work(choices: PointChoices, source, x: float, y: float, samples: dict,
                extras: Optional[tuple[bool, bool]]):
    """The task body (worker thread): the model's reading of the tile, then what its method adds."""
    def work(_progress, cancel) -> PointAnswer:
        from xview_engine.localization.methods import PhotoOptions, method_for
        from xview_engine.localization.photo_search import photos_at_point
        from xview_engine.mapping.point import describe_point
        from xview_engine.model.time_features import parse_time

        manifest, model = choices.manifest, choices.model_path
        when = parse_time(choices.when) if choices.when and manifest.takes_time else None
        verify, collection = extras or model_extras(manifest)
        answer = PointAnswer(samples, manifest.input.footprint_m, ask_photo=verify and not choices.photo)
        if not samples and manifest.heads:
            answer.summary = describe_point(source, _runtime(model, choices.device), x, y, TOP_N, cancel, when)
        if verify and choices.photo:
            answer.verdict = method_for(manifest.kind).verify(choices.photo, model, source, x, y, choices.device)
        if collection:
            answer.hits = photos_at_point(source, _runtime(model, choices.device), PhotoOptions(
                model=model, device=choices.device), x, y, TOP_PHOTOS, cancel) or []
            answer.thumbnails = [read_thumbnail(hit.photo) for hit in answer.hits]
        return answer

    return work


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

    Unless ``force_fn()`` says to compute anyway, the values of the last run under the click are
    sampled; ``compute(point, crs, samples)`` then answers (the samples alone, or the model run on
    the spot, with what its method adds; it shows its own answer); ``task`` is the last such run.
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
        if self.compute is None:
            self.show(describe(samples))
        elif self.task is not None and self.task in RUNNING:
            self.show("Still computing the last point; click again when it is shown.")
        else:
            self.task = self.compute(point, crs, samples)
