"""The plugin object QGIS holds: one "xview" action (toolbar + Raster menu) toggling the xview dock,
and the xview Processing provider.

``qgis_process`` (batch users, servers) loads the plugin and calls ``initProcessing`` only, never
``initGui``: the provider therefore registers from its own dependency check and touches no widget.
"""

from __future__ import annotations

import os

from qgis.PyQt.QtCore import Qt
from qgis.PyQt.QtGui import QIcon

try:  # Qt6 (QGIS 4) moved QAction to QtGui
    from qgis.PyQt.QtGui import QAction
except ImportError:  # Qt5 (QGIS 3)
    from qgis.PyQt.QtWidgets import QAction

from xview_qgis.dependencies import check_dependencies
from xview_qgis.dock import XviewDock

PLUGIN_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ICON_PATH = os.path.join(PLUGIN_DIR, "resources", "icons", "xview.svg")
MENU_NAME = "&xview"
ACTION_OBJECT_NAME = "XviewAction"
TOOLBAR_NAME = "xview"
TOOLBAR_OBJECT_NAME = "XviewToolbar"


class XviewPlugin:
    """Created by ``classFactory``; QGIS calls ``initGui`` after loading and ``unload`` on removal."""

    def __init__(self, iface) -> None:
        self.iface = iface
        self.action: QAction | None = None
        self.toolbar = None
        self.dock: XviewDock | None = None
        self.model_panel = None
        self.tabs: dict[str, object] = {}
        self.provider = None
        self.installer = self.diagnostics_action = None

    def initGui(self) -> None:  # QGIS plugin API name
        main_window = self.iface.mainWindow()
        self.dock = XviewDock(main_window)
        self.iface.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, self.dock)
        self.dock.hide()
        self.action = QAction(QIcon(ICON_PATH), "xview", main_window)
        self.action.setObjectName(ACTION_OBJECT_NAME)
        self.action.setToolTip("Show or hide the xview panel")
        self.action.setCheckable(True)
        self.action.toggled.connect(self._show_dock)
        self.dock.openedStateChanged.connect(self.action.setChecked)
        self.toolbar = self.iface.addToolBar(TOOLBAR_NAME)
        self.toolbar.setObjectName(TOOLBAR_OBJECT_NAME)
        self.toolbar.addAction(self.action)
        self.iface.addPluginToRasterMenu(MENU_NAME, self.action)
        self.diagnostics_action = QAction("xview diagnostics…", main_window)
        self.diagnostics_action.triggered.connect(self.show_diagnostics)
        self.iface.addPluginToRasterMenu(MENU_NAME, self.diagnostics_action)
        if self.dock.dependency_report.ok:
            self._add_tools()
        else:
            self._offer_install()
        self.initProcessing()

    def _offer_install(self) -> None:
        """The installer panel in the dock, and a one-time notice in the message bar pointing at it."""
        from xview_qgis.installer_panel import InstallerPanel, notify_missing_once

        self.installer = InstallerPanel(self.iface.messageBar(), self._engine_installed, self.dock)
        self.dock.set_header(self.installer)
        notify_missing_once(self.iface.messageBar(), self.dock.dependency_report.missing,
                            lambda: self.action.setChecked(True))

    def _engine_installed(self) -> None:
        if self.dock is not None and self.dock.refresh_dependencies().ok and not self.tabs:
            self._add_tools()
            self.initProcessing()

    def show_diagnostics(self):
        from xview_qgis.diagnostics_panel import DiagnosticsDialog

        dialog = DiagnosticsDialog(self.iface.mainWindow())
        dialog.show()
        return dialog

    def _add_tools(self) -> None:
        """Model picker and the Map / Geolocate / Search tabs (they import the engine lazily, never torch)."""
        from xview_qgis.geolocate_tab import GeolocateTab
        from xview_qgis.map_tab import MapTab
        from xview_qgis.model_panel import ModelPanel
        from xview_qgis.search_tab import SearchTab

        self.model_panel = ModelPanel(self.dock)
        self.dock.set_header(self.model_panel)
        for title, tab_class in (("Map", MapTab), ("Geolocate", GeolocateTab), ("Search", SearchTab)):
            self.tabs[title] = tab_class(self.iface, self.model_panel, self.dock)
            self.dock.add_tab(self.tabs[title], title)
        self.tabs["Map"].whats_here.photo_fn = self.tabs["Geolocate"].photo.filePath  # "was this photo taken here?"
        self.tabs["Search"].time_fn = self.tabs["Map"].picked_time  # a time-aware model: the Map tab's time

    def initProcessing(self) -> None:  # QGIS plugin API name
        """Register the xview Processing provider (when the engine's dependencies are there).

        Called by ``initGui`` on the desktop and by ``qgis_process`` alone, so no dock may be assumed;
        without the dependencies the provider is left out with one line in the message log.
        """
        if self.provider is not None:
            return
        from qgis.core import Qgis, QgsApplication, QgsMessageLog

        report = self.dock.dependency_report if self.dock is not None else check_dependencies()
        if not report.ok:
            QgsMessageLog.logMessage(f"xview Processing provider not loaded: {report.message()}", "xview",
                                     Qgis.MessageLevel.Warning)
            return

        from xview_qgis.processing.provider import XviewProvider

        self.provider = XviewProvider()
        QgsApplication.processingRegistry().addProvider(self.provider)

    def unload(self) -> None:
        """Remove the menu entry, toolbar, dock and action and delete them: nothing is left behind.

        ``deleteLater`` leaves Qt the owner (Python never deletes a C++ object twice); the deletions,
        which also detach the objects from the main window, complete at the next turn of the event loop.
        """
        if self.provider is not None:
            from qgis.core import QgsApplication

            QgsApplication.processingRegistry().removeProvider(self.provider)
            self.provider = None
        for action in (self.action, self.diagnostics_action):
            if action is not None:
                self.iface.removePluginRasterMenu(MENU_NAME, action)
        if self.toolbar is not None:
            self.iface.mainWindow().removeToolBar(self.toolbar)
            self.toolbar.deleteLater()
        if self.dock is not None:
            self.iface.removeDockWidget(self.dock)
            self.dock.deleteLater()
        for action in (self.action, self.diagnostics_action):
            if action is not None:
                action.deleteLater()
        self.action = self.toolbar = self.dock = self.model_panel = self.installer = self.diagnostics_action = None
        self.tabs = {}

    def _show_dock(self, visible: bool) -> None:
        if self.dock is None:
            return
        if visible:
            self.dock.show()
            self.dock.raise_()
            if self.model_panel is not None:  # first opening: the shipped default model, if nothing is chosen
                self.model_panel.preselect_default()
        else:
            self.dock.hide()

