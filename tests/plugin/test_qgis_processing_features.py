"""The verification, photo search and PCA algorithms through ``processing.run`` in headless QGIS.

Each answer is checked against the engine called directly (the same function `xview verify`,
`xview retrieve --tile` and `xview pca` call) and against hand computations: the calibration's
logistic, the feature distances of the reference tiles, the RGB bands of the written GeoTIFF.
"""

from __future__ import annotations

import csv
import json
import math

import numpy as np
import pytest
import rasterio
from PIL import Image
from qgis.core import (
    QgsApplication,
    QgsMultiBandColorRenderer,
    QgsProcessingContext,
    QgsProcessingException,
    QgsProcessingFeedback,
    QgsProcessingOutputLayerDefinition,
    QgsProject,
)
from qgis_support import CALIBRATION, knn_files, siamese_model, world_files
from rasterio.enums import ColorInterp

from xview_qgis.processing.provider import XviewProvider


class RecordingFeedback(QgsProcessingFeedback):
    """Keeps the lines an algorithm logs, as the Processing dialog's log shows them."""

    def __init__(self):
        super().__init__()
        self.lines: list[str] = []

    def pushInfo(self, info: str) -> None:  # QGIS API name
        self.lines.append(info)
        super().pushInfo(info)


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


@pytest.fixture
def knn(tmp_path_factory):
    return knn_files(tmp_path_factory)


def _run(algorithm: str, params: dict, feedback=None, context=None) -> dict:
    import processing

    return processing.run(algorithm, params, feedback=feedback or QgsProcessingFeedback(), context=context)


def _photo_rows(world) -> list[dict]:
    with open(world["labels"].parent / "pairs.csv", newline="") as fh:
        return list(csv.DictReader(fh))


def test_verify_answers_as_the_engine_does(provider, world, tmp_path):
    from xview_engine.localization.verification import verify_point

    model = siamese_model(tmp_path)
    row = _photo_rows(world)[0]
    photo = world["labels"].parent / row["path"]
    feedback = RecordingFeedback()
    out = _run("xview:verify", {"PHOTO": str(photo), "INPUT": str(world["raster"]), "MODEL": str(model),
                                "POINT": f"{row['x']},{row['y']} [EPSG:32633]", "DEVICE": 1}, feedback)
    engine = verify_point(photo, model, world["raster"], xy=(float(row["x"]), float(row["y"])), device="cpu")
    assert out["DISTANCE"] == pytest.approx(engine["distance"], abs=1e-6)
    assert 0.0 <= out["DISTANCE"] <= 2.0  # unit embeddings
    z = CALIBRATION["intercept"] + CALIBRATION["slope"] * out["DISTANCE"]
    assert out["P_SAME_PLACE"] == pytest.approx(1.0 / (1.0 + math.exp(-z)), rel=1e-9)
    assert json.loads(out["RESULT"])["footprint_m"] == 16
    assert any(line.startswith(f"was {photo.name} taken here? embedding distance {out['DISTANCE']:.3f}, "
                               f"P(same place) {out['P_SAME_PLACE']:.2f}") for line in feedback.lines)
    # the same place given in WGS84 (as a canvas in another CRS gives it): the same tile, the same answer
    at = _run("xview:verify", {"PHOTO": str(photo), "INPUT": str(world["raster"]), "MODEL": str(model),
                               "POINT": f"{row['lon']},{row['lat']} [EPSG:4326]", "DEVICE": 1})
    assert at["DISTANCE"] == pytest.approx(out["DISTANCE"], abs=1e-3)
    # another place, another tile: another distance
    far = _run("xview:verify", {"PHOTO": str(photo), "INPUT": str(world["raster"]), "MODEL": str(model),
                                "POINT": f"{float(row['x']) - 60},{float(row['y']) - 60} [EPSG:32633]", "DEVICE": 1})
    assert far["DISTANCE"] != pytest.approx(out["DISTANCE"], abs=1e-6)


def test_verify_without_calibration_and_with_a_model_that_cannot_verify(provider, world, tmp_path):
    row = _photo_rows(world)[1]
    photo = str(world["labels"].parent / row["path"])
    feedback = RecordingFeedback()
    bare = siamese_model(tmp_path, "bare.safetensors", calibration=None)
    out = _run("xview:verify", {"PHOTO": photo, "INPUT": str(world["raster"]), "MODEL": str(bare),
                                "POINT": f"{row['x']},{row['y']} [EPSG:32633]", "DEVICE": 1}, feedback)
    assert out["P_SAME_PLACE"] is None and out["DISTANCE"] >= 0.0
    assert any("no P(same place)" in line for line in feedback.lines)
    with pytest.raises(QgsProcessingException, match="verification needs a Siamese"):
        _run("xview:verify", {"PHOTO": photo, "INPUT": str(world["raster"]), "MODEL": str(world["model"]),
                              "POINT": f"{row['x']},{row['y']} [EPSG:32633]", "DEVICE": 1})
    with pytest.raises(QgsProcessingException, match="outside the raster"):
        _run("xview:verify", {"PHOTO": photo, "INPUT": str(world["raster"]), "MODEL": str(bare),
                              "POINT": "0,0 [EPSG:32633]", "DEVICE": 1})


def test_photo_search_finds_the_reference_photo_taken_at_the_point(provider, knn, tmp_path):
    """At the spot where a reference photo was taken, its own tile is the nearest by aerial features
    (distance about 0); the distances are those of the reference tiles' features, computed here."""
    from xview_engine.localization.index import load_index
    from xview_engine.model.file import load_model

    model = load_model(knn["knn"])
    references = model.manifest.training["reference_photos"]
    lon, lat = model.manifest.training["reference_lonlat"][0]
    feedback = RecordingFeedback()
    out = _run("xview:photo_search", {"INDEX": str(knn["knn_index"]), "POINT": f"{lon},{lat} [EPSG:4326]",
                                      "TOP_K": 3, "DEVICE": 1, "OUTPUT": str(tmp_path / "search")}, feedback)
    hits = json.loads(out["RESULTS"])
    index = load_index(knn["knn_index"])
    tile = json.loads((tmp_path / "search" / "retrieve.json").read_text())["tile"]["tile"]
    d = np.linalg.norm(model.model.reference_tiles.double().numpy()
                       - np.asarray(index.arrays["features"][tile], np.float64), axis=1)
    assert len(hits) == 3 and hits[0]["photo"] == references[int(np.argmin(d))]
    assert hits[0]["distance"] == pytest.approx(0.0, abs=1e-3)
    np.testing.assert_allclose([h["distance"] for h in hits], np.sort(d)[:3], rtol=1e-4, atol=1e-3)
    with open(out["CSV"], newline="") as fh:
        assert [r["photo"] for r in csv.DictReader(fh)] == [h["photo"] for h in hits]
    with Image.open(out["CONTACT_SHEET"]) as sheet:
        assert sheet.format == "PNG" and sheet.width > 0 and len(set(sheet.convert("L").getdata())) > 3
    assert feedback.lines[0].startswith(f"#1 {references[int(np.argmin(d))].rsplit('/', 1)[-1]}: feature distance")


def test_photo_search_on_an_index_without_photos_says_what_to_give(provider, world, tmp_path):
    with pytest.raises(QgsProcessingException, match="label distributions"):
        _run("xview:photo_search", {"INDEX": str(world["index"]), "POINT": "16.4005,43.5 [EPSG:4326]",
                                    "OUTPUT": str(tmp_path / "s")})
    out = _run("xview:photo_search", {"INDEX": str(world["index"]), "POINT": "16.4005,43.5 [EPSG:4326]",
                                      "LABELS": str(world["labels"]), "TOP_K": 2, "OUTPUT": str(tmp_path / "s2")})
    assert len(json.loads(out["RESULTS"])) == 2


def _rgb(path) -> tuple[np.ndarray, tuple, float]:
    with rasterio.open(path) as ds:
        return ds.read(), ds.colorinterp, ds.nodata


def test_pca_map_is_the_engines_rgb_and_a_saved_basis_colours_the_same(provider, knn, tmp_path):
    from xview_engine.mapping.pca import PcaParams, run_pca

    out = _run("xview:pca", {"INPUT": str(knn["raster"]), "MODEL": str(knn["knn"]), "STRIDE": 8, "DEVICE": 1,
                             "BASIS_OUT": str(tmp_path / "basis.json"), "OUTPUT": str(tmp_path / "pca.tif")})
    pixels, interp, nodata = _rgb(out["OUTPUT"])
    assert pixels.shape[0] == 3 and pixels.dtype == np.uint8 and nodata == 0
    assert interp == (ColorInterp.red, ColorInterp.green, ColorInterp.blue)
    assert pixels.min() >= 1 and pixels.max() == 255  # every tile ran; the 2-98 % stretch reaches 255
    explained = json.loads(out["EXPLAINED"])
    assert len(explained) == 3 and explained[0] >= explained[1] >= explained[2] > 0
    engine = run_pca(PcaParams(raster=str(knn["raster"]), model=str(knn["knn"]), stride_m=8, device="cpu",
                               out=str(tmp_path / "engine.tif")))
    np.testing.assert_array_equal(pixels, _rgb(engine.path)[0])
    assert json.loads((tmp_path / "basis.json").read_text())["format"] == "xview-pca-basis"
    assert out["BASIS_OUT"] == str(tmp_path / "basis.json")
    again = _run("xview:pca", {"INPUT": str(knn["raster"]), "MODEL": str(knn["knn"]), "STRIDE": 8, "DEVICE": 1,
                               "BASIS_IN": str(tmp_path / "basis.json"), "OUTPUT": str(tmp_path / "again.tif")})
    np.testing.assert_array_equal(_rgb(again["OUTPUT"])[0], pixels)
    assert again["BASIS_OUT"] is None


def test_pca_map_opens_as_an_rgb_layer(provider, world, tmp_path, qgis_new_project):
    """Any model's heads side by side are features too; the map opens with bands 1, 2, 3 as red, green, blue."""
    from processing.gui.Postprocessing import handleAlgorithmResults

    context = QgsProcessingContext()
    context.setProject(QgsProject.instance())
    target = QgsProcessingOutputLayerDefinition(str(tmp_path / "pca.tif"), QgsProject.instance())
    _run("xview:pca", {"INPUT": str(world["raster"]), "MODEL": str(world["model"]), "STRIDE": 8, "DEVICE": 1,
                       "OUTPUT": target}, context=context)
    assert handleAlgorithmResults(QgsApplication.processingRegistry().algorithmById("xview:pca"), context,
                                  QgsProcessingFeedback())
    layers = list(QgsProject.instance().mapLayers().values())
    assert len(layers) == 1 and layers[0].name().startswith("false colours")
    renderer = layers[0].renderer()
    assert isinstance(renderer, QgsMultiBandColorRenderer)
    assert (renderer.redBand(), renderer.greenBand(), renderer.blueBand()) == (1, 2, 3)
    assert renderer.redContrastEnhancement() is None  # the engine's stretch, not a second one
    del layers, renderer, target
    QgsProject.instance().removeAllMapLayers()
    del context


def test_pca_with_a_model_without_features_says_so(provider, world, tmp_path):
    with pytest.raises(QgsProcessingException, match="gives 0 features per tile; a PCA colour map needs at least 3"):
        _run("xview:pca", {"INPUT": str(world["raster"]), "MODEL": str(siamese_model(tmp_path)), "STRIDE": 16,
                           "OUTPUT": str(tmp_path / "pca.tif")})
    assert not (tmp_path / "pca.tif").exists()
