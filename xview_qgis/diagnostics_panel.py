"""The diagnostics panel: the engine's environment report (``xview doctor``) with a "Copy report" button.

QGIS' version, prefix and profile are added here (the engine never imports qgis). The report asks
torch what it sees (CUDA available or why not, devices, threads), so building it imports torch the
first time: a second or two, once, when the user opens the panel.
"""

from __future__ import annotations

from qgis.core import Qgis, QgsApplication
from qgis.PyQt.QtGui import QFontDatabase
from qgis.PyQt.QtWidgets import QApplication, QDialog, QHBoxLayout, QPlainTextEdit, QPushButton, QVBoxLayout, QWidget

from xview_engine.install.report import environment_report, report_text
from xview_qgis.engine_folder import profile_engine_folder


def qgis_host() -> dict[str, str]:
    """The QGIS lines of the report."""
    return {"QGIS": f"{Qgis.QGIS_VERSION} ({Qgis.QGIS_RELEASE_NAME})", "QGIS prefix": QgsApplication.prefixPath(),
            "profile": QgsApplication.qgisSettingsDirPath()}


class DiagnosticsPanel(QWidget):
    """The report, read-only and selectable, with Refresh and Copy report."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("XviewDiagnosticsPanel")
        layout = QVBoxLayout(self)
        self.text = QPlainTextEdit(self)
        self.text.setObjectName("XviewDiagnosticsText")
        self.text.setReadOnly(True)
        self.text.setLineWrapMode(QPlainTextEdit.LineWrapMode.NoWrap)  # one key: value a line, as copied
        self.text.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        layout.addWidget(self.text, 1)
        buttons = QHBoxLayout()
        self.refresh_button = QPushButton("Refresh", self)
        self.copy_button = QPushButton("Copy report", self)
        buttons.addStretch(1)
        buttons.addWidget(self.refresh_button)
        buttons.addWidget(self.copy_button)
        layout.addLayout(buttons)
        self.refresh_button.clicked.connect(self.refresh)
        self.copy_button.clicked.connect(self.copy_report)
        self.report: dict = {}
        self.refresh()

    def refresh(self) -> str:
        self.report = environment_report(host=qgis_host(), engine_folder=profile_engine_folder())
        self.text.setPlainText(report_text(self.report))
        return self.text.toPlainText()

    def copy_report(self) -> None:
        QApplication.clipboard().setText(self.text.toPlainText())


class DiagnosticsDialog(QDialog):
    """The panel in a window of its own (from the xview menu or the installer panel)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("XviewDiagnosticsDialog")
        self.setWindowTitle("xview diagnostics")
        self.resize(720, 560)
        layout = QVBoxLayout(self)
        self.panel = DiagnosticsPanel(self)
        layout.addWidget(self.panel)
