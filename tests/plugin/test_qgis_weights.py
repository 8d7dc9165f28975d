""""Get weights" under the teacher spec, in headless QGIS: a published teacher fetched from a loopback server
in a real QgsTask (the tab's progress bar and Cancel follow it), named in the spec, listed by diagnostics."""

from __future__ import annotations

import os
from types import SimpleNamespace

import pytest
from pytest_qgis.utils import process_events
from qgis.gui import QgsMessageBar
from qgis.PyQt.QtCore import Qt
from weights_fixtures import loopback, online, registered  # noqa: F401

from xview_engine.weights import cached_path
from xview_engine.weights.store import partial_path
from xview_qgis.diagnostics_panel import DiagnosticsPanel
from xview_qgis.geolocate_tab import GeolocateTab, with_teacher
from xview_qgis.model_panel import ModelPanel

TIMEOUT_MS = 30_000
DATA = os.urandom(1_500_000)


@pytest.fixture
def tab(qgis_parent, tmp_path, monkeypatch):
    monkeypatch.setenv("XVIEW_HOME", str(tmp_path / "home"))
    bar = QgsMessageBar(qgis_parent)
    tab = GeolocateTab(SimpleNamespace(messageBar=lambda: bar), ModelPanel(qgis_parent), qgis_parent)
    yield tab
    bar.clearWidgets()
    tab.deleteLater()
    bar.deleteLater()
    process_events()


def _menu_action(tab: GeolocateTab, name: str):
    tab.get_weights.menu().aboutToShow.emit()  # what opening the button's menu does
    return next(a for a in tab.get_weights.menu().actions() if a.data() == name)


def _bar_text(tab: GeolocateTab) -> str:
    item = tab.iface.messageBar().currentItem()
    return item.text() if item is not None else ""


def test_get_weights_downloads_names_and_lists_the_file(tab, qtbot, loopback, online, monkeypatch):  # noqa: F811
    entry = registered(monkeypatch, "places365:resnet50", DATA, loopback)
    action = _menu_action(tab, "places365:resnet50")
    assert action.text() == "places365:resnet50  (1 MiB)"
    tab.teachers.setText("coco:fasterrcnn, places365:resnet18=/old/r18.pth.tar")
    action.trigger()
    assert tab.controls.task is not None and tab.controls.cancel_button.isEnabled()
    assert not tab.controls.run_button.isEnabled()
    qtbot.waitUntil(lambda: tab.controls.task is None, timeout=TIMEOUT_MS)
    assert cached_path(entry).read_bytes() == DATA and not partial_path(entry).exists()
    assert tab.teachers.text() == "coco:fasterrcnn,places365:resnet50"
    assert tab.controls.progress.value() == 100 and tab.controls.run_button.isEnabled()
    assert _bar_text(tab) == f"places365:resnet50 is ready: {cached_path(entry)}"
    assert _menu_action(tab, "places365:resnet50").text() == "places365:resnet50  (cached)"
    panel = DiagnosticsPanel()
    text = panel.text.toPlainText()
    assert "[weights]" in text and f"  places365:resnet50: cached, 1.4 MiB: {cached_path(entry)}\n" in text


def test_cancel_keeps_the_part_and_the_spec(tab, qtbot, loopback, online, monkeypatch):  # noqa: F811
    entry = registered(monkeypatch, "imagenet:resnet50", DATA, loopback)
    loopback.trickle_s = 0.05
    tab.teachers.setText("places365:resnet18")
    _menu_action(tab, "imagenet:resnet50").trigger()
    qtbot.waitUntil(lambda: tab.controls.progress.value() > 0, timeout=TIMEOUT_MS)
    qtbot.mouseClick(tab.controls.cancel_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: tab.controls.task is None, timeout=TIMEOUT_MS)
    assert "cancelled" in _bar_text(tab) and "resumes" in _bar_text(tab)
    assert 0 < partial_path(entry).stat().st_size < len(DATA) and not cached_path(entry).exists()
    assert tab.teachers.text() == "places365:resnet18"


def test_a_failed_download_is_one_line_in_the_bar(tab, qtbot, loopback, online, monkeypatch):  # noqa: F811
    registered(monkeypatch, "coco:fasterrcnn", DATA, loopback, digest="0" * 64)
    _menu_action(tab, "coco:fasterrcnn").trigger()
    qtbot.waitUntil(lambda: tab.controls.task is None, timeout=TIMEOUT_MS)
    assert "is not the published coco:fasterrcnn" in _bar_text(tab) and "\n" not in _bar_text(tab)
    assert tab.teachers.text() == ""


def test_with_teacher_replaces_the_same_family_only():
    assert with_teacher("", "imagenet:vgg16") == "imagenet:vgg16"
    assert with_teacher("imagenet=/a.pth, coco:fasterrcnn", "imagenet:resnet50") == "coco:fasterrcnn,imagenet:resnet50"
