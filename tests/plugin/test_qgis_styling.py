"""Layer styling in real headless QGIS: ramps, paletted class colours, legends, layer groups."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from osgeo import gdal, osr
from qgis.core import (
    QgsPalettedRasterRenderer,
    QgsProject,
    QgsRasterLayer,
    QgsSingleBandPseudoColorRenderer,
)

from xview_qgis import styling
from xview_qgis.bandmeta import BandMeta, band_descriptions, category_names, parse_band_description, present_values

CLASSES = ("beach", "forest", "parking lot", "water")


def write_tif(path: Path, bands: np.ndarray, descriptions: list[str], dtype=gdal.GDT_Float32, nodata: float = -9999.0,
              categories: tuple[str, ...] = ()) -> Path:
    """A small EPSG:32633 GeoTIFF with band descriptions (and category names) like the engine writes."""
    count, rows, cols = bands.shape
    ds = gdal.GetDriverByName("GTiff").Create(str(path), cols, rows, count, dtype)
    ds.SetGeoTransform((500000.0, 32.0, 0.0, 5800000.0, 0.0, -32.0))
    srs = osr.SpatialReference()
    srs.ImportFromEPSG(32633)
    ds.SetProjection(srs.ExportToWkt())
    for i in range(count):
        band = ds.GetRasterBand(i + 1)
        band.SetNoDataValue(nodata)
        band.SetDescription(descriptions[i])
        band.WriteArray(bands[i])
        if categories:
            band.SetCategoryNames(list(categories))
    del band, ds  # closing writes the .aux.xml sidecar with the category names
    return path


@pytest.fixture
def product_dir(tmp_path: Path) -> Path:
    rng = np.random.default_rng(0)
    prob = rng.dirichlet(np.ones(len(CLASSES)), size=(6, 8)).transpose(2, 0, 1).astype(np.float32)
    prob[:, 0, 0] = -9999.0
    write_tif(tmp_path / "places365_prob.tif", prob, [f"places365:prob:{c}" for c in CLASSES])
    top = np.argmax(prob, axis=0).astype(np.uint8)[None]
    top[0, 0, 0] = 255
    write_tif(tmp_path / "places365_top.tif", top, ["places365:top:"], gdal.GDT_Byte, 255, CLASSES)
    counts = (rng.random((2, 6, 8)) * 3).astype(np.float32)
    write_tif(tmp_path / "coco_count.tif", counts, ["coco:count:car", "coco:count:person"])
    entropy = rng.random((1, 6, 8)).astype(np.float32)
    write_tif(tmp_path / "places365_entropy.tif", entropy, ["places365:entropy:"])
    products = {
        "source": {"file": str(tmp_path / "input.tif")},
        "outputs": [
            {"product": "prob", "path": "places365_prob.tif"},
            {"product": "top", "path": "places365_top.tif"},
            {"product": "count", "path": str(tmp_path / "coco_count.tif")},
            {"product": "entropy", "path": "places365_entropy.tif"},
        ],
    }
    (tmp_path / "products.json").write_text(json.dumps(products))
    return tmp_path


def test_band_descriptions_parse_with_colons_in_class_names():
    assert parse_band_description("imagenet:prob:crane:bird") == BandMeta("imagenet", "prob", "crane:bird")
    assert parse_band_description("places365:top:") == BandMeta("places365", "top", "")
    assert parse_band_description("Band 1") is None
    assert parse_band_description("") is None


def test_band_metadata_is_read_from_the_geotiffs(product_dir):
    assert band_descriptions(str(product_dir / "places365_prob.tif"))[2] == "places365:prob:parking lot"
    assert category_names(str(product_dir / "places365_top.tif")) == CLASSES
    assert set(present_values(str(product_dir / "places365_top.tif"))) <= {0, 1, 2, 3}
    assert band_descriptions(str(product_dir / "missing.tif")) == []


def test_probability_layer_gets_a_viridis_ramp_named_after_the_class(product_dir):
    layer = QgsRasterLayer(str(product_dir / "places365_prob.tif"), "prob", "gdal")
    styling.style_probability(layer, band=3, class_name="parking lot", head="places365")
    renderer = layer.renderer()
    assert isinstance(renderer, QgsSingleBandPseudoColorRenderer)
    assert renderer.band() == 3
    assert renderer.classificationMin() == 0.0
    assert 0.0 < renderer.classificationMax() <= 1.0
    items = renderer.shader().rasterShaderFunction().colorRampItemList()
    assert len(items) == styling.RAMP_STOPS
    assert items[0].color.name() == styling.VIRIDIS[0] and items[-1].color.name() == styling.VIRIDIS[-1]
    assert layer.name() == "P(parking lot) · places365"
    legend = [text for text, _ in renderer.legendSymbologyItems()]
    assert legend[0] == "0.000" and len(legend) == styling.RAMP_STOPS
    del renderer, layer


def test_count_layer_uses_its_value_range(product_dir):
    layer = QgsRasterLayer(str(product_dir / "coco_count.tif"), "count", "gdal")
    styling.style_count(layer, band=1, class_name="car", value_range=(0.0, 5.0))
    renderer = layer.renderer()
    assert renderer.classificationMax() == 5.0
    assert renderer.shader().rasterShaderFunction().colorRampItemList()[-1].color.name() == styling.MAGMA[-1]
    assert layer.name() == "expected car count"
    del renderer, layer


def test_top_class_layer_is_paletted_with_class_names_and_stable_colours(product_dir):
    layer = QgsRasterLayer(str(product_dir / "places365_top.tif"), "top", "gdal")
    styling.style_top_class(layer, CLASSES)
    renderer = layer.renderer()
    assert isinstance(renderer, QgsPalettedRasterRenderer)
    classes = {int(c.value): (c.label, c.color.name()) for c in renderer.classes()}
    assert set(classes) <= {0, 1, 2, 3} and len(classes) >= 2
    for value, (label, colour) in classes.items():
        assert label == CLASSES[value]
        assert colour == styling.class_colour(value, label).name()
    del renderer, layer


def test_classes_named_after_what_they_look_like_get_their_colours():
    assert styling.class_colour(3, "ocean").name() == "#1f5fa8"  # water is blue whatever its index
    assert styling.class_colour(0, "forest/broadleaf").name() == "#1b5e20"
    assert styling.class_colour(5, "no such class").name() == styling.class_colour(5).name()
    from xview_engine.model.label_spaces import places365

    unknown = set(styling.named_class_colours()) - set(places365().names) - {"sandbar", "seashore"}
    assert not unknown, f"colours for names that are not Places365 scenes: {unknown}"


def test_class_colours_are_distinct_beyond_the_palette():
    colours = {styling.class_colour(i).name() for i in range(365)}
    assert len(colours) > 300


def test_heatmap_is_transparent_where_unlikely(product_dir):
    layer = QgsRasterLayer(str(product_dir / "places365_entropy.tif"), "heat", "gdal")
    styling.style_heatmap(layer)
    items = layer.renderer().shader().rasterShaderFunction().colorRampItemList()
    assert items[0].color.alpha() == 0 and items[-1].color.alpha() == 255
    assert items[-1].label.endswith("(most likely)")
    del items, layer


def test_add_products_to_project_makes_a_styled_group(product_dir, qgis_new_project):
    project = QgsProject.instance()
    layers = styling.add_products_to_project(product_dir / "products.json", "run 1", project)
    group = project.layerTreeRoot().findGroup("run 1")
    assert group is not None and project.layerTreeRoot().children()[0] is group
    names = [layer.name() for layer in layers]
    assert names == [
        "most likely class · places365",
        "P(beach) · places365", "P(forest) · places365", "P(parking lot) · places365", "P(water) · places365",
        "expected car count · coco", "expected person count · coco", "entropy (nats) · places365",
    ]
    assert [node.layer().name() for node in group.findLayers()] == names  # the shown layer is on top
    assert [layer.renderer().band() for layer in layers[1:5]] == [1, 2, 3, 4]
    assert all(layer.crs().authid() == "EPSG:32633" for layer in layers)
    visible = [node.itemVisibilityChecked() for node in group.findLayers()]
    assert visible == [True] + [False] * (len(names) - 1)
    assert layers[0].opacity() == styling.TOP_CLASS_OPACITY
    project.removeAllMapLayers()
    del layers


def test_add_products_limits_the_number_of_class_layers(product_dir, qgis_new_project):
    project = QgsProject.instance()
    layers = styling.add_products_to_project(product_dir / "products.json", "run 2", project, max_class_layers=2,
                                             prefix="#7")
    assert sum(layer.name().startswith("#7 P(") for layer in layers) == 2
    assert all(layer.name().startswith("#7 ") for layer in layers)
    assert [styling.next_run_number(project) for _ in range(3)] == [1, 2, 3]
    project.removeAllMapLayers()
    del layers


def test_geolocation_heatmap_colours_only_the_best_tiles(tmp_path):
    """Raw log-likelihoods from -870 to 167: the best 1 / 5 / 10 % of the tiles get the three colours, the
    other 90 % are transparent, counted in what QGIS' renderer really draws."""
    values = np.linspace(-870.0, 167.0, 200, dtype=np.float32)[np.random.default_rng(1).permutation(200)]
    values = values.reshape(1, 10, 20)
    path = write_tif(tmp_path / "heat.tif", values, ["combined:loglik"])
    layer = QgsRasterLayer(str(path), "heat", "gdal")
    styling.style_geolocation(layer)
    items = layer.renderer().shader().rasterShaderFunction().colorRampItemList()
    assert [item.label for item in items] == ["other tiles (transparent)", "best 5-10 %", "best 1-5 %",
                                             "best 1 % of tiles (most likely)"]
    assert items[0].color.alpha() == 0 and all(item.color.alpha() > 100 for item in items[1:])
    image = layer.renderer().block(1, layer.extent(), 20, 10).image()
    alphas = [image.pixelColor(x, y).alpha() for x in range(20) for y in range(10)]
    colours = [image.pixelColor(x, y).name() for x in range(20) for y in range(10)]
    assert sum(a > 0 for a in alphas) == 20  # 10 % of 200 tiles
    assert colours.count(items[-1].color.name()) == 2  # the best 1 %
    assert "rank" in layer.customProperty("xview/legend_title")
    del items, layer
