"""The xview dock: one panel that will hold the Map / Geolocate / Search tabs.

For now the body is a title, an (empty, hidden) tab widget that later issues fill through
``XviewDock.add_tab``, a placeholder line and the engine-dependency status, with the exact pip line
(in a read-only field, easy to copy) when torch, rasterio or safetensors is missing.
"""

from __future__ import annotations

from qgis.gui import QgsDockWidget
from qgis.PyQt.QtCore import Qt
from qgis.PyQt.QtGui import QFont, QFontDatabase
from qgis.PyQt.QtWidgets import QFrame, QLabel, QLineEdit, QScrollArea, QTabWidget, QVBoxLayout, QWidget

from xview_engine import __version__ as ENGINE_VERSION
from xview_qgis.dependencies import DependencyReport, check_dependencies

DOCK_OBJECT_NAME = "XviewDock"
DOCK_TITLE = "xview"


class XviewDock(QgsDockWidget):
    """The xview panel, docked on the right of the QGIS main window."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(DOCK_TITLE, parent)
        self.setObjectName(DOCK_OBJECT_NAME)
        self.setAllowedAreas(Qt.DockWidgetArea.LeftDockWidgetArea | Qt.DockWidgetArea.RightDockWidgetArea)
        body = QWidget(self)
        body.setObjectName("XviewDockBody")
        layout = QVBoxLayout(body)
        layout.addWidget(_title_label(body))
        layout.addWidget(
            _wrapped_label(
                f"What people would see on the ground, from overhead imagery. Engine {ENGINE_VERSION}.",
                "XviewSubtitle",
                body,
            )
        )
        self.tabs = QTabWidget(body)
        self.tabs.setObjectName("XviewTabs")
        self.tabs.setVisible(False)
        self.body_layout = layout
        layout.addWidget(self.tabs, 1)
        self.placeholder = _wrapped_label(
            "Map, Geolocate and Search tools will appear here.", "XviewPlaceholder", body
        )
        layout.addWidget(self.placeholder, 1, Qt.AlignmentFlag.AlignTop)  # hidden once a tab exists
        self.status_label = _wrapped_label("", "XviewDependencyStatus", body)
        self.status_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        layout.addWidget(self.status_label)
        self.pip_line_edit = QLineEdit(body)
        self.pip_line_edit.setObjectName("XviewPipLine")
        self.pip_line_edit.setReadOnly(True)
        self.pip_line_edit.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        layout.addWidget(self.pip_line_edit)
        self.setWidget(body)
        self.dependency_report = self.refresh_dependencies()

    def add_tab(self, widget: QWidget, title: str) -> int:
        """Add a tool tab (Map, Geolocate, Search, ...); the tab widget shows once it has one.

        Each tab scrolls, so a short dock never squeezes its rows on top of each other; the tab's
        ``footer`` (its action buttons, progress bar and answers), when it has one, is pinned under
        the scrolling part, so it is always in sight whatever the dock's height.
        """
        page = QWidget(self.tabs)
        page_layout = QVBoxLayout(page)
        page_layout.setContentsMargins(0, 0, 0, 0)
        scroller = QScrollArea(page)
        scroller.setWidgetResizable(True)
        scroller.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        scroller.setFrameShape(QFrame.Shape.NoFrame)
        scroller.setWidget(widget)
        page_layout.addWidget(scroller, 1)
        pinned = getattr(widget, "footer", None)
        if isinstance(pinned, QWidget):
            pinned.setParent(page)
            page_layout.addWidget(pinned)
        index = self.tabs.addTab(page, title)
        self.tabs.setVisible(True)
        self.placeholder.setVisible(False)
        return index

    def set_header(self, widget: QWidget) -> None:
        """Put a panel shared by every tab (the model picker) between the subtitle and the tabs."""
        self.body_layout.insertWidget(self.body_layout.indexOf(self.tabs), widget)

    def refresh_dependencies(self) -> DependencyReport:
        """Check the engine dependencies again (e.g. after a pip install) and update the status line."""
        report = check_dependencies()
        self.dependency_report = report
        self.status_label.setText(report.summary())
        self.status_label.setStyleSheet("" if report.ok else "color: #b3261e;")
        self.pip_line_edit.setText(report.pip_line)
        self.pip_line_edit.setToolTip(f"Copy this command and run it in a terminal:\n{report.pip_line}")
        self.pip_line_edit.setCursorPosition(0)
        self.pip_line_edit.setVisible(not report.ok)
        return report


def _title_label(parent: QWidget) -> QLabel:
    label = QLabel(DOCK_TITLE, parent)
    label.setObjectName("XviewTitle")
    font = QFont(label.font())
    font.setBold(True)
    font.setPointSizeF(font.pointSizeF() * 1.5)
    label.setFont(font)
    return label


def _wrapped_label(text: str, object_name: str, parent: QWidget) -> QLabel:
    label = QLabel(text, parent)
    label.setObjectName(object_name)
    label.setWordWrap(True)
    label.setAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop)
    return label
