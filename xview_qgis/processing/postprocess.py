"""Results of the xview algorithms open styled, as the dock's do: a post-processor per loaded layer.

QGIS loads an algorithm's result layers after the run (``QgsProcessingContext`` "layers to load on
completion") and then hands each to its ``QgsProcessingLayerPostProcessorInterface``, on the main
thread. ``StyleResult`` applies ``xview_qgis.styling`` there: probability / count rasters get a colour
ramp and a legend with class names, top-class rasters a palette with class names, heatmaps the
best 1 / 5 / 10 % of tiles coloured, the rest transparent. Nothing about the style is guessed: the band descriptions
(``head:product:class``) written by the engine say what each raster is.

QGIS does not own a Python post-processor, so each one is kept in ``_ALIVE`` until it has run.
"""

from __future__ import annotations

from pathlib import Path

from qgis.core import QgsProcessingContext, QgsProcessingLayerPostProcessorInterface, QgsRasterLayer

from xview_qgis import styling

_ALIVE: set[StyleResult] = set()


class StyleResult(QgsProcessingLayerPostProcessorInterface):
    """Styles one result raster once QGIS has loaded it (by its band descriptions, or as a heatmap)."""

    def __init__(self, heatmap: bool = False):
        super().__init__()
        self.heatmap = heatmap
        _ALIVE.add(self)

    def postProcessLayer(self, layer, context, feedback) -> None:  # QGIS API name; main thread
        try:
            if isinstance(layer, QgsRasterLayer) and layer.isValid():
                if self.heatmap:
                    styling.style_geolocation(layer, band=1)
                else:
                    styling.style_layer(layer, band=1)
        finally:
            _ALIVE.discard(self)


def load_styled(context: QgsProcessingContext, path: Path, output_name: str) -> None:
    """Ask QGIS to open ``path`` into the context's project when the algorithm completes, styled."""
    details = QgsProcessingContext.LayerDetails(path.stem, context.project(), output_name)
    details.setPostProcessor(StyleResult())
    context.addLayerToLoadOnCompletion(str(path), details)


def style_when_loaded(context: QgsProcessingContext, destination: str, heatmap: bool = False) -> bool:
    """Style a raster destination QGIS will open anyway (the user ticked "Open output file"); True if so."""
    if not context.willLoadLayerOnCompletion(destination):
        return False
    context.layerToLoadOnCompletionDetails(destination).setPostProcessor(StyleResult(heatmap))
    return True
