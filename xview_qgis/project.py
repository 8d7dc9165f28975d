"""The demo's QGIS side: a project (.qgz) with xview's layers styled, and a picture rendered by QGIS.

Run as ``python -m xview_qgis.project --basemap overhead.tif --products a/products.json ...
--heatmaps DIR --qgz out.qgz --png out.png`` by ``xview demo`` (the engine never imports qgis, so
this runs in its own process with the Python that has the QGIS bindings). The layers use the
plugin's own styling (``xview_qgis.styling``), so the demo shows exactly what the dock would.
The picture is a grid of panels, each a map rendered with ``QgsMapRendererParallelJob``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Optional

PANEL_PX = 420
TITLE_PX = 28


def start_qgis():
    """A headless QgsApplication (the caller must keep it and call exitQgis())."""
    from qgis.core import QgsApplication

    app = QgsApplication([], False)
    app.setPrefixPath("/usr", True)
    app.initQgis()
    return app


def raster_layer(path: str | Path, name: Optional[str] = None):
    from qgis.core import QgsRasterLayer

    layer = QgsRasterLayer(str(path), name or Path(path).stem, "gdal")
    if not layer.isValid():
        raise RuntimeError(f"QGIS cannot open {path}")
    return layer


def build_project(basemap: Path, products: list[Path], heatmaps: list[Path], qgz: Path):
    """Basemap at the bottom, one styled group per products.json and one for heatmaps; saved to ``qgz``."""
    from qgis.core import QgsProject

    from xview_qgis.styling import add_products_to_project, style_geolocation

    project = QgsProject.instance()
    project.clear()
    base = raster_layer(basemap, "overhead image (synthetic)")
    project.setCrs(base.crs())
    project.addMapLayer(base, False)
    project.layerTreeRoot().addLayer(base)
    if heatmaps:
        group = project.layerTreeRoot().insertGroup(0, "geolocation heatmaps")
        for i, path in enumerate(heatmaps):
            layer = raster_layer(path, f"heatmap {path.stem}")
            style_geolocation(layer)
            project.addMapLayer(layer, False)
            group.addLayer(layer).setItemVisibilityChecked(i == 0)
    for path in reversed(products):
        add_products_to_project(path, f"xview {path.parent.name}", project)
    if not project.write(str(qgz)):
        raise RuntimeError(f"QGIS could not write {qgz}")
    return project, base


def panel_layers(products: list[Path], heatmaps: list[Path]) -> list[tuple[str, object]]:
    """The few layers the picture shows, each styled on its own (title, layer)."""
    from xview_qgis.bandmeta import band_descriptions
    from xview_qgis.styling import style_count, style_layer, style_probability

    panels: list[tuple[str, object]] = []
    for folder in (p.parent for p in products):
        for tif in sorted(folder.glob("*.tif")):
            descriptions = band_descriptions(str(tif))
            if tif.stem.endswith("_top"):
                layer = raster_layer(tif)
                style_layer(layer, 1)
                panels.append(("most likely scene", layer))
            elif tif.stem.endswith("_prob"):
                band = _band_of(descriptions, "beach") or 1
                layer = raster_layer(tif)
                style_probability(layer, band, descriptions[band - 1].split(":")[-1], value_range(layer, band))
                panels.append((f"P({descriptions[band - 1].split(':')[-1]}) (ramp: map min..max)", layer))
            elif tif.stem.endswith("_count"):
                band = _band_of(descriptions, "car") or 1
                layer = raster_layer(tif)
                style_count(layer, band, descriptions[band - 1].split(":")[-1], value_range(layer, band))
                panels.append((f"expected {descriptions[band - 1].split(':')[-1]} count (ramp: min..max)", layer))
    if heatmaps:
        panels.append(heatmap_panel(heatmaps))
    return panels


def heatmap_panel(heatmaps: list[Path]) -> tuple[str, object]:
    """The heatmap of the median-rank photo (representative, not the best), its best 1 / 5 / 10 % coloured."""
    import json

    from xview_qgis.styling import style_geolocation

    results_path = heatmaps[0].parent / "results.json"
    results = json.loads(results_path.read_text()) if results_path.is_file() else []
    ranked = sorted((r for r in results if (r.get("truth") or {}).get("rank")),
                    key=lambda r: r["truth"]["rank"]["combined"])
    chosen = ranked[len(ranked) // 2] if ranked else None
    path = heatmaps[0].parent / Path(chosen["heatmap"]).name if chosen else heatmaps[0]
    layer = raster_layer(path)
    style_geolocation(layer, 1)
    if chosen is None:
        return (f"where was photo {path.stem} taken?", layer)
    truth = chosen["truth"]
    title = (f"photo {path.stem}: true spot (cyan) ranks {truth['rank']['combined']} of {truth['candidates']}")
    return (title, [truth_marker(truth["lon"], truth["lat"]), layer])


def truth_marker(lon: float, lat: float):
    """A memory point layer at the photo's true position (cyan ring)."""
    from qgis.core import QgsFeature, QgsGeometry, QgsMarkerSymbol, QgsPointXY, QgsVectorLayer

    layer = QgsVectorLayer("Point?crs=EPSG:4326", "true position", "memory")
    feature = QgsFeature()
    feature.setGeometry(QgsGeometry.fromPointXY(QgsPointXY(lon, lat)))
    layer.dataProvider().addFeatures([feature])
    symbol = QgsMarkerSymbol.createSimple({"name": "circle", "color": "0,0,0,0", "outline_color": "cyan",
                                           "outline_width": "0.8", "size": "5"})
    layer.renderer().setSymbol(symbol)
    return layer


def landcover_layer(path: Path):
    """The synthetic world's land cover (band 1) with its own colour table, classes named from its tags."""
    from qgis.core import QgsPalettedRasterRenderer

    layer = raster_layer(path, "land cover (truth)")
    provider = layer.dataProvider()
    classes = QgsPalettedRasterRenderer.colorTableToClassData(provider.colorTable(1))
    names = dict(item.split("=", 1) for item in _band_tag(path, "CLASSES").split(",") if "=" in item)
    for item in classes:
        item.label = names.get(str(item.value), item.label)
    layer.setRenderer(QgsPalettedRasterRenderer(provider, 1, classes))
    return layer


def _band_tag(path: Path, key: str) -> str:
    from osgeo import gdal

    ds = gdal.Open(str(path))
    try:
        return ds.GetRasterBand(1).GetMetadataItem(key) or ""
    finally:
        ds = None


def value_range(layer, band: int) -> tuple[float, float]:
    """The band's own min..max, so a map whose values sit in a narrow range still shows its pattern."""
    from qgis.core import QgsRasterBandStats

    stats = layer.dataProvider().bandStatistics(band, QgsRasterBandStats.Min | QgsRasterBandStats.Max)
    return float(stats.minimumValue), float(stats.maximumValue)


def _band_of(descriptions: list[str], name: str) -> Optional[int]:
    for i, text in enumerate(descriptions):
        if text.split(":")[-1] == name:
            return i + 1
    return None


def render(layers: list, extent, crs, size: int = PANEL_PX):
    """One map image of ``layers`` (top first) through QGIS's parallel renderer."""
    from qgis.core import QgsMapRendererParallelJob, QgsMapSettings
    from qgis.PyQt.QtCore import QSize
    from qgis.PyQt.QtGui import QColor

    settings = QgsMapSettings()
    settings.setLayers(layers)
    settings.setDestinationCrs(crs)
    settings.setExtent(extent)
    settings.setOutputSize(QSize(size, size))
    settings.setBackgroundColor(QColor("white"))
    job = QgsMapRendererParallelJob(settings)
    job.start()
    job.waitForFinished()
    return job.renderedImage()


def compose(panels: list[tuple[str, object]], base, out_png: Path, landcover=None, columns: int = 3) -> None:
    """Render every panel over the basemap into one titled grid PNG."""
    from qgis.PyQt.QtCore import Qt
    from qgis.PyQt.QtGui import QColor, QFont, QImage, QPainter

    items = [("overhead image (synthetic)", None), *panels[:4]]
    if landcover is not None:
        items.append(("true land cover (for comparison)", landcover))
    rows = (len(items) + columns - 1) // columns
    sheet = QImage(columns * PANEL_PX, rows * (PANEL_PX + TITLE_PX), QImage.Format.Format_ARGB32)
    sheet.fill(QColor("white"))
    painter = QPainter(sheet)
    painter.setFont(QFont("DejaVu Sans", 11))
    for i, (title, layer) in enumerate(items):
        x, y = (i % columns) * PANEL_PX, (i // columns) * (PANEL_PX + TITLE_PX)
        layers = layer if isinstance(layer, list) else [layer] if layer is not None else []
        if layers and title.startswith("most"):
            layers[0].setOpacity(0.85)
        image = render([*layers, base], base.extent(), base.crs())
        painter.drawImage(x, y + TITLE_PX, image)
        align = Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignLeft
        painter.drawText(x + 6, y, PANEL_PX - 12, TITLE_PX, align, title)
    painter.end()
    if not sheet.save(str(out_png), "PNG"):
        raise RuntimeError(f"could not save {out_png}")


def write_demo_project(basemap: Path, products: list[Path], heatmaps: list[Path], qgz: Path, png: Path) -> None:
    """The whole QGIS side of the demo (QGIS must be started)."""
    project, base = build_project(basemap, products, heatmaps, qgz)
    panels = panel_layers(products, heatmaps)
    cover = basemap.parent / "landcover.tif"
    landcover = landcover_layer(cover) if cover.is_file() else None
    compose(panels, base, png, landcover)
    del panels, base, landcover
    project.clear()


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m xview_qgis.project", description=__doc__)
    parser.add_argument("--basemap", required=True)
    parser.add_argument("--products", nargs="+", default=[])
    parser.add_argument("--heatmaps", help="folder of heatmap GeoTIFFs")
    parser.add_argument("--qgz", required=True)
    parser.add_argument("--png", required=True)
    args = parser.parse_args(argv)
    heatmaps = sorted(Path(args.heatmaps).glob("*.tif")) if args.heatmaps else []
    app = start_qgis()
    try:
        write_demo_project(Path(args.basemap), [Path(p) for p in args.products], heatmaps, Path(args.qgz),
                           Path(args.png))
    finally:
        app.exitQgis()
    return 0


if __name__ == "__main__":
    sys.exit(main())
