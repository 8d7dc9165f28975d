"""The mapping tool end to end: known answers, georeferencing on real rasters, extent, mask, cancel, bad files."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import rasterio
import shapely
from affine import Affine
from mapping_fixtures import (
    CM_X,
    CM_Y,
    TRUE_METRES_CRS,
    expected_alpha,
    mean_colour_model,
    random_rgb,
    read_band_stack,
    shared,
    tiny_model,
    write_raster,
)
from rasterio.warp import calculate_default_transform, reproject

from xview_engine.errors import Cancelled, OutputError, QueryError, SourceError, TilingError
from xview_engine.mapping.map import MapParams, run_map


def _alpha_of_tiles(data: np.ndarray, tile: int, stride: int, rows: int, cols: int) -> np.ndarray:
    means = np.array([[data[:, r * stride:r * stride + tile, c * stride:c * stride + tile].mean(axis=(1, 2))
                       for c in range(cols)] for r in range(rows)])
    return expected_alpha(means.astype(np.float64))  # (rows, cols, 3)


@pytest.mark.parametrize(("gsd", "tile_src_px", "tol"), [(10.0, 16, 1e-4), (20.0, 32, 2e-3)])
def test_known_answer_mean_colour(tmp_path, gsd, tile_src_px, tol):
    """Each tile's answer is a function of its mean colour, computed here from the source pixels."""
    data = random_rgb(tmp_path / "rgb.tif")  # 64 x 48 px at 10 m, CRS units = ground metres
    model = mean_colour_model(tmp_path / "m.safetensors", gsd_m=gsd)
    result = run_map(MapParams(raster=str(tmp_path / "rgb.tif"), model=str(model), out_dir=str(tmp_path / "out"),
                               device="cpu", batch_size=5))
    grid = result.metadata["grid"]
    rows, cols = grid["rows"], grid["cols"]
    assert (rows, cols) == ((5, 7) if gsd == 10 else (2, 3))
    alpha = _alpha_of_tiles(data, tile_src_px, tile_src_px // 2, rows, cols)
    prob, meta = read_band_stack(tmp_path / "out" / "colour_prob.tif")
    expected_prob = alpha / alpha.sum(-1, keepdims=True)
    order = [int(b["class_index"]) for b in result.metadata["products"][0]["bands"]]
    np.testing.assert_allclose(prob.transpose(1, 2, 0), expected_prob[..., order], atol=tol)
    concentration, _ = read_band_stack(tmp_path / "out" / "colour_concentration.tif")
    np.testing.assert_allclose(concentration[0], alpha.sum(-1), atol=3 * tol)
    top, top_meta = read_band_stack(tmp_path / "out" / "colour_top.tif")
    clear = np.sort(expected_prob, -1)[..., -1] - np.sort(expected_prob, -1)[..., -2] > 10 * tol
    assert (top[0][clear] == expected_prob.argmax(-1)[clear]).all()
    entropy, _ = read_band_stack(tmp_path / "out" / "colour_entropy.tif")
    np.testing.assert_allclose(entropy[0], -(expected_prob * np.log(expected_prob)).sum(-1), atol=3 * tol)
    assert meta["descriptions"][0].startswith("colour:prob:")
    assert top_meta["profile"]["dtype"] == "uint8" and top_meta["nodata"] == 255
    assert result.tiles_run == rows * cols


def test_count_product_and_explicit_classes(tmp_path):
    data = random_rgb(tmp_path / "rgb.tif")
    model = mean_colour_model(tmp_path / "m.safetensors", gsd_m=10.0)
    result = run_map(MapParams(raster=str(tmp_path / "rgb.tif"), model=str(model), out_dir=str(tmp_path / "o"),
                               head="counts", classes=("blue", "red"), device="cpu"))
    assert [e["product"] for e in result.metadata["products"]] == ["top", "count"]
    count, meta = read_band_stack(tmp_path / "o" / "counts_count.tif")
    assert meta["descriptions"] == ("counts:count:blue", "counts:count:red")
    alpha = _alpha_of_tiles(data, 16, 8, 5, 7)
    np.testing.assert_allclose(count[0], alpha[..., 2], atol=1e-4)
    np.testing.assert_allclose(count[1], alpha[..., 0], atol=1e-4)


def _check_georeferencing(out_dir, source_crs_epsg: int | None):
    meta = json.loads((out_dir / "products.json").read_text())
    grid = meta["grid"]
    sx, sy = grid["stride_crs_units"]
    kx, ky = grid["ground_scale_crs_units_per_metre"]
    assert sx == pytest.approx(grid["stride_m"] * kx) and sy == pytest.approx(grid["stride_m"] * ky)
    x0, y0 = grid["first_tile_centre"]
    for entry in meta["products"]:
        with rasterio.open(out_dir / entry["file"]) as ds:
            if source_crs_epsg:
                assert ds.crs.to_epsg() == source_crs_epsg
            assert ds.res == pytest.approx((sx, sy))
            assert (ds.transform.c, ds.transform.f) == pytest.approx((x0 - sx / 2, y0 + sy / 2))
            assert (ds.width, ds.height) == (grid["cols"], grid["rows"])
            assert ds.profile["tiled"] and ds.profile.get("compress") == "deflate"
            assert ds.nodata is not None
            assert all(d.startswith(f"{entry['head']}:{entry['product']}") for d in ds.descriptions)
    return meta


def test_georeferencing_rgb_byte_utm_with_nodata_frame(tmp_path):
    src = shared("rasters/RGB.byte.tif")
    model = tiny_model(tmp_path / "m.safetensors", gsd_m=1000.0)
    run_map(MapParams(raster=str(src), model=str(model), out_dir=str(tmp_path / "o"), stride_m=16000, device="cpu"))
    meta = _check_georeferencing(tmp_path / "o", 32618)
    assert meta["grid"]["ground_scale_crs_units_per_metre"][0] == pytest.approx(1.00056, abs=1e-4)
    prob, info = read_band_stack(tmp_path / "o" / "scene_prob.tif")
    assert prob.shape[0] == 10  # default: the top 10 classes over the map
    assert (prob[:, 0, 0] == info["nodata"]).all()  # the scene's black frame corner: no data
    centre = prob[:, prob.shape[1] // 2, prob.shape[2] // 2]
    assert (centre > 0).all() and (centre < 1).all()
    with rasterio.open(src) as ds, rasterio.open(tmp_path / "o" / "scene_prob.tif") as out:
        assert out.bounds.left >= ds.bounds.left and out.bounds.right <= ds.bounds.right


def test_georeferencing_fotomap_2cm_with_alpha(tmp_path):
    model = tiny_model(tmp_path / "m.safetensors", gsd_m=0.1)
    result = run_map(MapParams(raster=str(shared("rasters/fotomap_small.tif")), model=str(model),
                               out_dir=str(tmp_path / "o"), stride_m=1.6, device="cpu"))
    _check_georeferencing(tmp_path / "o", 32633)
    assert result.tiles_run > 0 and result.metadata["source"]["scaling"] == "bytes / 255"


def test_georeferencing_web_mercator(tmp_path):
    src = shared("rasters/rgb1_fake_nir_epsg3857.tif")
    model = tiny_model(tmp_path / "m.safetensors", gsd_m=1000.0)
    run_map(MapParams(raster=str(src), model=str(model), out_dir=str(tmp_path / "o"), stride_m=16000, device="cpu"))
    meta = _check_georeferencing(tmp_path / "o", 3857)
    with rasterio.open(src) as ds:
        (lat,) = rasterio.warp.transform(ds.crs, "EPSG:4326", [0], [(ds.bounds.bottom + ds.bounds.top) / 2])[1]
    expected = 1 / math.cos(math.radians(lat))
    assert meta["grid"]["ground_scale_crs_units_per_metre"][0] == pytest.approx(expected, rel=3e-3)
    assert "repeated" in meta["source"]["band_note"]  # a single grey band feeds R, G and B


def _geographic_copy(src, dst):
    with rasterio.open(src) as ds:
        transform, width, height = calculate_default_transform(ds.crs, "EPSG:4326", ds.width, ds.height, *ds.bounds)
        profile = {**ds.profile, "crs": "EPSG:4326", "transform": transform, "width": width, "height": height}
        with rasterio.open(dst, "w", **profile) as out:
            for band in range(1, ds.count + 1):
                reproject(rasterio.band(ds, band), rasterio.band(out, band), dst_nodata=0)
    return dst


def test_geographic_raster_is_mapped_in_utm_with_square_tiles(tmp_path):
    geo_tif = _geographic_copy(shared("rasters/RGB.byte.tif"), tmp_path / "geo.tif")
    model = tiny_model(tmp_path / "m.safetensors", gsd_m=1000.0)
    run_map(MapParams(raster=str(geo_tif), model=str(model), out_dir=str(tmp_path / "o"), stride_m=16000,
                      device="cpu"))
    meta = _check_georeferencing(tmp_path / "o", 32618)  # the UTM zone of the scene centre
    assert meta["grid"]["crs"] == "EPSG:32618" and "square in metres" in meta["grid"]["work_crs_note"]
    sx, sy = meta["grid"]["stride_crs_units"]
    assert sx == pytest.approx(sy, rel=1e-4)


def test_extent_in_raster_crs_and_in_lonlat(tmp_path):
    random_rgb(tmp_path / "rgb.tif", width=100, height=100)
    model = tiny_model(tmp_path / "m.safetensors", gsd_m=10.0)
    extent = (CM_X + 200, CM_Y - 600, CM_X + 600, CM_Y - 200)
    run_map(MapParams(raster=str(tmp_path / "rgb.tif"), model=str(model), out_dir=str(tmp_path / "a"),
                      extent=extent, device="cpu"))
    with rasterio.open(tmp_path / "a" / "scene_prob.tif") as ds:
        assert (ds.width, ds.height) == (4, 4)  # (400 - 160) / 80 + 1 tiles each way
        assert ds.bounds.left >= extent[0] and ds.bounds.top <= extent[3]
    lon, lat = rasterio.warp.transform(TRUE_METRES_CRS, "EPSG:4326", [extent[0], extent[2]], [extent[1], extent[3]])
    run_map(MapParams(raster=str(tmp_path / "rgb.tif"), model=str(model), out_dir=str(tmp_path / "b"),
                      extent=(lon[0], lat[0], lon[1], lat[1]), extent_crs="EPSG:4326", device="cpu"))
    with rasterio.open(tmp_path / "b" / "scene_prob.tif") as ds:
        assert (ds.width, ds.height) == (4, 4)
    with pytest.raises(TilingError, match="does not overlap"):
        run_map(MapParams(raster=str(tmp_path / "rgb.tif"), model=str(model), out_dir=str(tmp_path / "c"),
                          extent=(0, 0, 10, 10), device="cpu"))
    with pytest.raises(TilingError, match="smaller than one tile"):
        run_map(MapParams(raster=str(tmp_path / "rgb.tif"), model=str(model), out_dir=str(tmp_path / "c"),
                          extent=(CM_X, CM_Y - 100, CM_X + 100, CM_Y), device="cpu"))
    assert not (tmp_path / "c").exists()


def _write_mask(path, polygon: shapely.Polygon, epsg: int):
    from osgeo import ogr, osr

    srs = osr.SpatialReference()
    srs.ImportFromEPSG(epsg)
    srs.SetAxisMappingStrategy(osr.OAMS_TRADITIONAL_GIS_ORDER)
    ds = ogr.GetDriverByName("GPKG").CreateDataSource(str(path))
    layer = ds.CreateLayer("mask", srs, ogr.wkbPolygon)
    feature = ogr.Feature(layer.GetLayerDefn())
    feature.SetGeometry(ogr.CreateGeometryFromWkt(polygon.wkt))
    layer.CreateFeature(feature)
    ds = None
    return path


def test_mask_polygon_with_hole_in_another_crs(tmp_path):
    random_rgb(tmp_path / "rgb.tif", width=120, height=120)
    outer = shapely.box(CM_X + 100, CM_Y - 1100, CM_X + 1100, CM_Y - 100)
    hole = shapely.box(CM_X + 400, CM_Y - 800, CM_X + 800, CM_Y - 400)
    ring = shapely.Polygon(outer.exterior.coords, [hole.exterior.coords])
    lonlat = shapely.geometry.shape(rasterio.warp.transform_geom(TRUE_METRES_CRS, "EPSG:4326", ring.__geo_interface__))
    mask = _write_mask(tmp_path / "mask.gpkg", lonlat, 4326)
    model = tiny_model(tmp_path / "m.safetensors", gsd_m=10.0)
    result = run_map(MapParams(raster=str(tmp_path / "rgb.tif"), model=str(model), out_dir=str(tmp_path / "o"),
                               mask=str(mask), device="cpu"))
    prob, info = read_band_stack(tmp_path / "o" / "scene_entropy.tif")
    t = info["transform"]
    rows, cols = np.indices(prob.shape[1:])
    xs, ys = t.c + (cols + 0.5) * t.a, t.f + (rows + 0.5) * t.e
    inside = shapely.contains_xy(ring, xs, ys)
    assert inside.any() and (~inside).any()
    assert (prob[0][inside] != info["nodata"]).all()
    assert (prob[0][~inside] == info["nodata"]).all()
    assert result.tiles_run == inside.sum()


def test_cancel_leaves_no_files(tmp_path):
    random_rgb(tmp_path / "rgb.tif", width=200, height=200)
    model = tiny_model(tmp_path / "m.safetensors", gsd_m=10.0)
    out = tmp_path / "out"
    calls = []

    def progress(done, total):
        calls.append((done, total))

    with pytest.raises(Cancelled):
        run_map(MapParams(raster=str(tmp_path / "rgb.tif"), model=str(model), out_dir=str(out), batch_size=4,
                          device="cpu"), progress=progress, cancel=lambda: len(calls) >= 3)
    assert not out.exists()
    out.mkdir()
    with pytest.raises(Cancelled):
        run_map(MapParams(raster=str(tmp_path / "rgb.tif"), model=str(model), out_dir=str(out), device="cpu"),
                cancel=lambda: True)
    assert list(out.iterdir()) == []


def test_progress_reaches_total(tmp_path):
    random_rgb(tmp_path / "rgb.tif")
    model = tiny_model(tmp_path / "m.safetensors", gsd_m=10.0)
    calls, messages = [], []
    run_map(MapParams(raster=str(tmp_path / "rgb.tif"), model=str(model), out_dir=str(tmp_path / "o"),
                      device="cpu", batch_size=3), progress=lambda d, t: calls.append((d, t)), log=messages.append)
    assert calls[-1] == (35, 35) and all(b >= a for (a, _), (b, _) in zip(calls, calls[1:]))
    assert messages[0].startswith("35 tiles to run")


def test_existing_outputs_refused_before_work_unless_overwrite(tmp_path):
    random_rgb(tmp_path / "rgb.tif")
    model = tiny_model(tmp_path / "m.safetensors", gsd_m=10.0)
    params = MapParams(raster=str(tmp_path / "rgb.tif"), model=str(model), out_dir=str(tmp_path / "o"), device="cpu")
    run_map(params)
    before = (tmp_path / "o" / "scene_prob.tif").stat().st_mtime_ns
    with pytest.raises(OutputError, match="already exists.*--overwrite"):
        run_map(params)
    assert (tmp_path / "o" / "scene_prob.tif").stat().st_mtime_ns == before
    run_map(MapParams(**{**params.__dict__, "overwrite": True}))


def test_products_json_and_category_names(tmp_path):
    from osgeo import gdal

    random_rgb(tmp_path / "rgb.tif")
    model = tiny_model(tmp_path / "m.safetensors", gsd_m=10.0)
    run_map(MapParams(raster=str(tmp_path / "rgb.tif"), model=str(model), out_dir=str(tmp_path / "o"),
                      device="cpu", command="xview map rgb.tif ..."))
    meta = json.loads((tmp_path / "o" / "products.json").read_text())
    assert meta["command"] == "xview map rgb.tif ..." and meta["head"]["name"] == "scene"
    assert {e["product"] for e in meta["products"]} == {"prob", "top", "concentration", "entropy"}
    for entry in meta["products"]:
        assert (tmp_path / "o" / entry["file"]).exists() and entry["units"]
    info = gdal.Info(str(tmp_path / "o" / "scene_top.tif"), format="json")
    assert info["bands"][0]["categories"] == [f"class{i}" for i in range(12)]
    assert not list((tmp_path / "o").glob(".*"))  # no temporary files left


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"head": "nope"}, Exception, "no head 'nope'"),
        ({"products": ("count",)}, QueryError, "does not apply"),
        ({"products": ("fancy",)}, QueryError, "unknown product"),
        ({"classes": ("class99",)}, Exception, "no class 'class99'"),
        ({"batch_size": 0}, TilingError, "batch-size"),
    ],
)
def test_bad_parameters(tmp_path, kwargs, error, match):
    random_rgb(tmp_path / "rgb.tif")
    model = tiny_model(tmp_path / "m.safetensors", gsd_m=10.0)
    with pytest.raises(error, match=match):
        run_map(MapParams(raster=str(tmp_path / "rgb.tif"), model=str(model), out_dir=str(tmp_path / "o"), **kwargs))


def test_all_nodata_tiles_give_a_clear_error(tmp_path):
    data = np.zeros((3, 48, 64), np.uint8)
    data[:, :10, :10] = 50  # valid pixels, but no tile is half valid
    write_raster(tmp_path / "sparse.tif", data, TRUE_METRES_CRS, Affine(10, 0, CM_X, 0, -10, CM_Y), nodata=0)
    model = tiny_model(tmp_path / "m.safetensors", gsd_m=10.0)
    with pytest.raises(SourceError, match="no tile.*half of its pixels valid"):
        run_map(MapParams(raster=str(tmp_path / "sparse.tif"), model=str(model), out_dir=str(tmp_path / "o")))
    assert not (tmp_path / "o").exists()


def test_nan_float_raster_maps_with_nan_as_nodata(tmp_path):
    with rasterio.open(shared("bad/float_nan.tif")) as ds:
        values = ds.read(1)
    data = np.kron(values, np.ones((20, 20), np.float32))[None]  # each 100 m pixel -> 20 x 5 m
    write_raster(tmp_path / "nan.tif", data, TRUE_METRES_CRS, Affine(5, 0, CM_X, 0, -5, CM_Y), nodata=np.nan)
    model = tiny_model(tmp_path / "m.safetensors", gsd_m=5.0)
    result = run_map(MapParams(raster=str(tmp_path / "nan.tif"), model=str(model), out_dir=str(tmp_path / "o"),
                               stride_m=40, device="cpu"))
    assert 0 < result.tiles_run < result.tiles_total
    assert "percentile" in result.metadata["source"]["scaling"]


def test_uint16_rgba_maps_with_stretch(tmp_path):
    model = tiny_model(tmp_path / "m.safetensors", gsd_m=10.0)
    result = run_map(MapParams(raster=str(shared("bad/RGBA.uint16.tif")), model=str(model),
                               out_dir=str(tmp_path / "o"), device="cpu"))
    assert 0 < result.tiles_run < result.tiles_total
    assert "percentile" in result.metadata["source"]["scaling"]


def test_onnx_runtime_matches_torch(tmp_path):
    pytest.importorskip("onnxruntime")
    random_rgb(tmp_path / "rgb.tif")
    model = tiny_model(tmp_path / "m.safetensors", gsd_m=10.0)
    common = {"raster": str(tmp_path / "rgb.tif"), "model": str(model), "device": "cpu", "classes": ("class1",)}
    run_map(MapParams(**common, out_dir=str(tmp_path / "t"), runtime="torch"))
    result = run_map(MapParams(**common, out_dir=str(tmp_path / "x"), runtime="onnx"))
    assert "onnxruntime" in result.metadata["model"]["runtime"]
    a, _ = read_band_stack(tmp_path / "t" / "scene_prob.tif")
    b, _ = read_band_stack(tmp_path / "x" / "scene_prob.tif")
    np.testing.assert_allclose(a, b, atol=1e-5)


def test_onnx_file_runs_and_torch_refuses_it(tmp_path):
    pytest.importorskip("onnxruntime")
    from xview_engine.errors import DeviceError
    from xview_engine.model.onnx_export import export_onnx

    random_rgb(tmp_path / "rgb.tif")
    onnx_path = export_onnx(tiny_model(tmp_path / "m.safetensors", gsd_m=10.0), tmp_path / "m.onnx")
    result = run_map(MapParams(raster=str(tmp_path / "rgb.tif"), model=str(onnx_path), out_dir=str(tmp_path / "o"),
                               runtime="onnx", device="cpu"))
    assert result.tiles_run == 35
    auto = run_map(MapParams(raster=str(tmp_path / "rgb.tif"), model=str(onnx_path), out_dir=str(tmp_path / "a"),
                             device="cpu"))  # the default runtime, auto, runs an .onnx file in onnxruntime
    assert auto.metadata["model"]["runtime"].startswith("runtime onnx")
    with pytest.raises(DeviceError, match="--runtime onnx"):
        run_map(MapParams(raster=str(tmp_path / "rgb.tif"), model=str(onnx_path), out_dir=str(tmp_path / "p"),
                          device="cpu", runtime="torch"))
