"""A model with Beta, Bernoulli and Gaussian heads in the dock (headless QGIS): the Map tab lists each head
with the products that fit it, the threshold goes to the engine, and the layers get 0..1 or value ramps."""

from __future__ import annotations

import json

import pytest
from qgis.core import QgsProject, QgsSingleBandPseudoColorRenderer
from qgis_support import attribute_model
from test_qgis_dock import _add_raster, _run_and_wait, iface, plugin, world  # noqa: F401 (fixtures)


@pytest.fixture
def model(tmp_path):
    return attribute_model(tmp_path)


def _products(map_tab) -> dict[str, bool]:
    return {name: box.isChecked() for name, box in map_tab.product_checks.items()}


def test_map_tab_lists_every_head_with_its_products(plugin, model):  # noqa: F811
    plugin.model_panel.set_model(str(model))
    map_tab = plugin.tabs["Map"]
    assert [map_tab.head_combo.itemText(i) for i in range(map_tab.head_combo.count())] == ["weather", "seen", "level"]
    assert "weather (2 beta)" in plugin.model_panel.info_label.text()
    assert _products(map_tab) == {"mean": True, "spread": True, "exceed": False}  # exceed waits for its t
    assert not map_tab.threshold.isEnabled() and map_tab.threshold.maximum() == 1.0
    map_tab.product_checks["exceed"].setChecked(True)
    assert map_tab.threshold.isEnabled() and map_tab.threshold.value() == pytest.approx(0.5)
    map_tab.head_combo.setCurrentText("seen")
    assert _products(map_tab) == {"prob": True, "spread": True} and not map_tab.threshold.isEnabled()
    assert [map_tab.class_list.item(i).text() for i in range(map_tab.class_list.count())] == ["car"]
    map_tab.head_combo.setCurrentText("level")
    assert set(_products(map_tab)) == {"mean", "spread", "exceed"} and map_tab.threshold.minimum() < -1e6


def test_beta_head_maps_to_zero_one_ramps(plugin, model, world, qtbot, tmp_path):  # noqa: F811
    layer = _add_raster(world["raster"], "overhead")
    plugin.model_panel.set_model(str(model))
    map_tab = plugin.tabs["Map"]
    map_tab.layer_combo.setLayer(layer)
    map_tab.out_dir.setFilePath(str(tmp_path))
    map_tab.product_checks["exceed"].setChecked(True)
    map_tab.threshold.setValue(0.25)
    task = _run_and_wait(qtbot, map_tab)
    assert task.error is None, task.error
    run = json.loads(next(tmp_path.rglob("products.json")).read_text())
    assert [p["product"] for p in run["products"]] == ["mean", "spread", "exceed"]
    assert run["products"][2]["threshold"] == 0.25
    names = [lyr.name() for lyr in map_tab.last_layers]
    assert {"#1 mean sunny · weather", "#1 P(snow > 0.25) · weather",
            "#1 spread of sunny (std) · weather"} <= set(names)
    for lyr in map_tab.last_layers:
        renderer = lyr.renderer()
        assert isinstance(renderer, QgsSingleBandPseudoColorRenderer)
        if "spread" not in lyr.name():  # a mean in [0, 1] and a probability: the whole 0..1 ramp
            assert (renderer.classificationMin(), renderer.classificationMax()) == (0.0, 1.0)
        else:
            assert renderer.classificationMin() == 0.0 and 0 < renderer.classificationMax() <= 0.5
    QgsProject.instance().removeAllMapLayers()
    del layer, lyr, renderer


def test_gaussian_mean_diverges_around_zero_and_a_positive_one_is_sequential(tmp_path, qgis_new_project):
    import numpy as np
    from osgeo import gdal
    from qgis.core import QgsRasterLayer
    from test_qgis_styling import write_tif

    from xview_qgis import styling

    values = np.linspace(-3, 1, 48, dtype=np.float32).reshape(1, 6, 8)
    for name, data in (("signed", values), ("positive", values + 5)):
        path = write_tif(tmp_path / f"{name}.tif", data, ["level:mean:depth"])
        ds = gdal.Open(str(path), gdal.GA_Update)
        ds.SetMetadata({"xview_distribution": "gaussian", "xview_product": "mean"})
        del ds
        layer = QgsRasterLayer(str(path), name, "gdal")
        styling.style_layer(layer)
        renderer = layer.renderer()
        low, high = renderer.classificationMin(), renderer.classificationMax()
        if name == "signed":
            assert (low, high) == pytest.approx((-3.0, 3.0))  # symmetric: white is 0
            first = renderer.shader().rasterShaderFunction().colorRampItemList()[0].color.name()
            assert first == styling.DIVERGING[0]
        else:
            assert (low, high) == pytest.approx((2.0, 6.0))
        assert layer.name() == "mean depth · level"
        del layer, renderer
