"""Any raster layer QGIS can draw, as the engine's ``RasterSource``: files, VRTs, XYZ and WMS basemaps.

The source renders the layer with QGIS itself (``QgsMapRendererCustomPainterJob``) into an RGBA
image over the requested bounds at the requested size, in the work CRS, with the project's
transform context. That one path serves every provider (a WMS has no pixel blocks to read), lets
QGIS reproject and pick basemap zoom levels, and gives the model what the user sees. Transparent
pixels (nodata, alpha band, outside the layer) are the invalid ones.

Construction happens on the main thread: the layer is *cloned* there (with provider resampling:
average when shrinking, bilinear when enlarging) and only the clone is used by ``read_window``,
which the engine calls from a worker thread, as QGIS' own Processing algorithms do. The plugin
does no geometry here: the engine's tiling turns ground metres into CRS units (Web Mercator
included); this class only draws what it is asked for.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

import numpy as np
from qgis.core import (
    QgsCoordinateReferenceSystem,
    QgsCoordinateTransform,
    QgsCoordinateTransformContext,
    QgsMapRendererCustomPainterJob,
    QgsMapSettings,
    QgsRasterDataProvider,
    QgsRasterLayer,
    QgsRasterPipe,
    QgsRectangle,
)
from qgis.PyQt.QtCore import QSize, Qt
from qgis.PyQt.QtGui import QColor, QImage, QPainter

from xview_engine.errors import SourceError

Bounds = tuple[float, float, float, float]
RGB = ("red", "green", "blue")
DPI = 96.0


class QgisLayerSource:
    """A ``RasterSource`` over a QGIS raster layer; see the module docstring."""

    def __init__(self, layer: QgsRasterLayer, band_names: tuple[str, ...] = RGB, work_crs: Optional[str] = None,
                 transform_context: Optional[QgsCoordinateTransformContext] = None):
        _check_layer(layer, band_names)
        self.layer_name = layer.name()
        layer_crs = layer.crs()
        self._crs = _work_crs(layer_crs, layer.extent(), work_crs)
        self._context = transform_context or QgsCoordinateTransformContext()
        self.crs = self._crs.toWkt()
        self.bounds = _bounds_in(layer.extent(), layer_crs, self._crs, self._context)
        self._layer = _reading_clone(layer)
        self.info: dict[str, Any] = {
            "file": layer.source(),
            "layer": layer.name(),
            "provider": layer.providerType(),
            "source_crs": layer_crs.authid() or layer_crs.description(),
            "bands": "red, green, blue as drawn by the layer's renderer in QGIS",
            "scaling": "rendered bytes / 255",
            "reprojected_to": None if self._crs == layer_crs else f"{self._crs.authid()} (QGIS rendering)",
        }

    def read_window(self, bounds: Bounds, out_shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
        """Pixels (3, H, W) float32 in [0, 1] and the valid mask (H, W) of ``bounds`` drawn at ``out_shape``."""
        height, width = out_shape
        draw_w, draw_h = _square_pixel_size(bounds, width, height)
        image = QImage(draw_w, draw_h, QImage.Format.Format_ARGB32)
        image.fill(QColor(0, 0, 0, 0))
        painter = QPainter(image)
        try:
            job = QgsMapRendererCustomPainterJob(self._settings(bounds, draw_w, draw_h), painter)
            job.renderSynchronously()
        finally:
            painter.end()
        errors = job.errors()
        if errors:
            raise SourceError(f"QGIS could not draw layer '{self.layer_name}': {errors[0].message}")
        if (draw_w, draw_h) != (width, height):
            image = image.scaled(width, height, Qt.AspectRatioMode.IgnoreAspectRatio,
                                 Qt.TransformationMode.SmoothTransformation)
        return _image_to_arrays(image)

    def close(self) -> None:
        """Drop the reading clone (the engine never closes a source it was given; the task does)."""
        self._layer = None

    def _settings(self, bounds: Bounds, width: int, height: int) -> QgsMapSettings:
        settings = QgsMapSettings()
        settings.setLayers([self._layer])
        settings.setDestinationCrs(self._crs)
        settings.setTransformContext(self._context)
        settings.setOutputSize(QSize(width, height))
        settings.setOutputDpi(DPI)
        settings.setExtent(QgsRectangle(*bounds))
        settings.setBackgroundColor(QColor(0, 0, 0, 0))
        settings.setFlag(QgsMapSettings.Flag.Antialiasing, False)
        settings.setFlag(QgsMapSettings.Flag.RenderMapTile, True)  # no label/symbol bleeding over edges
        return settings


def is_file_layer(layer: QgsRasterLayer) -> Optional[str]:
    """The local file behind a GDAL layer (read by the engine's rasterio source, exactly as the CLI), or None."""
    if layer.providerType() != "gdal":
        return None
    path = layer.source().split("|")[0]
    return path if Path(path).is_file() else None


def _check_layer(layer: QgsRasterLayer, band_names: tuple[str, ...]) -> None:
    if layer is None or not layer.isValid():
        raise SourceError("the chosen layer is not a valid raster layer; choose another layer")
    if tuple(b.lower() for b in band_names) != RGB:
        raise SourceError(
            f"the model wants bands {', '.join(band_names)}, but a QGIS layer is read as drawn (red, green, "
            "blue); map the raster file instead (choose a file layer or use the xview map command)"
        )
    if not layer.crs().isValid():
        raise SourceError(f"layer '{layer.name()}' has no CRS; set one (Layer Properties > Source) and try again")


def _work_crs(layer_crs: QgsCoordinateReferenceSystem, extent: QgsRectangle,
              work_crs: Optional[str]) -> QgsCoordinateReferenceSystem:
    """The layer's CRS when projected, else ``work_crs`` or the engine's UTM choice for the layer centre."""
    if work_crs:
        crs = QgsCoordinateReferenceSystem(work_crs)
    elif not layer_crs.isGeographic():
        return layer_crs
    else:
        from xview_engine.raster import crs as geo  # rasterio: imported when used, so the plugin loads without it

        to_wgs84 = QgsCoordinateTransform(layer_crs, QgsCoordinateReferenceSystem("EPSG:4326"),
                                          QgsCoordinateTransformContext())
        centre = to_wgs84.transform(extent.center())
        crs = QgsCoordinateReferenceSystem(geo.utm_crs_for(centre.x(), centre.y()).to_wkt())
    if not crs.isValid() or crs.isGeographic():
        raise SourceError(f"work CRS '{work_crs}' is not a projected CRS QGIS knows; choose a metric CRS")
    return crs


def _bounds_in(extent: QgsRectangle, source: QgsCoordinateReferenceSystem, target: QgsCoordinateReferenceSystem,
               context: QgsCoordinateTransformContext) -> Bounds:
    if source != target:
        extent = QgsCoordinateTransform(source, target, context).transformBoundingBox(extent)
    return extent.xMinimum(), extent.yMinimum(), extent.xMaximum(), extent.yMaximum()


def _reading_clone(layer: QgsRasterLayer) -> QgsRasterLayer:
    """A private copy of the layer that reads with average / bilinear resampling, not nearest neighbour."""
    clone = layer.clone()
    provider = clone.dataProvider()
    can_resample = QgsRasterDataProvider.ProviderCapability.ProviderHintCanPerformProviderResampling
    if provider.providerCapabilities() & can_resample:
        provider.enableProviderResampling(True)
        provider.setZoomedOutResamplingMethod(QgsRasterDataProvider.ResamplingMethod.Average)
        provider.setZoomedInResamplingMethod(QgsRasterDataProvider.ResamplingMethod.Bilinear)
        provider.setMaxOversampling(8.0)
        clone.setResamplingStage(QgsRasterPipe.ResamplingStage.Provider)
    clone.setOpacity(1.0)
    return clone


def _square_pixel_size(bounds: Bounds, width: int, height: int) -> tuple[int, int]:
    """QGIS draws square pixels only: the image size with square pixels at the finer of the two pixel sizes.

    The engine's strips have square pixels on the ground; in a CRS whose x and y ground scales differ
    they are not square in CRS units, so they are drawn square and then stretched by Qt to the shape asked.
    """
    pixel_w, pixel_h = (bounds[2] - bounds[0]) / width, (bounds[3] - bounds[1]) / height
    if abs(pixel_w - pixel_h) <= 1e-6 * max(pixel_w, pixel_h):
        return width, height
    pixel = min(pixel_w, pixel_h)
    return max(1, round((bounds[2] - bounds[0]) / pixel)), max(1, round((bounds[3] - bounds[1]) / pixel))


def _image_to_arrays(image: QImage) -> tuple[np.ndarray, np.ndarray]:
    """ARGB32 image -> (3, H, W) float32 in [0, 1] and the mask of opaque pixels."""
    height, width = image.height(), image.width()
    image = image.convertToFormat(QImage.Format.Format_RGBA8888)
    buffer = image.constBits()
    buffer.setsize(image.sizeInBytes())
    data = np.frombuffer(buffer, np.uint8).reshape(height, image.bytesPerLine())[:, : width * 4]
    rgba = data.reshape(height, width, 4)
    valid = rgba[:, :, 3] > 127
    pixels = np.ascontiguousarray(rgba[:, :, :3].transpose(2, 0, 1), np.float32) / np.float32(255.0)
    pixels[:, ~valid] = 0.0
    return pixels, valid

