# ruff: noqa: F811  (fixtures imported from the dock tests and cluster_fixtures are parameters of the tests)
"""The Map tab's cluster address in headless QGIS: a run sent to a real Dask LocalCluster (2 workers) gives
the layers, products and false colours of a run in QGIS' own process; bad addresses end in the message bar."""

from __future__ import annotations

import json

import numpy as np
import pytest
from cluster_fixtures import cluster_address  # noqa: F401
from mapping_fixtures import read_band_stack
from pytest_qgis.utils import process_events
from qgis.PyQt.QtCore import Qt
from test_qgis_dock import _add_raster, _run_and_wait, iface, plugin, world  # noqa: F401

pytest.importorskip("distributed")


def _map_tab(plugin, world, tmp_path):
    layer = _add_raster(world["raster"], "overhead")
    plugin.model_panel.set_model(str(world["model"]))
    tab = plugin.tabs["Map"]
    tab.layer_combo.setLayer(layer)
    tab.out_dir.setFilePath(str(tmp_path))
    tab.class_list.item(0).setCheckState(Qt.CheckState.Checked)
    return tab


def test_map_on_a_cluster_from_the_dock(plugin, world, qtbot, tmp_path, cluster_address, monkeypatch):
    import xview_engine.mapping.cluster.run as cluster_run

    tab = _map_tab(plugin, world, tmp_path / "here")
    assert tab.advanced.isCollapsed() or not tab.advanced.address.text()
    assert tab.pca.isVisibleTo(tab)
    tab.pca.check.setChecked(True)  # the false colours go to the cluster too
    here = _run_and_wait(qtbot, tab)
    assert here.error is None, here.error
    tab.out_dir.setFilePath(str(tmp_path / "cluster"))
    tab.advanced.address.setText(cluster_address)
    blocks_run = []
    real_blocks = cluster_run.cluster_blocks

    def recording_blocks(params, *args, **kwargs):
        blocks_run.append(type(params).__name__)
        return real_blocks(params, *args, **kwargs)

    monkeypatch.setattr(cluster_run, "cluster_blocks", recording_blocks)
    progress: list[float] = []
    qtbot.mouseClick(tab.controls.run_button, Qt.MouseButton.LeftButton)
    task = tab.controls.task
    task.progressChanged.connect(progress.append)
    qtbot.waitUntil(lambda: tab.controls.task is None, timeout=120_000)
    assert task.error is None, task.error
    assert progress and max(progress) == pytest.approx(100.0)
    folder = task.out_dir
    meta = json.loads((folder / "products.json").read_text())
    assert meta["cluster"]["address"] == cluster_address and meta["cluster"]["workers"] == 2
    local = json.loads((here.out_dir / "products.json").read_text())
    assert meta["tiles"] == local["tiles"] and meta["products"] == local["products"]
    for entry in meta["products"]:  # the same pixels as the run in QGIS' own process
        np.testing.assert_array_equal(read_band_stack(folder / entry["file"])[0],
                                      read_band_stack(here.out_dir / entry["file"])[0])
    assert "PcaParams" in blocks_run  # the false colours' tiles ran on the cluster, and came out the same
    np.testing.assert_array_equal(read_band_stack(folder / "pca.tif")[0], read_band_stack(here.out_dir / "pca.tif")[0])
    assert tab.last_layers and "#2" in tab.last_layers[0].name()
    process_events()


@pytest.mark.parametrize(("address", "match"), [("local:2", "start the cluster outside"),
                                                ("scheduler:8786", "not a cluster address")])
def test_bad_cluster_address_ends_in_the_message_bar(plugin, world, tmp_path, monkeypatch, address, match):
    import xview_qgis.map_tab as map_tab_module

    tab = _map_tab(plugin, world, tmp_path)
    tab.advanced.address.setText(address)
    shown: list[str] = []
    original = map_tab_module.report_error
    monkeypatch.setattr(map_tab_module, "report_error", lambda bar, exc, *a: shown.append(original(bar, exc, *a)))
    assert tab.run() is None
    assert shown and match in shown[0]
    assert list(tmp_path.iterdir()) == []
