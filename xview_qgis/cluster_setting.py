"""The Map tab's advanced settings: an optional Dask cluster address the run's tiles go to.

Empty (the default) maps in QGIS' own process, as always. A scheduler address (``tcp://HOST:8786``:
a ``dask scheduler`` with ``dask worker`` processes that can read the raster and model files by the
same paths) sends the run to that cluster (``mapping.cluster`` in the engine); the task's progress
bar follows the cluster's blocks. ``local:N`` is refused here: a local cluster starts Python worker
processes from the running executable, which inside QGIS is QGIS itself; start one outside QGIS
(``dask scheduler`` and ``dask worker``) and give its address. The address is remembered between
sessions. No maths here: the engine's ``ClusterSpec`` and its check.
"""

from __future__ import annotations

from typing import Optional

from qgis.core import QgsSettings
from qgis.gui import QgsCollapsibleGroupBox
from qgis.PyQt.QtWidgets import QFormLayout, QLineEdit, QWidget

SETTINGS_KEY = "xview/cluster_address"


class ClusterSetting(QgsCollapsibleGroupBox):
    """'Advanced' (collapsed): the cluster address; ``spec()`` gives the engine's ``ClusterSpec`` or None."""

    def __init__(self, parent: Optional[QWidget] = None):
        super().__init__("Advanced", parent)
        self.setObjectName("XviewMapAdvanced")
        self.address = QLineEdit(self)
        self.address.setObjectName("XviewMapCluster")
        self.address.setPlaceholderText("tcp://scheduler:8786 (empty: this computer)")
        self.address.setToolTip("A Dask scheduler whose workers read the same raster and model paths; the tiles "
                                "run there in blocks and the products are written here as usual")
        self.address.setText(QgsSettings().value(SETTINGS_KEY, "", type=str))
        self.address.editingFinished.connect(lambda: QgsSettings().setValue(SETTINGS_KEY, self.address.text().strip()))
        layout = QFormLayout(self)
        layout.addRow("Cluster address", self.address)
        self.setCollapsed(not self.address.text())

    def spec(self):
        """The ``ClusterSpec`` for the address typed, None when empty; an ``XviewError`` for a bad one."""
        from xview_engine.mapping.cluster.spec import scheduler_spec

        return scheduler_spec(self.address.text(), "inside QGIS")
