"""Every xview Processing algorithm through ``processing.run`` in headless QGIS."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from qgis.core import (
    QgsApplication,
    QgsPalettedRasterRenderer,
    QgsProcessingContext,
    QgsProcessingException,
    QgsProcessingFeedback,
    QgsProcessingOutputLayerDefinition,
    QgsProject,
    QgsRasterLayer,
    QgsSingleBandPseudoColorRenderer,
)
from qgis_support import world_files

from xview_qgis.processing.provider import XviewProvider


@pytest.fixture(scope="module")
def provider(qgis_app):
    from processing.core.Processing import Processing

    Processing.initialize()
    provider = XviewProvider()
    QgsApplication.processingRegistry().addProvider(provider)
    yield provider
    QgsApplication.processingRegistry().removeProvider(provider)


@pytest.fixture
def world(tmp_path_factory):
    return world_files(tmp_path_factory)


def _run(algorithm: str, params: dict) -> dict:
    import processing

    return processing.run(algorithm, params, feedback=QgsProcessingFeedback())


def test_provider_lists_the_eight_algorithms(provider):
    ids = sorted(a.id() for a in provider.algorithms())
    assert ids == ["xview:export_onnx", "xview:index", "xview:localize", "xview:map", "xview:pca",
                   "xview:photo_search", "xview:search", "xview:verify"]


def test_map_algorithm(provider, world, tmp_path):
    out = _run("xview:map", {"INPUT": str(world["raster"]), "MODEL": str(world["model"]), "HEAD": "scene",
                             "PRODUCTS": [0, 1], "DEVICE": 1, "OUTPUT": str(tmp_path / "map")})
    products = json.loads((tmp_path / "map" / "products.json").read_text())
    assert [p["product"] for p in products["products"]] == ["prob", "top"]
    assert out["PRODUCTS_JSON"] == str(tmp_path / "map" / "products.json")


def test_search_algorithm(provider, world, tmp_path):
    out = _run("xview:search", {"INPUT": str(world["raster"]), "MODEL": str(world["model"]),
                                "QUERY": "scene:beach | scene:forest_path", "OUTPUT": str(tmp_path / "s.tif")})
    layer = QgsRasterLayer(out["OUTPUT"], "s", "gdal")
    assert layer.isValid() and layer.crs().authid().startswith("EPSG:")
    del layer


def test_search_algorithm_says_what_is_wrong(provider, world, tmp_path):
    with pytest.raises(QgsProcessingException, match="nosuchclass"):
        _run("xview:search", {"INPUT": str(world["raster"]), "MODEL": str(world["model"]),
                              "QUERY": "scene:nosuchclass", "OUTPUT": str(tmp_path / "s.tif")})


def test_index_and_localize_algorithms(provider, world, tmp_path):
    index = _run("xview:index", {"INPUT": str(world["raster"]), "MODEL": str(world["model"]), "STRIDE": 16,
                                 "OUTPUT": str(tmp_path / "index")})["OUTPUT"]
    out = _run("xview:localize", {"PHOTO": str(world["photo"]), "INDEX": index, "LABELS": str(world["labels"]),
                                  "TOP_K": 3, "OUTPUT": str(tmp_path / "heat.tif")})
    results = json.loads(out["RESULTS"])
    assert len(results[0]["candidates"]) == 3 and (tmp_path / "heat.tif").is_file()


def test_export_onnx_algorithm(provider, world, tmp_path):
    pytest.importorskip("onnx")
    out = _run("xview:export_onnx", {"MODEL": str(world["model"]), "OUTPUT": str(tmp_path / "m.onnx")})
    assert (tmp_path / "m.onnx").stat().st_size > 1000 and out["OUTPUT"].endswith("m.onnx")


def _run_in(context, algorithm: str, params: dict) -> dict:
    import processing

    return processing.run(algorithm, params, context=context, feedback=QgsProcessingFeedback())


def _load_results(context, algorithm: str) -> list:
    """What the Processing dialog does after a run: open the layers to load and call their post-processors."""
    from processing.gui.Postprocessing import handleAlgorithmResults

    assert handleAlgorithmResults(QgsApplication.processingRegistry().algorithmById(algorithm), context,
                                  QgsProcessingFeedback())
    return list(QgsProject.instance().mapLayers().values())


def _context() -> QgsProcessingContext:
    """A context on the project. Tests create and delete it themselves: held by a fixture, it crashes pytest."""
    context = QgsProcessingContext()
    context.setProject(QgsProject.instance())
    return context


def _clear_project() -> None:
    QgsProject.instance().removeAllMapLayers()
    QgsProject.instance().layerTreeRoot().removeAllChildren()


def test_map_products_open_styled_on_completion(provider, world, tmp_path, qgis_new_project):
    context = _context()
    params = {"INPUT": str(world["raster"]), "MODEL": str(world["model"]), "HEAD": "scene", "PRODUCTS": [0, 1],
              "CLASSES": "beach,park", "OUTPUT": str(tmp_path / "map")}
    _run_in(context, "xview:map", params)
    to_load = context.layersToLoadOnCompletion()
    assert sorted(Path(path).name for path in to_load) == ["scene_prob.tif", "scene_top.tif"]
    assert all(details.postProcessor() is not None for details in to_load.values())
    layers = {layer.name(): layer for layer in _load_results(context, "xview:map")}
    assert set(layers) == {"P(beach) · scene", "most likely class · scene"}
    assert isinstance(layers["P(beach) · scene"].renderer(), QgsSingleBandPseudoColorRenderer)
    top = layers["most likely class · scene"].renderer()
    assert isinstance(top, QgsPalettedRasterRenderer) and all(c.label for c in top.classes())
    off = QgsProcessingContext()
    _run_in(off, "xview:map", {**params, "LOAD": False, "OUTPUT": str(tmp_path / "map2")})
    assert off.layersToLoadOnCompletion() == {}
    del layers, top, to_load
    _clear_project()
    del context, off


def test_heatmap_and_search_open_styled_when_asked(provider, world, tmp_path, qgis_new_project):
    context, project = _context(), QgsProject.instance()
    out = QgsProcessingOutputLayerDefinition(str(tmp_path / "heat.tif"), project)
    _run_in(context, "xview:localize", {"PHOTO": str(world["photo"]), "INDEX": str(world["index"]),
                                        "LABELS": str(world["labels"]), "TOP_K": 3, "OUTPUT": out})
    out = QgsProcessingOutputLayerDefinition(str(tmp_path / "s.tif"), project)
    _run_in(context, "xview:search", {"INPUT": str(world["raster"]), "MODEL": str(world["model"]),
                                      "QUERY": "scene:beach", "OUTPUT": out})
    assert len(context.layersToLoadOnCompletion()) == 2
    layers = _load_results(context, "xview:search")
    assert len(layers) == 2 and all(isinstance(lyr.renderer(), QgsSingleBandPseudoColorRenderer) for lyr in layers)
    heat = next(lyr for lyr in layers if lyr.source().endswith("heat.tif"))
    assert heat.renderer().shader().rasterShaderFunction().colorRampItemList()[0].color.alpha() < 255
    del layers, heat, out
    _clear_project()
    del context


def test_localize_algorithm_on_a_twin_index_gives_headings(provider, world, tmp_path):
    """Through the method seam: a twin model's index, localized with a field of view, gives each
    candidate a heading (a bin centre of the 90-degree photo's map) and the truth its EXIF heading."""
    from xview_engine.data.exif import read_geotag
    from xview_engine.localization.index import load_index
    from xview_engine.model.file import save_model
    from xview_engine.model.twin import build_twin, twin_manifest

    manifest = twin_manifest(tile_px=32, gsd_m=1.0)
    model = save_model(build_twin(manifest, seed=0), manifest, tmp_path / "twin.safetensors")
    index = _run("xview:index", {"INPUT": str(world["raster"]), "MODEL": str(model), "STRIDE": 16,
                                 "OUTPUT": str(tmp_path / "twin-index")})["OUTPUT"]
    out = _run("xview:localize", {"PHOTO": str(world["photo"]), "INDEX": index, "TOP_K": 4, "FOV": 90,
                                  "OUTPUT": str(tmp_path / "twin-heat.tif")})
    [result] = json.loads(out["RESULTS"])
    north = load_index(index).grid_north_deg  # degrees from true north to grid north at each tile
    headings = [c["extras"]["heading_deg"] for c in result["candidates"]]
    grid = [(c["extras"]["heading_deg"] - north[c["tile"]] - 45) / 11.25 for c in result["candidates"]]
    assert len(headings) == 4 and all(0 <= h < 360 for h in headings)
    assert all(abs(g - round(g)) < 1e-3 for g in grid)  # bin centres of the grid, reported from true north
    assert result["truth"]["heading_deg"] == pytest.approx(read_geotag(world["photo"]).heading, abs=0.01)


def test_map_dialog_offers_the_models_heads_and_classes(provider, world, tmp_path, qgis_iface, monkeypatch):
    """The real Processing dialog: HEAD and CLASSES follow the MODEL file, with the dock's defaults."""
    from processing.gui.AlgorithmDialog import AlgorithmDialog
    from qgis.gui import QgsBrowserGuiModel
    from qgis.PyQt.QtCore import Qt

    browser = QgsBrowserGuiModel()  # the dialog asks iface for one; pytest-qgis' stand-in has none
    monkeypatch.setattr(qgis_iface, "browserModel", lambda: browser, raising=False)
    dialog = AlgorithmDialog(QgsApplication.processingRegistry().createAlgorithmById("xview:map"))
    wrappers = dialog.mainWidget().wrappers
    head, classes, context = wrappers["HEAD"], wrappers["CLASSES"], QgsProcessingContext()
    assert head.widget.count() == 0 and "model" in head.widget.toolTip()
    wrappers["MODEL"].setParameterValue(str(world["model"]), context)
    assert [head.widget.itemText(i) for i in range(head.widget.count())] == ["scene", "object", "count"]
    assert head.value() == "scene" and classes.value() == ""  # the dock's defaults: first head, top 10
    labels = [classes.widget.item(i).text() for i in range(classes.widget.count())]
    assert len(labels) > 3 and "beach" in labels
    classes.widget.item(1).setCheckState(Qt.CheckState.Checked)
    assert classes.value() == labels[1]
    head.widget.setCurrentText("count")
    counts = [classes.widget.item(i).text() for i in range(classes.widget.count())]
    assert counts != labels and classes.value() == ""
    wrappers["INPUT"].setParameterValue(str(world["raster"]), context)
    parameters = dialog.mainWidget().createProcessingParameters()
    assert parameters["HEAD"] == "count" and parameters["CLASSES"] == ""
    not_a_model = tmp_path / "notes.safetensors"
    not_a_model.write_text("not a model")
    wrappers["MODEL"].setParameterValue(str(not_a_model), context)
    assert head.widget.count() == 0 and "notes.safetensors" in head.widget.toolTip()
    dialog.deleteLater()
    del dialog, wrappers, head, classes, context
