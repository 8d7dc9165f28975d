"""The "What's here" map tool: click the map, read the scenes, classes and expected counts at that point.

Values are sampled from the last map run's product layers (``QgsRasterDataProvider.sample`` at the
clicked point, transformed to each layer's CRS with the project's context); the band descriptions
(``head:product:class``) say what each value is. Nothing is computed: the numbers are the engine's.
"""

from __future__ import annotations

import math
from collections import defaultdict

from qgis.core import QgsCoordinateTransform, QgsPointXY, QgsProject
from qgis.gui import QgsMapToolEmitPoint

from xview_qgis.bandmeta import band_descriptions, category_names, parse_band_description

TOP_N = 5


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


class WhatsHereTool(QgsMapToolEmitPoint):
    """Click -> sample the layers given by ``layers_fn()`` -> ``show(text)`` (the dock's panel)."""

    def __init__(self, canvas, layers_fn, show):
        super().__init__(canvas)
        self.layers_fn, self.show = layers_fn, show
        self.canvasClicked.connect(self._clicked)

    def _clicked(self, point: QgsPointXY, _button) -> None:
        crs = self.canvas().mapSettings().destinationCrs()
        self.show(describe(sample_products(self.layers_fn(), point, crs)))
