"""The "Install xview's engine" panel: build choice, Install / Cancel, progress, the pip log.

Shown in the dock while the engine's dependencies are missing or too old. The install is the
engine's (``xview_engine.install``): a venv in the QGIS profile filled by pip, renamed into place
when it succeeded; it runs in an ``XviewTask`` (QGIS stays responsive, the task manager shows it and
can cancel it). pip's lines reach the log view through a queued Qt signal (the worker thread never
touches a widget). A failure is one line in the panel and the message bar; "Show log" opens the
whole pip log. When it succeeded the folder goes on ``sys.path`` at once and ``on_installed`` runs:
the plugin adds its tools without a restart.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

from qgis.core import Qgis, QgsSettings
from qgis.PyQt.QtCore import QObject, pyqtSignal
from qgis.PyQt.QtGui import QFontDatabase
from qgis.PyQt.QtWidgets import (
    QComboBox,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QPlainTextEdit,
    QProgressBar,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from xview_engine.install.cuda import BUILDS, TORCH_INDEX, choose_build, query_nvidia_smi
from xview_engine.install.plan import InstallPlan, make_plan
from xview_engine.install.requirements import ENGINE_REQUIREMENTS, Requirement
from xview_engine.install.run import run_install
from xview_qgis import tasks
from xview_qgis.dependencies import qgis_python_executable
from xview_qgis.engine_folder import add_engine_folder, profile_engine_folder

BUILD_LABELS = {"cpu": "CPU"} | {b: f"CUDA {b[2:-1]}.{b[-1]} ({b})" for b in BUILDS if b != "cpu"}


class _LogSignal(QObject):
    """Carries pip's lines from the worker thread to the log view (queued across threads)."""

    line = pyqtSignal(str)


class InstallerPanel(QGroupBox):
    """Installs the engine's pinned dependencies into the profile folder; plain data in, a task out."""

    def __init__(self, message_bar=None, on_installed: Callable[[], None] | None = None,
                 parent: QWidget | None = None, requirements: Sequence[Requirement] = ENGINE_REQUIREMENTS,
                 folder: Path | None = None, python: str | None = None) -> None:
        super().__init__("Install xview's engine", parent)
        self.setObjectName("XviewInstallerPanel")
        self.message_bar, self.on_installed = message_bar, on_installed
        self.requirements, self.python = tuple(requirements), python or qgis_python_executable()
        self.folder = folder or profile_engine_folder()
        self.task: tasks.XviewTask | None = None
        self._log = _LogSignal(self)
        self._build_widgets()
        self._log.line.connect(self.log_view.appendPlainText)

    def _build_widgets(self) -> None:
        layout = QVBoxLayout(self)
        intro = QLabel(f"torch, rasterio and the rest ({len(self.requirements)} pinned package(s)) go into a "
                       f"folder of this QGIS profile, not the system Python:\n{self.folder}", self)
        intro.setWordWrap(True)
        layout.addWidget(intro)
        choice = choose_build(query_nvidia_smi())
        self.build_combo = QComboBox(self)
        self.build_combo.setObjectName("XviewInstallBuild")
        for build in BUILDS:
            self.build_combo.addItem(BUILD_LABELS[build], build)
        self.build_combo.setCurrentIndex(BUILDS.index(choice.build))
        self.build_combo.setToolTip(choice.reason)
        self.build_reason = QLabel(choice.reason, self)
        self.build_reason.setWordWrap(True)
        row = QHBoxLayout()
        row.addWidget(QLabel("Build:", self))
        row.addWidget(self.build_combo, 1)
        layout.addLayout(row)
        layout.addWidget(self.build_reason)
        self.install_button = QPushButton("Install xview's engine", self)
        self.cancel_button = QPushButton("Cancel", self)
        self.cancel_button.setEnabled(False)
        self.log_button = QPushButton("Show log", self)
        self.log_button.setCheckable(True)
        buttons = QHBoxLayout()
        for button in (self.install_button, self.cancel_button, self.log_button):
            buttons.addWidget(button)
        layout.addLayout(buttons)
        self.progress = QProgressBar(self)
        self.progress.setVisible(False)
        layout.addWidget(self.progress)
        self.status_label = QLabel("", self)
        self.status_label.setObjectName("XviewInstallStatus")
        self.status_label.setWordWrap(True)
        layout.addWidget(self.status_label)
        self.log_view = QPlainTextEdit(self)
        self.log_view.setObjectName("XviewInstallLog")
        self.log_view.setReadOnly(True)
        self.log_view.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        self.log_view.setVisible(False)
        layout.addWidget(self.log_view)
        self.install_button.clicked.connect(self.start_install)
        self.cancel_button.clicked.connect(self.cancel_install)
        self.log_button.toggled.connect(self.log_view.setVisible)

    def plan(self) -> InstallPlan:
        """The install the button runs, for the chosen build."""
        build = self.build_combo.currentData()
        return make_plan(self.folder, self.python, build, TORCH_INDEX.format(build=build), self.requirements)

    def start_install(self) -> tasks.XviewTask:
        plan = self.plan()
        self.log_view.clear()
        self._set_running(True, f"Installing {len(plan.requirements)} packages ({plan.build}) ...")
        emit = self._log.line.emit

        def work(progress, cancel):
            return run_install(plan, log=emit, cancel=cancel)

        self.task = tasks.start_task(tasks.XviewTask("xview: install the engine", work, self._finished))
        return self.task

    def cancel_install(self) -> None:
        if self.task is not None:
            self.task.cancel()

    def _finished(self, task: tasks.XviewTask) -> None:
        self.task = None
        if task.error is not None:
            line = tasks.report_error(self.message_bar, task.error, task.details, title="xview install")
            self._set_running(False, line)
            self.status_label.setStyleSheet("color: #b3261e;")
            return
        if self.folder == profile_engine_folder():
            add_engine_folder()  # on sys.path now: the tools work without restarting QGIS
        self._set_running(False, f"Installed into {task.result}. The engine is ready.")
        tasks.report_success(self.message_bar, "xview's engine is installed", title="xview install")
        if self.on_installed is not None:
            self.on_installed()

    def _set_running(self, running: bool, status: str) -> None:
        self.install_button.setEnabled(not running)
        self.build_combo.setEnabled(not running)
        self.cancel_button.setEnabled(running)
        self.progress.setVisible(running)
        self.progress.setRange(0, 0 if running else 1)  # busy: pip gives no overall percentage
        self.status_label.setStyleSheet("")
        self.status_label.setText(status)


NOTICE_KEY = "xview/install_notice_shown_for"


def notify_missing_once(message_bar, missing: Sequence[str], open_installer: Callable[[], None]) -> bool:
    """One message bar notice with an "Install xview's engine" button, shown once per set of missing packages.

    Returns whether it was shown. The set is remembered in the QGIS settings, so a user who dismissed it
    is not told again at every start, but is told when something else goes missing (a QGIS upgrade).
    """
    settings, key = QgsSettings(), ",".join(missing)
    if message_bar is None or settings.value(NOTICE_KEY, "") == key:
        return False
    settings.setValue(NOTICE_KEY, key)
    widget = message_bar.createMessage("xview", f"the engine needs {', '.join(missing)}; one click installs them")
    button = QPushButton("Install xview's engine", widget)
    button.setObjectName("XviewNoticeInstallButton")
    button.clicked.connect(open_installer)
    widget.layout().addWidget(button)
    message_bar.pushWidget(widget, Qgis.MessageLevel.Warning, 0)
    return True
