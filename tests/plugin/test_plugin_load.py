"""The plugin really loads in headless QGIS: classFactory, initGui, the action toggling the dock, unload.

pytest-qgis' stub ``qgis_iface`` accepts docks and toolbars without putting them in its main window;
the ``iface`` fixture below routes them to the real ``QMainWindow`` (``qgis_parent``), as QGIS does,
so the tests see where things are docked and whether anything is left after ``unload``.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from functools import partial
from pathlib import Path

import pytest
from pytest_qgis.utils import process_events
from qgis.gui import QgsDockWidget
from qgis.PyQt import sip
from qgis.PyQt.QtCore import Qt
from qgis.PyQt.QtWidgets import QApplication, QTabWidget, QToolBar, QWidget

from xview_qgis import dock as dock_module
from xview_qgis.dependencies import ENGINE_DEPENDENCIES, check_dependencies
from xview_qgis.plugin import ACTION_OBJECT_NAME, MENU_NAME, TOOLBAR_OBJECT_NAME, XviewPlugin

ROOT = Path(__file__).resolve().parents[2]
MISSING_MODULE = "xview_no_such_module_for_tests"


def _load_root_package():
    """The repository root ``__init__.py`` (the plugin entry point) under a name of its own."""
    spec = importlib.util.spec_from_file_location("xview_plugin_root_under_test", ROOT / "__init__.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class MenuRecorder:
    """Stands in for QGIS' Raster menu: which (menu, action) entries are present."""

    def __init__(self) -> None:
        self.entries: list[tuple[str, object]] = []

    def add(self, menu: str, action) -> None:
        self.entries.append((menu, action))

    def remove(self, menu: str, action) -> None:
        self.entries.remove((menu, action))


@pytest.fixture
def iface(qgis_iface, qgis_parent, monkeypatch):
    """The pytest-qgis iface, docking and adding toolbars into the visible main window like QGIS."""
    menus = MenuRecorder()
    monkeypatch.setattr(qgis_iface, "addDockWidget", qgis_parent.addDockWidget, raising=False)
    monkeypatch.setattr(qgis_iface, "removeDockWidget", qgis_parent.removeDockWidget, raising=False)
    monkeypatch.setattr(qgis_iface, "addToolBar", qgis_parent.addToolBar, raising=False)
    monkeypatch.setattr(qgis_iface, "addPluginToRasterMenu", menus.add, raising=False)
    monkeypatch.setattr(qgis_iface, "removePluginRasterMenu", menus.remove, raising=False)
    qgis_iface.raster_menu = menus
    qgis_parent.show()
    yield qgis_iface
    qgis_parent.hide()
    del qgis_iface.raster_menu
    process_events()


@pytest.fixture
def plugin(iface):
    plugin = _load_root_package().classFactory(iface)
    plugin.initGui()
    process_events()
    yield plugin
    if plugin.dock is not None:
        plugin.unload()
    process_events()


def _leftovers(main_window) -> list[str]:
    """Names of every xview dock, toolbar or action still attached to the main window or alive."""
    widgets = [main_window, *main_window.findChildren(QWidget)]
    found = [f"dock {w.objectName()}" for w in main_window.findChildren(QgsDockWidget, "XviewDock")]
    found += [f"toolbar {w.windowTitle()}" for w in main_window.findChildren(QToolBar) if w.windowTitle() == "xview"]
    found += [f"toolbar {w.objectName()}" for w in main_window.findChildren(QToolBar, TOOLBAR_OBJECT_NAME)]
    found += [f"action {a.text()}" for w in widgets for a in w.actions() if a.objectName() == ACTION_OBJECT_NAME]
    found += [f"widget {w.objectName()}" for w in QApplication.allWidgets() if w.objectName() == "XviewDock"]
    return found


def test_class_factory_returns_the_plugin(iface):
    plugin = _load_root_package().classFactory(iface)
    assert isinstance(plugin, XviewPlugin)
    assert plugin.iface is iface
    assert str(ROOT) in sys.path


def test_init_gui_adds_toolbar_action_menu_entry_and_hidden_dock(plugin, iface, qgis_parent):
    toolbar = qgis_parent.findChild(QToolBar, TOOLBAR_OBJECT_NAME)
    assert toolbar is not None and toolbar.windowTitle() == "xview"
    assert toolbar.actions() == [plugin.action]
    assert plugin.action.text() == "xview" and plugin.action.isCheckable()
    assert not plugin.action.icon().isNull()
    assert iface.raster_menu.entries == [(MENU_NAME, plugin.action), (MENU_NAME, plugin.diagnostics_action)]
    dock = qgis_parent.findChild(QgsDockWidget, "XviewDock")
    assert dock is plugin.dock
    assert dock.windowTitle() == "xview"
    assert qgis_parent.dockWidgetArea(dock) == Qt.DockWidgetArea.RightDockWidgetArea
    assert not dock.isVisible() and not plugin.action.isChecked()
    tabs = dock.findChild(QTabWidget, "XviewTabs")
    assert [tabs.tabText(i) for i in range(tabs.count())] == ["Map", "Geolocate", "Search"]


def test_action_toggles_the_dock_and_follows_its_close_button(plugin):
    plugin.action.trigger()
    assert plugin.dock.isVisible() and plugin.action.isChecked()
    plugin.action.trigger()
    assert not plugin.dock.isVisible() and not plugin.action.isChecked()
    plugin.action.trigger()
    plugin.dock.close()  # the dock's own close button
    assert not plugin.dock.isVisible() and not plugin.action.isChecked()


@pytest.mark.parametrize("rounds", [1, 2])
def test_unload_leaves_nothing_behind(iface, qgis_parent, rounds):
    root_package = _load_root_package()
    for _ in range(rounds):
        plugin = root_package.classFactory(iface)
        plugin.initGui()
        plugin.action.trigger()
        assert len(_leftovers(qgis_parent)) >= 3
        dock, toolbar, action = plugin.dock, plugin.toolbar, plugin.action
        plugin.unload()
        process_events()
        assert _leftovers(qgis_parent) == []
        assert iface.raster_menu.entries == []
        assert plugin.action is None and plugin.toolbar is None and plugin.dock is None
        assert sip.isdeleted(dock) and sip.isdeleted(toolbar) and sip.isdeleted(action)


def test_dock_reports_engine_dependencies(plugin):
    report = plugin.dock.dependency_report
    assert set(report.present) | set(report.missing) == set(ENGINE_DEPENDENCIES)
    assert plugin.dock.status_label.text() == report.summary()
    assert plugin.dock.pip_line_edit.text() == report.pip_line
    assert plugin.dock.pip_line_edit.isHidden() == report.ok


def test_dock_shows_the_exact_pip_line_for_a_missing_dependency(plugin, monkeypatch):
    monkeypatch.setattr(dock_module, "check_dependencies", partial(check_dependencies, ("torch", MISSING_MODULE)))
    report = plugin.dock.refresh_dependencies()
    assert report.missing == (MISSING_MODULE,) and not report.ok
    venv, pip = report.pip_line.split(" && ")  # the installer's commands: a venv in the profile, never --user
    assert venv.startswith(f"{report.python} -m venv --without-pip --system-site-packages ")
    assert "-m pip install" in pip and "torch==2.14.1" in pip and "--user" not in report.pip_line
    assert plugin.dock.status_label.text().startswith(f"Missing engine dependencies: {MISSING_MODULE}.")
    assert plugin.dock.pip_line_edit.text() == report.pip_line
    assert not plugin.dock.pip_line_edit.isHidden() and plugin.dock.pip_line_edit.isReadOnly()
    assert report.message().endswith(report.pip_line)


def test_pip_line_is_empty_when_nothing_is_missing():
    report = check_dependencies(("os", "json"))
    assert report.ok and report.pip_line == "" and report.present == ("os", "json")
    assert report.message() == "Engine dependencies found: os, json."


def test_add_tab_shows_the_tab_widget(plugin):
    index = plugin.dock.add_tab(QWidget(), "Extra")
    assert index == 3 and plugin.dock.tabs.tabText(3) == "Extra"
    assert not plugin.dock.tabs.isHidden() and plugin.dock.placeholder.isHidden()


def test_screenshot_of_the_main_window_with_the_dock(plugin, qgis_parent, tmp_path):
    plugin.action.trigger()
    process_events()
    shot = tmp_path / "xview_main_window.png"
    assert qgis_parent.grab().save(str(shot))
    dock_image = plugin.dock.grab().toImage()
    assert dock_image.width() > 100 and dock_image.height() > 100
    step = 7
    colours = {
        dock_image.pixel(x, y) for x in range(0, dock_image.width(), step) for y in range(0, dock_image.height(), step)
    }
    assert len(colours) > 2, "the dock rendered blank"
    assert shot.stat().st_size > 1000


def test_plugin_load_does_not_import_torch(tmp_path):
    code = (
        "import importlib.util, sys\n"
        f"spec = importlib.util.spec_from_file_location('xview_root', {str(ROOT / '__init__.py')!r})\n"
        "module = importlib.util.module_from_spec(spec); spec.loader.exec_module(module)\n"
        "plugin = module.classFactory(None)\n"
        "print(sorted(m for m in ('torch', 'torchvision', 'rasterio', 'safetensors') if m in sys.modules))\n"
    )
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
