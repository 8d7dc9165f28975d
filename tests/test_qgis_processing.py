"""Every xview Processing algorithm through ``processing.run`` in headless QGIS."""

from __future__ import annotations

import json

import pytest
from qgis.core import QgsApplication, QgsProcessingException, QgsProcessingFeedback, QgsRasterLayer
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


def test_provider_lists_the_five_algorithms(provider):
    ids = sorted(a.id() for a in provider.algorithms())
    assert ids == ["xview:export_onnx", "xview:index", "xview:localize", "xview:map", "xview:search"]


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
