"""The xview Processing provider: map, search, index, localize, export-onnx, verify, photo search and
the PCA false-colour map as algorithms.

Everything the dock does is also here, so it runs in batch mode, in the graphical modeler and in
qgis_process. The algorithms are the same thin adapters as the dock: parameters -> the engine's
frozen dataclasses -> one engine function with the feedback's progress and cancel.
"""

from __future__ import annotations

import os

from qgis.core import QgsProcessingProvider
from qgis.PyQt.QtGui import QIcon

PLUGIN_DIR = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
ICON_PATH = os.path.join(PLUGIN_DIR, "resources", "icons", "xview.svg")


class XviewProvider(QgsProcessingProvider):
    """Provider id ``xview``; algorithm ids ``xview:map``, ``xview:search``, ... ."""

    def id(self) -> str:
        return "xview"

    def name(self) -> str:
        return "xview"

    def longName(self) -> str:
        return "xview: what people would see on the ground, from overhead imagery"

    def icon(self) -> QIcon:
        return QIcon(ICON_PATH)

    def loadAlgorithms(self) -> None:
        from xview_qgis.processing.algorithms import ALGORITHMS
        from xview_qgis.processing.pca_algorithm import PcaAlgorithm
        from xview_qgis.processing.point_algorithms import POINT_ALGORITHMS

        for algorithm_class in (*ALGORITHMS, *POINT_ALGORITHMS, PcaAlgorithm):
            self.addAlgorithm(algorithm_class())
