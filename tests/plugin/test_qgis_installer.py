"""The installer and diagnostics panels in headless QGIS, driven through their real buttons.

The install runs for real (QGIS' own Python makes a venv and pip fills it from the local package
source) with a one-package set, into a throwaway folder; the plugin started without its
dependencies shows the installer, a one-time notice, and no Processing provider, and adds its tools
once they are there.
"""

from __future__ import annotations

import os
import sys
from functools import partial
from pathlib import Path

import pytest
from pytest_qgis.utils import process_events
from qgis.core import QgsApplication, QgsSettings
from qgis.gui import QgsMessageBar
from qgis.PyQt.QtCore import Qt
from qgis.PyQt.QtWidgets import QApplication, QHBoxLayout, QPushButton, QWidget
from qgis_support import dock_into_window

from xview_engine.install.plan import site_dir
from xview_engine.install.requirements import ENGINE_REQUIREMENTS, Requirement
from xview_qgis import dock as dock_module
from xview_qgis.dependencies import check_dependencies
from xview_qgis.diagnostics_panel import DiagnosticsPanel
from xview_qgis.installer_panel import NOTICE_KEY, InstallerPanel
from xview_qgis.plugin import XviewPlugin

QGIS_PYTHON = "/usr/bin/python3"
SAFETENSORS = next(r for r in ENGINE_REQUIREMENTS if r.dist == "safetensors")
TIMEOUT_MS = 180_000

pytestmark = pytest.mark.skipif(not Path(QGIS_PYTHON).is_file(), reason="needs QGIS' Python at /usr/bin/python3")


@pytest.fixture
def bar(qgis_parent):
    bar = QgsMessageBar(qgis_parent)
    yield bar
    bar.clearWidgets()
    bar.deleteLater()
    process_events()


def _panel(tmp_path: Path, bar, *requirements: Requirement, on_installed=None) -> InstallerPanel:
    folder = tmp_path / "profile" / "python" / "xview-engine" / f"py{sys.version_info[0]}.{sys.version_info[1]}"
    return InstallerPanel(bar, on_installed, requirements=requirements, folder=folder, python=QGIS_PYTHON)


def _click_and_wait(qtbot, panel: InstallerPanel, cancel: bool = False) -> None:
    qtbot.mouseClick(panel.install_button, Qt.MouseButton.LeftButton)
    assert panel.task is not None and not panel.install_button.isEnabled() and panel.cancel_button.isEnabled()
    if cancel:  # once pip runs (the venv is made): a real stop of a real child process
        qtbot.waitUntil(lambda: "-m pip install" in panel.log_view.toPlainText(), timeout=TIMEOUT_MS)
        qtbot.mouseClick(panel.cancel_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: panel.task is None, timeout=TIMEOUT_MS)
    assert panel.install_button.isEnabled() and not panel.cancel_button.isEnabled()


def test_install_button_installs_and_streams_the_log(qtbot, tmp_path, bar):
    done: list[bool] = []
    panel = _panel(tmp_path, bar, SAFETENSORS, on_installed=lambda: done.append(True))
    assert panel.build_combo.currentData() == "cpu" or panel.build_combo.currentData().startswith("cu")
    _click_and_wait(qtbot, panel)
    assert done == [True]
    assert panel.status_label.text() == f"Installed into {panel.folder}. The engine is ready."
    assert (site_dir(panel.folder) / "safetensors").is_dir()
    qtbot.waitUntil(lambda: "Successfully installed safetensors-0.8.0" in panel.log_view.toPlainText())
    assert panel.log_view.isHidden()
    qtbot.mouseClick(panel.log_button, Qt.MouseButton.LeftButton)
    assert not panel.log_view.isHidden()
    _screenshot(panel, Path(os.environ.get("XVIEW_SCREENSHOT_DIR") or tmp_path))


def _screenshot(panel: InstallerPanel, folder: Path) -> None:
    """qgis_installer.png (docs/ with XVIEW_SCREENSHOT_DIR=docs): the installer, log shown, beside diagnostics."""
    window = QWidget()
    layout = QHBoxLayout(window)
    layout.addWidget(panel)
    diagnostics = DiagnosticsPanel(window)
    layout.addWidget(diagnostics, 1)
    window.resize(1280, 620)
    window.show()
    process_events()
    image = window.grab()
    folder.mkdir(parents=True, exist_ok=True)
    assert image.width() >= 1200 and image.save(str(folder / "qgis_installer.png"))
    assert (folder / "qgis_installer.png").stat().st_size < 400_000
    window.close()


def test_failure_is_one_line_with_the_log_one_click_away(qtbot, tmp_path, bar):
    panel = _panel(tmp_path, bar, Requirement("safetensors", "safetensors", "0.0.0.999", "0.0"))
    _click_and_wait(qtbot, panel)
    line = panel.status_label.text()
    assert line.startswith("pip failed (exit 1): ") and "\n" not in line and line.endswith("install.log")
    assert not Path(panel.folder).exists()
    qtbot.mouseClick(panel.log_button, Qt.MouseButton.LeftButton)
    assert "ERROR:" in panel.log_view.toPlainText() and not panel.log_view.isHidden()


def test_cancel_leaves_nothing(qtbot, tmp_path, bar):
    panel = _panel(tmp_path, bar, SAFETENSORS)
    _click_and_wait(qtbot, panel, cancel=True)
    assert "cancelled" in panel.status_label.text()
    assert not Path(panel.folder).exists()
    assert [p.name for p in Path(panel.folder).parent.iterdir() if p.name.startswith(".")] == []


def test_diagnostics_report_and_copy(qtbot):
    panel = DiagnosticsPanel()
    text = panel.text.toPlainText()
    for line in ("[host]", "  QGIS: 3.", "[dependencies]", "  torch: ", "[torch]", "  threads: ", "[nvidia-smi]"):
        assert line in text
    assert f"  profile: {QgsApplication.qgisSettingsDirPath()}" in text
    qtbot.mouseClick(panel.copy_button, Qt.MouseButton.LeftButton)
    assert QApplication.clipboard().text() == text


@pytest.fixture
def iface(qgis_iface, qgis_parent, bar, monkeypatch):
    dock_into_window(qgis_iface, qgis_parent, bar, monkeypatch)
    QgsSettings().remove(NOTICE_KEY)
    yield qgis_iface
    QgsSettings().remove(NOTICE_KEY)


def test_plugin_without_dependencies_offers_the_install(iface, bar, monkeypatch):
    missing = partial(check_dependencies, ("torch", "xview_no_such_module_for_tests"))
    monkeypatch.setattr(dock_module, "check_dependencies", missing)
    plugin = XviewPlugin(iface)
    plugin.initGui()
    try:
        assert plugin.installer is not None and plugin.tabs == {} and plugin.provider is None
        buttons = [w for w in bar.findChildren(QPushButton) if w.objectName() == "XviewNoticeInstallButton"]
        assert len(buttons) == 1
        buttons[0].click()
        assert plugin.action.isChecked() and not plugin.dock.isHidden() and not plugin.installer.isHidden()
        second = XviewPlugin(iface)  # the next QGIS start: no second notice for the same missing set
        second.initGui()
        assert len([w for w in bar.findChildren(QPushButton) if w.objectName() == "XviewNoticeInstallButton"]) == 1
        second.unload()
        dialog = plugin.show_diagnostics()  # Raster menu > xview diagnostics…
        assert "xview_no_such_module_for_tests" not in dialog.panel.text.toPlainText()  # the engine's own set
        assert "[dependencies]" in dialog.panel.text.toPlainText()
        dialog.close()
        monkeypatch.setattr(dock_module, "check_dependencies", check_dependencies)  # "installed"
        plugin._engine_installed()
        assert list(plugin.tabs) == ["Map", "Geolocate", "Search"] and plugin.provider is not None
    finally:
        plugin.unload()
        process_events()
