"""`make plugin-zip` builds an installable zip: right contents, deterministic, and QGIS loads it.

The load check runs in a fresh Python process so that the plugin's packages come from the unzipped
folder, not from this checkout (already imported by the other plugin tests).
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "tools" / "make_plugin_zip.py"

LOAD_IN_QGIS = textwrap.dedent(
    """
    import json, sys
    from qgis.core import QgsApplication
    from qgis.gui import QgsDockWidget, QgsMapCanvas
    from qgis.PyQt.QtCore import QCoreApplication, QEvent
    from qgis.PyQt.QtWidgets import QMainWindow, QToolBar

    class HeadlessIface:
        # the part of QgisInterface the plugin uses, acting on a real main window as QGIS does

        def __init__(self, window):
            self.window = window
            self.menu_entries = []

        def mainWindow(self):
            return self.window

        def addDockWidget(self, area, dock):
            self.window.addDockWidget(area, dock)

        def removeDockWidget(self, dock):
            self.window.removeDockWidget(dock)

        def addToolBar(self, name):
            return self.window.addToolBar(name)

        def addPluginToRasterMenu(self, menu, action):
            self.menu_entries.append((menu, action.text()))

        def removePluginRasterMenu(self, menu, action):
            self.menu_entries.remove((menu, action.text()))

    app = QgsApplication([], True)
    app.initQgis()
    import qgis.utils

    plugins_dir = sys.argv[1]
    window = QMainWindow()
    canvas = QgsMapCanvas(window)
    window.setCentralWidget(canvas)
    iface = HeadlessIface(window)
    qgis.utils.iface = iface
    sys.path.insert(0, plugins_dir)
    qgis.utils.plugin_paths[:] = [plugins_dir]
    qgis.utils.updateAvailablePlugins()
    report = {"available": qgis.utils.available_plugins}
    report["name"] = qgis.utils.pluginMetadata("xview", "name")
    report["loaded"] = qgis.utils.loadPlugin("xview")
    report["started"] = qgis.utils.startPlugin("xview")
    import xview_engine, xview_qgis
    report["modules"] = [xview_engine.__file__, xview_qgis.__file__]
    report["docks"] = [d.windowTitle() for d in window.findChildren(QgsDockWidget, "XviewDock")]
    report["toolbars"] = [t.windowTitle() for t in window.findChildren(QToolBar, "XviewToolbar")]
    report["menu"] = list(iface.menu_entries)
    report["heavy_imports"] = [m for m in ("torch", "rasterio", "safetensors") if m in sys.modules]
    report["unloaded"] = qgis.utils.unloadPlugin("xview")
    QCoreApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)
    report["left_after_unload"] = len(window.findChildren(QgsDockWidget, "XviewDock")) + len(
        window.findChildren(QToolBar, "XviewToolbar")
    ) + len(iface.menu_entries)
    print("REPORT " + json.dumps(report))
    qgis.utils.iface = None
    del iface, canvas, window
    app.exitQgis()
    """
)


def _zip_tool():
    spec = importlib.util.spec_from_file_location("xview_make_plugin_zip_under_test", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def plugin_zip(tmp_path_factory) -> Path:
    """The zip built exactly as `make plugin-zip` does, into a folder that does not exist yet."""
    out = tmp_path_factory.mktemp("zip") / "dist" / "xview.zip"
    result = subprocess.run(
        [sys.executable, str(SCRIPT), "-o", str(out)], capture_output=True, text=True, cwd=ROOT, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert f"wrote {out}" in result.stdout
    return out


def test_zip_holds_the_plugin_under_one_top_folder(plugin_zip):
    with zipfile.ZipFile(plugin_zip) as archive:
        names = archive.namelist()
        infos = archive.infolist()
    assert names == sorted(names)
    assert all(name.startswith("xview/") for name in names)
    for required in (
        "xview/__init__.py",
        "xview/metadata.txt",
        "xview/resources/icons/xview.svg",
        "xview/xview_engine/__init__.py",
        "xview/xview_engine/outputs.py",
        "xview/xview_qgis/plugin.py",
        "xview/xview_qgis/dock.py",
    ):
        assert required in names
    assert ("xview/LICENSE" in names) == (ROOT / "LICENSE").is_file()
    for name in names:
        parts = name.split("/")
        assert not {"tests", ".venv", "__pycache__", "dist", "build", "demo_out"} & set(parts), name
        assert not name.endswith((".pyc", ".pyo")), name
    assert {info.date_time for info in infos} == {(1980, 1, 1, 0, 0, 0)}


def test_zip_is_deterministic(plugin_zip, tmp_path):
    again = _zip_tool().build_zip(tmp_path / "again.zip")
    assert again.read_bytes() == plugin_zip.read_bytes()
    assert not [p for p in tmp_path.iterdir() if p.name != "again.zip"], "temporary file left behind"


def test_zip_tool_refuses_a_folder_that_is_not_the_plugin(tmp_path):
    tool = _zip_tool()
    (tmp_path / "__init__.py").write_text("")
    with pytest.raises(tool.PluginZipError, match=r"not the xview plugin folder: missing metadata\.txt"):
        tool.build_zip(tmp_path / "out.zip", root=tmp_path)
    assert not (tmp_path / "out.zip").exists()


def test_unzipped_plugin_loads_starts_and_unloads_in_qgis(plugin_zip, tmp_path):
    plugins_dir = tmp_path / "plugins"
    with zipfile.ZipFile(plugin_zip) as archive:
        archive.extractall(plugins_dir)
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    result = subprocess.run(
        [sys.executable, "-c", LOAD_IN_QGIS, str(plugins_dir)],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    line = next(line for line in result.stdout.splitlines() if line.startswith("REPORT "))
    report = json.loads(line.removeprefix("REPORT "))
    assert report["available"] == ["xview"] and report["name"] == "xview"
    assert report["loaded"] and report["started"], result.stderr
    for module_file in report["modules"]:
        assert Path(module_file).is_relative_to(plugins_dir / "xview"), module_file
    assert report["docks"] == ["xview"] and report["toolbars"] == ["xview"]
    assert report["menu"] == [["&xview", "xview"], ["&xview", "xview diagnostics…"]]
    assert report["heavy_imports"] == []
    assert report["unloaded"] and report["left_after_unload"] == 0
