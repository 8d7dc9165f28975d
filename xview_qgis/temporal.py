"""A time-aware map in QGIS: its bands as time steps that the temporal controller scrubs through.

The engine writes ``--months`` maps with one band per month per class, each band's calendar month
in its GDAL metadata (``xview_time_start`` / ``xview_time_end``, ISO 8601). GeoTIFF has no
temporal model that QGIS' GDAL provider reads, so the plugin sets the layers' temporal properties
itself (``QgsRasterLayer.temporalProperties()``):

- QGIS 3.38 and later: one layer per class in the mode "fixed temporal range per band"
  (``Qgis.RasterTemporalMode.FixedRangePerBand``, ``setFixedRangePerBand``), which draws the band
  of the controller's current month;
- before (3.22 ... 3.36, which lack that mode): one layer per class and month, each with a fixed
  temporal range (``ModeFixedTemporalRange``) of its month, in a sub-group per class, so the
  controller shows exactly one month at a time.

Either way the Temporal Controller panel, set to the project's range (``set_project_range``),
scrubs the map through the year. No maths here: the ranges are the engine's.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Optional

from osgeo import gdal
from qgis.core import Qgis, QgsDateTimeRange, QgsLayerTreeGroup, QgsProject, QgsRasterLayer
from qgis.PyQt.QtCore import QDateTime, Qt

from xview_qgis.bandmeta import BandMeta

START, END = "xview_time_start", "xview_time_end"


def band_time_ranges(path: str | Path) -> dict[int, QgsDateTimeRange]:
    """{band: its [start, end) time range} for the bands of ``path`` whose metadata give one."""
    ranges: dict[int, QgsDateTimeRange] = {}
    try:
        dataset = gdal.Open(str(path))
    except RuntimeError:
        return ranges
    for band in range(1, dataset.RasterCount + 1):
        meta = dataset.GetRasterBand(band).GetMetadata()
        if START in meta and END in meta:
            start, end = (QDateTime.fromString(meta[k], Qt.DateFormat.ISODate) for k in (START, END))
            if start.isValid() and end.isValid():
                ranges[band] = QgsDateTimeRange(start, end, True, False)
    return ranges


def per_band_mode():
    """The "fixed temporal range per band" mode where this QGIS has it (3.38+), else None."""
    return getattr(getattr(Qgis, "RasterTemporalMode", None), "FixedRangePerBand", None)


def is_temporal(layer: QgsRasterLayer) -> bool:
    return bool(layer.temporalProperties().isActive())


def add_time_layers(path: Path, metas: list[Optional[BandMeta]], ranges: dict[int, QgsDateTimeRange],
                    group: QgsLayerTreeGroup, project: QgsProject, max_classes: int,
                    style: Callable[[QgsRasterLayer, int, Optional[BandMeta]], None]) -> list[QgsRasterLayer]:
    """Layers of a time-stepped product file, temporal properties set (see the module docstring)."""
    by_class: dict[str, list[int]] = {}
    for band in sorted(ranges):
        meta = metas[band - 1] if band <= len(metas) else None
        by_class.setdefault(meta.class_name if meta else "", []).append(band)
    layers: list[QgsRasterLayer] = []
    mode = per_band_mode()
    for bands in list(by_class.values())[:max_classes]:
        if mode is not None:
            layer = _layer(path, bands[0], metas, style)
            layer.temporalProperties().setMode(mode)
            layer.temporalProperties().setFixedRangePerBand({b: ranges[b] for b in bands})
            layer.temporalProperties().setIsActive(True)
            project.addMapLayer(layer, False)
            group.addLayer(layer)
            layers.append(layer)
            continue
        sub = group.addGroup(_title(path, metas[bands[0] - 1]))
        for band in bands:
            layer = _layer(path, band, metas, style)
            layer.setName(f"{layer.name()} {metas[band - 1].time if metas[band - 1] else band}")
            layer.temporalProperties().setMode(layer.temporalProperties().ModeFixedTemporalRange)
            layer.temporalProperties().setFixedTemporalRange(ranges[band])
            layer.temporalProperties().setIsActive(True)
            project.addMapLayer(layer, False)
            sub.addLayer(layer)
            layers.append(layer)
    _widen_project_range(project, list(ranges.values()))
    return layers


def show_time_group(group: QgsLayerTreeGroup, layers: list[QgsRasterLayer], prefix: str) -> list[QgsRasterLayer]:
    """Name the layers, and switch on one product's time steps (the most likely class when mapped, else the
    first), so scrubbing the controller shows its months; the rest stay switched off. Shown layers first."""
    from qgis.core import QgsPalettedRasterRenderer

    timed = [lyr for lyr in layers if is_temporal(lyr)]
    first = next((lyr for lyr in timed if isinstance(lyr.renderer(), QgsPalettedRasterRenderer)), timed[0])
    parent = group.findLayer(first.id()).parent()
    shown = [lyr for lyr in layers if group.findLayer(lyr.id()).parent() is parent and is_temporal(lyr)]
    if per_band_mode() is not None:
        shown = [first]
    for layer in layers:
        if prefix:
            layer.setName(f"{prefix} {layer.name()}")
        group.findLayer(layer.id()).setItemVisibilityChecked(layer in shown)
    for node in group.children():
        node.setItemVisibilityChecked(node is parent or parent is group or node.itemVisibilityChecked())
        if hasattr(node, "setExpanded"):
            node.setExpanded(node is parent)
    return shown + [lyr for lyr in layers if lyr not in shown]


def _widen_project_range(project: QgsProject, ranges: list[QgsDateTimeRange]) -> None:
    """The project's temporal range covers ``ranges`` (what the Temporal Controller's "set to project" uses)."""
    current = project.timeSettings().temporalRange()
    begins = [r.begin() for r in ranges] + ([current.begin()] if current.begin().isValid() else [])
    ends = [r.end() for r in ranges] + ([current.end()] if current.end().isValid() else [])
    if begins and ends:
        project.timeSettings().setTemporalRange(QgsDateTimeRange(min(begins, key=QDateTime.toMSecsSinceEpoch),
                                                                 max(ends, key=QDateTime.toMSecsSinceEpoch)))


def _layer(path: Path, band: int, metas: list[Optional[BandMeta]],
           style: Callable[[QgsRasterLayer, int, Optional[BandMeta]], None]) -> QgsRasterLayer:
    layer = QgsRasterLayer(str(path), path.stem, "gdal")
    style(layer, band, metas[band - 1] if band <= len(metas) else None)
    return layer


def _title(path: Path, meta: Optional[BandMeta]) -> str:
    if meta is None:
        return path.stem
    return " ".join(filter(None, (meta.head, meta.product, meta.class_name)))
