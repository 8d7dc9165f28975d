"""The Map tab's "What's here?" controls: the tool's button, "always compute here", the answer and photos.

The panel owns the map tool while it is on (``toggle``) and turns a click into a point query
(``whats_here.start_point_query``) over the choices of the whole dock: the Map tab's raster layer
(``layer_fn``), the model panel's model and the photo chosen in the Geolocate tab (``photo_fn``,
wired by the plugin; a Siamese model answers "was this photo taken here?" for it). The answer goes
to the wrapping ``answer`` panel, with the photos of similar-looking places (a knn model's reference
photos) as thumbnails in it.
"""

from __future__ import annotations

from typing import Callable, Optional

from qgis.PyQt.QtWidgets import QCheckBox, QPushButton, QVBoxLayout, QWidget

from xview_qgis.common import ResultPanel
from xview_qgis.thumbnails import photo_table


class WhatsHerePanel(QWidget):
    """``button`` goes in the tab's row of actions; the panel itself (checkbox, answer) under it."""

    def __init__(self, iface, model_panel, layer_fn: Callable, layers_fn: Callable, parent: Optional[QWidget] = None):
        super().__init__(parent)
        self.iface, self.model_panel = iface, model_panel
        self.layer_fn, self.layers_fn = layer_fn, layers_fn
        self.photo_fn: Callable[[], str] = lambda: ""
        self.time_fn: Callable[[], Optional[str]] = lambda: None  # the Map tab's time, for a time-aware model
        self.button = QPushButton("What's here?", self)
        self.button.setObjectName("XviewWhatsHere")
        self.button.setCheckable(True)
        self.button.setToolTip("Click the map to read the scenes, classes and counts there: from the last run where "
                               "it covers the point, else computed on the spot (with a Siamese model: was the "
                               "Geolocate tab's photo taken here? with a knn model: photos of similar-looking places)")
        self.always_compute = QCheckBox("always compute here", self)
        self.always_compute.setObjectName("XviewWhatsHereCompute")
        self.always_compute.setToolTip("Run the model on the one tile centred on the click, even where the last run "
                                       "has values")
        self.answer = ResultPanel("XviewWhatsHereText", self, max_height=180)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        for widget in (self.always_compute, self.answer):
            layout.addWidget(widget)
        self.tool = None
        self.button.toggled.connect(self.toggle)

    def toggle(self, on: bool) -> None:
        """Make the "What's here" tool the canvas' map tool (or give the previous tool back)."""
        from xview_qgis.whats_here import WhatsHereTool

        if self.iface is None:
            return
        canvas = self.iface.mapCanvas()
        if on:
            self.tool = WhatsHereTool(canvas, self.layers_fn, self.answer.setText, self.compute,
                                      self.always_compute.isChecked)
            canvas.setMapTool(self.tool)
        elif self.tool is not None:
            canvas.unsetMapTool(self.tool)
            self.tool = None

    def compute(self, point, crs, samples: dict):
        """Answer for the tile centred at ``point`` (canvas CRS) of the Map tab's raster layer."""
        from xview_qgis.whats_here import PointChoices, start_point_query

        panel = self.model_panel
        choices = PointChoices(self.layer_fn(), panel.model_path, panel.manifest, panel.device, self.photo_fn(),
                               self.time_fn())
        return start_point_query(choices, point, crs, samples, self.answer.setText,
                                 lambda photos: photo_table(self.answer, photos),
                                 self.iface.messageBar() if self.iface is not None else None)
