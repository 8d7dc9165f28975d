"""Results of the xview algorithms open styled, as the dock's do: a post-processor per loaded layer.

QGIS loads an algorithm's result layers after the run (``QgsProcessingContext`` "layers to load on
completion") and then hands each to its ``QgsProcessingLayerPostProcessorInterface``, on the main
thread. ``StyleResult`` applies ``xview_qgis.styling`` there: probability / count rasters get a colour
ramp and a legend with class names, top-class rasters a palette with class names, heatmaps the
best 1 / 5 / 10 % of tiles coloured, the rest transparent, PCA maps their bands as red, green and
blue. Nothing about the style is guessed: the band descriptions (``head:product:class``) written by
the engine say what each product raster is, and the algorithm that wrote a heatmap or a PCA map
says so (``style``).

QGIS does not own a Python post-processor, so each one is kept in ``_ALIVE`` until it has run.
"""

from __future__ import annotations

from pathlib import Path

from qgis.core import QgsProcessingContext, QgsProcessingLayerPostProcessorInterface, QgsRasterLayer

from xview_qgis import styling

_ALIVE: set[StyleResult] = set()
STYLES = {"bands": lambda layer: styling.style_layer(layer, band=1),  # by the band descriptions
          "heatmap": lambda layer: styling.style_geolocation(layer, band=1),
          "rgb": styling.style_rgb}


class StyleResult(QgsProcessingLayerPostProcessorInterface):
    """Styles one result raster once QGIS has loaded it, the way ``style`` (a key of ``STYLES``) says."""

    def __init__(self, style: str = "bands"):
        super().__init__()
        self.style = STYLES[style]
        _ALIVE.add(self)

    def postProcessLayer(self, layer, context, feedback) -> None:  # QGIS API name; main thread
        try:
            if isinstance(layer, QgsRasterLayer) and layer.isValid():
                self.style(layer)
        finally:
            _ALIVE.discard(self)


def load_styled(context: QgsProcessingContext, path: Path, output_name: str) -> None:
    """Ask QGIS to open ``path`` into the context's project when the algorithm completes, styled."""
    details = QgsProcessingContext.LayerDetails(path.stem, context.project(), output_name)
    details.setPostProcessor(StyleResult())
    context.addLayerToLoadOnCompletion(str(path), details)


def style_when_loaded(context: QgsProcessingContext, destination: str, style: str = "bands") -> bool:
    """Style a raster destination QGIS will open anyway (the user ticked "Open output file"); True if so."""
    if not context.willLoadLayerOnCompletion(destination):
        return False
    context.layerToLoadOnCompletionDetails(destination).setPostProcessor(StyleResult(style))
    return True
