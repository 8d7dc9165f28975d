"""Layer styling for xview products: colour ramps and legends that say what each pixel is.

None of the anchor plugins styles its probability rasters, so users open a grey band and give up.
Here every product gets a renderer that reads on its own: probabilities and counts a perceptual
ramp (viridis / magma) over the band's real value range with the class in the layer name and the
legend, class-index rasters a paletted renderer with one stable colour per class and the class
names as labels, heatmaps a transparent-to-hot ramp that lets the basemap show through, the PCA
false-colour map its three bands as red, green and blue, unstretched.

The functions take a ``QgsRasterLayer`` and plain metadata and hold no dock state, so the dock, the
Processing algorithms and the demo (which writes a .qgz and renders a PNG) all style the same way.
Band metadata comes from the engine's GeoTIFFs: band descriptions ``head:product:class`` and, for
class-index rasters, GDAL category names (in the ``.aux.xml`` sidecar).
"""

from __future__ import annotations

import colorsys
import json
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any, Optional

from qgis.core import (
    QgsColorRampShader,
    QgsGradientColorRamp,
    QgsGradientStop,
    QgsLayerTreeGroup,
    QgsMultiBandColorRenderer,
    QgsPalettedRasterRenderer,
    QgsProject,
    QgsRasterBandStats,
    QgsRasterLayer,
    QgsRasterShader,
    QgsSingleBandPseudoColorRenderer,
)
from qgis.PyQt.QtGui import QColor

from xview_engine.resources import resource_path
from xview_qgis import temporal
from xview_qgis.bandmeta import (
    BandMeta,
    band_descriptions,
    category_names,
    dataset_tags,
    parse_band_description,
    present_values,
)

ValueRange = tuple[float, float]

# Perceptual ramps as a few anchor colours (matplotlib's viridis / magma at 0, .25, .5, .75, 1).
VIRIDIS = ("#440154", "#3b528b", "#21918c", "#5ec962", "#fde725")
MAGMA = ("#000004", "#51127c", "#b73779", "#fc8961", "#fcfdbf")
CIVIDIS = ("#00204d", "#414d6b", "#7c7b78", "#bcaf6f", "#ffea46")
# Diverging (ColorBrewer RdBu, blue below 0, red above) for values that change sign: Gaussian means.
DIVERGING = ("#2166ac", "#67a9cf", "#f7f7f7", "#ef8a62", "#b2182b")
# Heatmap: transparent where unlikely, then red, orange, yellow, white at the best candidates.
HOT = ("#00000000", "#b4000080", "#ff3c00c0", "#ffc800e6", "#ffffffff")
# A qualitative palette (Tableau 20 order) for the first classes; further classes get golden-ratio hues.
QUALITATIVE = (
    "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22",
    "#17becf", "#aec7e8", "#ffbb78", "#98df8a", "#ff9896", "#c5b0d5", "#c49c94", "#f7b6d2", "#c7c7c7",
    "#dbdb8d", "#9edae5",
)
RAMP_STOPS = 5
TOP_CLASS_OPACITY = 0.65  # the most likely class over the imagery: both stay readable
# Geolocation heatmap classes, best first: (colour #rrggbbaa, legend label); the other tiles are transparent.
GEOLOCATION_CLASSES = (("#ffff00f0", "best 1 % of tiles (most likely)"), ("#ff8000d0", "best 1-5 %"),
                       ("#d00000a0", "best 5-10 %"))
PER_CLASS_PRODUCTS = ("prob", "count", "mean", "spread", "exceed")
PRODUCT_TITLES = {
    "prob": "P({cls})",
    "count": "expected {cls} count",
    "mean": "mean {cls}",
    "spread": "spread of {cls} (std)",
    "exceed": "P({cls} > {t})",
    "top": "most likely class",
    "concentration": "confidence (alpha_0)",
    "entropy": "entropy (nats)",
    "heatmap": "photo location likelihood",
    "pca": "false colours (PCA of the model's outputs)",
}


def gradient_ramp(colours: Sequence[str]) -> QgsGradientColorRamp:
    """A gradient through ``colours`` (hex, ``#rrggbb`` or ``#rrggbbaa``) at equal spacing."""
    qcolours = [_qcolor(c) for c in colours]
    step = 1.0 / (len(qcolours) - 1)
    stops = [QgsGradientStop(i * step, c) for i, c in enumerate(qcolours[1:-1], 1)]
    return QgsGradientColorRamp(qcolours[0], qcolours[-1], False, stops)


@lru_cache(maxsize=1)
def named_class_colours() -> dict[str, str]:
    """Colours for classes whose names say what they look like (``resources/styles/class_colours.json``)."""
    data = json.loads(resource_path("styles", "class_colours.json").read_text(encoding="utf-8"))
    return {name: colour for name, colour in data.items() if not name.startswith("_")}


def class_colour(index: int, name: Optional[str] = None) -> QColor:
    """The colour of a class: water blue, forest green... when its name says so, else a stable colour by index.

    Either way the same class gets the same colour in every run, map and legend.
    """
    if name is not None and name in named_class_colours():
        return QColor(named_class_colours()[name])
    if index < len(QUALITATIVE):
        return QColor(QUALITATIVE[index])
    hue = (index * 0.618033988749895) % 1.0
    red, green, blue = colorsys.hsv_to_rgb(hue, 0.65, 0.9)
    return QColor(int(red * 255), int(green * 255), int(blue * 255))


def style_probability(layer: QgsRasterLayer, band: int = 1, class_name: Optional[str] = None,
                      value_range: Optional[ValueRange] = None, head: Optional[str] = None) -> None:
    """Viridis from 0 to the band's largest probability; layer name and legend say which class."""
    lo, hi = value_range or (0.0, _band_max(layer, band, default=1.0))
    title = PRODUCT_TITLES["prob"].format(cls=class_name or f"band {band}")
    _pseudocolor(layer, band, VIRIDIS, (lo, hi if hi > lo else lo + 1.0), title, ".3f")
    _name(layer, title, head)


def style_count(layer: QgsRasterLayer, band: int = 1, class_name: Optional[str] = None,
                value_range: Optional[ValueRange] = None, head: Optional[str] = None) -> None:
    """Magma from 0 to the band's largest expected count (objects per photo)."""
    lo, hi = value_range or (0.0, _band_max(layer, band, default=1.0))
    title = PRODUCT_TITLES["count"].format(cls=class_name or f"band {band}")
    _pseudocolor(layer, band, MAGMA, (lo, hi if hi > lo else lo + 1.0), title, ".2f")
    _name(layer, title, head)


def style_scalar(layer: QgsRasterLayer, band: int = 1, title: str = "value",
                 value_range: Optional[ValueRange] = None, head: Optional[str] = None) -> None:
    """Cividis over the band's min..max, for single-band products such as concentration and entropy."""
    lo, hi = value_range or _band_min_max(layer, band)
    _pseudocolor(layer, band, CIVIDIS, (lo, hi if hi > lo else lo + 1.0), title, ".3g")
    _name(layer, title, head)


def style_attribute(layer: QgsRasterLayer, band: int, meta: BandMeta,
                    value_range: Optional[ValueRange] = None) -> None:
    """An attribute head's mean, spread or P(value > t), by the distribution the raster's tags name.

    Probabilities (P(value > t)) and Beta means are values in [0, 1]: viridis over the whole 0..1, so
    two maps compare by colour. A Gaussian mean is any number: diverging around 0 when it changes
    sign, else viridis over its range. A spread is a standard deviation: magma from 0.
    """
    tags = dataset_tags(layer.source())
    title = PRODUCT_TITLES[meta.product].format(cls=meta.class_name or f"band {band}",
                                                t=tags.get("xview_threshold", "t"))
    lo, hi = value_range or _band_min_max(layer, band)
    colours = VIRIDIS
    if meta.product == "exceed" or (meta.product == "mean" and tags.get("xview_distribution") == "beta"):
        lo, hi = value_range or (0.0, 1.0)
    elif meta.product == "spread":
        lo, colours = (value_range or (0.0,))[0], MAGMA
    elif lo < 0 < hi:
        half = max(-lo, hi)
        lo, hi, colours = -half, half, DIVERGING
    _pseudocolor(layer, band, colours, (lo, hi if hi > lo else lo + 1.0), title, ".3g")
    _name(layer, title, meta.head)


def style_heatmap(layer: QgsRasterLayer, band: int = 1, value_range: Optional[ValueRange] = None) -> None:
    """Transparent-to-hot: low scores vanish, so the heatmap sits on the basemap and hot spots stand out."""
    lo, hi = value_range or _band_min_max(layer, band)
    _pseudocolor(layer, band, HOT, (lo, hi if hi > lo else lo + 1.0), PRODUCT_TITLES["heatmap"], ".3g",
                 ("unlikely", "most likely"))


def style_geolocation(layer: QgsRasterLayer, band: int = 1) -> None:
    """The photo-location heatmap by rank among the tiles: the best 1 %, 5 %, 10 % in yellow, orange, red.

    The same colours mean the same share of the searched tiles on every photo (the engine finds the
    class breaks in the heatmap, ``heatmap_class_breaks``); the other 90 % are transparent, so the
    imagery shows and the best candidates stand out whatever the raw log-likelihood range.
    """
    from xview_engine.localization.heatmap import TOP_PERCENTS, heatmap_class_breaks

    breaks = heatmap_class_breaks(layer.source(), TOP_PERCENTS, band)
    if not all(b == b for b in breaks):  # no finite score: nothing to rank
        style_heatmap(layer, band)
        return
    items = [QgsColorRampShader.ColorRampItem(breaks[-1], QColor(0, 0, 0, 0), "other tiles (transparent)")]
    uppers = [*breaks[:-1][::-1], float("inf")]  # value <= upper: the class above the previous break
    for upper, (colour, label) in zip(uppers, reversed(GEOLOCATION_CLASSES)):
        items.append(QgsColorRampShader.ColorRampItem(upper, _qcolor(colour), label))
    shader_fn = QgsColorRampShader(breaks[-1], breaks[0])
    shader_fn.setColorRampType(QgsColorRampShader.Discrete)
    shader_fn.setColorRampItemList(items)
    shader = QgsRasterShader()
    shader.setRasterShaderFunction(shader_fn)
    layer.setRenderer(QgsSingleBandPseudoColorRenderer(layer.dataProvider(), band, shader))
    title = "photo location: rank among the searched tiles"
    layer.setCustomProperty("xview/legend_title", title)
    layer.setName(PRODUCT_TITLES["heatmap"])
    layer.triggerRepaint()


def style_rgb(layer: QgsRasterLayer, title: str = PRODUCT_TITLES["pca"]) -> None:
    """Bands 1, 2, 3 as red, green, blue, shown as they are: the engine's PCA map is already stretched
    to 1-255 (0 is nodata, transparent), so a second stretch by QGIS would change its colours."""
    layer.setRenderer(QgsMultiBandColorRenderer(layer.dataProvider(), 1, 2, 3))
    layer.setName(title)
    layer.triggerRepaint()


def style_top_class(layer: QgsRasterLayer, class_names: Sequence[str] = (), band: int = 1,
                    present: Optional[Sequence[int]] = None, head: Optional[str] = None) -> None:
    """Paletted renderer, one stable colour per class index, labelled with the class names.

    Only the classes that occur (``present``, else read from the raster) are listed, so a 365-class
    head gives a legend of the few classes on the map rather than a wall of 365 entries.
    """
    names = tuple(class_names) or category_names(layer, band)
    indexes = sorted(present) if present is not None else present_values(layer.source(), band)
    labels = {int(i): names[int(i)] if int(i) < len(names) else str(i) for i in indexes}
    classes = [QgsPalettedRasterRenderer.Class(i, class_colour(i, label), label) for i, label in labels.items()]
    renderer = QgsPalettedRasterRenderer(layer.dataProvider(), band, classes)
    layer.setRenderer(renderer)
    _name(layer, PRODUCT_TITLES["top"], head)
    layer.triggerRepaint()


def style_layer(layer: QgsRasterLayer, band: int = 1, meta: Optional[BandMeta] = None,
                value_range: Optional[ValueRange] = None) -> None:
    """Style ``band`` by what its description (``head:product:class``) says it is."""
    meta = meta or parse_band_description(_description(layer, band))
    if meta is None:
        style_scalar(layer, band, layer.name() or f"band {band}", value_range)
    elif meta.product == "prob":
        style_probability(layer, band, meta.class_name, value_range, meta.head)
    elif meta.product == "count":
        style_count(layer, band, meta.class_name, value_range, meta.head)
    elif meta.product == "top":
        style_top_class(layer, category_names(layer, band), band, head=meta.head)
    elif meta.product in ("mean", "spread", "exceed"):
        style_attribute(layer, band, meta, value_range)
    elif meta.product in ("heatmap", "likelihood", "score"):
        style_heatmap(layer, band, value_range)
    else:
        title = PRODUCT_TITLES.get(meta.product, meta.product)
        style_scalar(layer, band, title, value_range, meta.head)


def add_products_to_project(products_json_path: str | Path, group_name: str,
                            project: Optional[QgsProject] = None, max_class_layers: int = 10,
                            prefix: str = "") -> list[QgsRasterLayer]:
    """Add every GeoTIFF a run wrote (listed in its ``products.json``), styled, into a new layer group.

    Per-class rasters (one band per class) become one layer per class band, first ``max_class_layers``
    only. One layer is shown, so the map opens readable: the most likely class (first in the group,
    semi-transparent over the imagery, its legend open), or the first layer when the run has no
    top-class product; the others stay in the group, switched off. ``prefix`` (e.g. "#2") starts
    every layer name, so two runs never share names. The group is put at the top of the layer tree.
    Returns the layers (the project owns them), the shown one first.
    """
    project = project or QgsProject.instance()
    files = product_files(products_json_path)
    group = project.layerTreeRoot().insertGroup(0, group_name)
    layers: list[QgsRasterLayer] = []
    for path in files:
        layers.extend(_add_file(path, group, project, max_class_layers))
    if any(temporal.is_temporal(lyr) for lyr in layers):  # a time-aware map: months for the temporal controller
        return temporal.show_time_group(group, layers, prefix)
    shown = next((lyr for lyr in layers if isinstance(lyr.renderer(), QgsPalettedRasterRenderer)), None)
    if shown is not None:
        shown.setOpacity(TOP_CLASS_OPACITY)
        node = group.findLayer(shown.id())
        group.insertChildNode(0, node.clone())
        group.removeChildNode(node)
        layers.remove(shown)
        layers.insert(0, shown)
    for i, layer in enumerate(layers):
        if prefix:
            layer.setName(f"{prefix} {layer.name()}")
        node = group.findLayer(layer.id())
        node.setItemVisibilityChecked(i == 0)
        node.setExpanded(i == 0)
    return layers


def next_run_number(project: Optional[QgsProject] = None) -> int:
    """1, 2, 3... per project (saved with it): numbers runs so groups and layers never share a name."""
    project = project or QgsProject.instance()
    number = project.readNumEntry("xview", "runs", 0)[0] + 1
    project.writeEntry("xview", "runs", number)
    return number


def product_files(products_json_path: str | Path) -> list[Path]:
    """The GeoTIFFs a run wrote, in order: ``products[*].file`` of the engine's products.json.

    Other JSON (a localization report, a hand-made list) is searched for any ``.tif`` path instead,
    skipping the input keys (``source``, ``raster``, ...) so the mapped image is never added as a result.
    """
    path = Path(products_json_path)
    data = json.loads(path.read_text(encoding="utf-8"))
    found: list[Path] = []
    entries = data.get("products") if isinstance(data, dict) else None
    if isinstance(entries, list) and all(isinstance(e, dict) and "file" in e for e in entries):
        found = [_resolve(path.parent, e["file"]) for e in entries]
        found = [f for f in found if f.is_file()]
    else:
        _collect_tifs(data, path.parent, found)
    return list(dict.fromkeys(found))


def _resolve(base: Path, name: str) -> Path:
    return Path(name) if Path(name).is_absolute() else base / name


def _collect_tifs(node: Any, base: Path, found: list[Path]) -> None:
    if isinstance(node, dict):
        for key, value in node.items():
            if key in ("source", "input", "raster", "model", "params", "mask"):
                continue  # the mapped raster itself, not an output
            _collect_tifs(value, base, found)
    elif isinstance(node, list):
        for item in node:
            _collect_tifs(item, base, found)
    elif isinstance(node, str) and node.lower().endswith((".tif", ".tiff")):
        candidate = _resolve(base, node)
        if candidate.is_file():
            found.append(candidate)


def _add_file(path: Path, group: QgsLayerTreeGroup, project: QgsProject, max_class_layers: int) -> list[QgsRasterLayer]:
    descriptions = band_descriptions(str(path))
    metas = [parse_band_description(text) for text in descriptions] or [None]
    ranges = temporal.band_time_ranges(path)
    if ranges:
        return temporal.add_time_layers(path, metas, ranges, group, project, max_class_layers, style_layer)
    per_class = all(m is not None and m.product in PER_CLASS_PRODUCTS for m in metas)
    bands = range(1, min(len(metas), max_class_layers) + 1) if per_class else (1,)
    layers = []
    for band in bands:
        layer = QgsRasterLayer(str(path), path.stem, "gdal")
        if not layer.isValid():
            continue
        style_layer(layer, band, metas[band - 1])
        project.addMapLayer(layer, False)
        group.addLayer(layer)
        layers.append(layer)
    return layers


def _pseudocolor(layer: QgsRasterLayer, band: int, colours: Sequence[str], value_range: ValueRange, title: str,
                 fmt: str, end_labels: Optional[tuple[str, str]] = None) -> None:
    lo, hi = value_range
    ramp = gradient_ramp(colours)
    shader_fn = QgsColorRampShader(lo, hi, ramp, QgsColorRampShader.Interpolated, QgsColorRampShader.Continuous)
    shader_fn.classifyColorRamp(RAMP_STOPS, band)
    items = shader_fn.colorRampItemList()
    for item in items:
        item.label = f"{item.value:{fmt}}"
    if end_labels and items:
        items[0].label = f"{items[0].label} ({end_labels[0]})"
        items[-1].label = f"{items[-1].label} ({end_labels[1]})"
    shader_fn.setColorRampItemList(items)
    shader = QgsRasterShader(lo, hi)
    shader.setRasterShaderFunction(shader_fn)
    renderer = QgsSingleBandPseudoColorRenderer(layer.dataProvider(), band, shader)
    renderer.setClassificationMin(lo)
    renderer.setClassificationMax(hi)
    layer.setRenderer(renderer)
    layer.setCustomProperty("xview/legend_title", title)
    layer.triggerRepaint()


def _name(layer: QgsRasterLayer, title: str, head: Optional[str]) -> None:
    layer.setName(f"{title} · {head}" if head else title)


def _description(layer: QgsRasterLayer, band: int) -> str:
    descriptions = band_descriptions(layer.source())
    return descriptions[band - 1] if band <= len(descriptions) else ""


def _band_min_max(layer: QgsRasterLayer, band: int) -> ValueRange:
    stats = layer.dataProvider().bandStatistics(band, QgsRasterBandStats.Min | QgsRasterBandStats.Max)
    return float(stats.minimumValue), float(stats.maximumValue)


def _band_max(layer: QgsRasterLayer, band: int, default: float) -> float:
    hi = _band_min_max(layer, band)[1]
    return hi if hi > 0 else default


def _qcolor(text: str) -> QColor:
    """``#rrggbb`` or ``#rrggbbaa`` (QColor itself reads 8 hex digits as #aarrggbb)."""
    colour = QColor(text[:7])
    if len(text) == 9:
        colour.setAlpha(int(text[7:9], 16))
    return colour
