"""Palette rasters are read as the RGB image they draw as, with the nodata code transparent."""

from __future__ import annotations

import numpy as np
import rasterio
from affine import Affine
from mapping_fixtures import CM_X, CM_Y, TRUE_METRES_CRS, mean_colour_model, write_raster

from xview_engine.mapping.map import MapParams, run_map
from xview_engine.raster.source import RasterioSource

RGB = ("red", "green", "blue")
COLOURS = {0: (0, 0, 0, 255),
           1: (200, 30, 30, 255), 2: (20, 180, 40, 255), 3: (10, 40, 220, 255), 4: (250, 250, 0, 255)}


def palette_raster(path, nodata: int | None = 0, size: int = 64, seed: int = 0) -> np.ndarray:
    """Random codes 1..4 in 8 x 8 px blocks (code 0 = nodata in the top-left block); returns the codes."""
    rng = np.random.default_rng(seed)
    codes = np.kron(rng.integers(1, 5, (size // 8, size // 8)), np.ones((8, 8))).astype(np.uint8)
    codes[:8, :8] = 0
    with rasterio.open(path, "w", driver="GTiff", width=size, height=size, count=1, dtype="uint8",
                       crs=TRUE_METRES_CRS, transform=Affine(10, 0, CM_X, 0, -10, CM_Y), nodata=nodata) as ds:
        ds.write(codes[None])
        ds.write_colormap(1, COLOURS)
    return codes


def expanded_rgb(codes: np.ndarray) -> np.ndarray:
    table = np.array([COLOURS.get(i, (0, 0, 0, 255))[:3] for i in range(256)], np.uint8)
    return np.moveaxis(table[codes], -1, 0)


def test_palette_read_as_its_colours_with_nodata_masked(tmp_path):
    codes = palette_raster(tmp_path / "pal.tif")
    with RasterioSource(tmp_path / "pal.tif", 3, RGB) as src:
        assert src.choice.indexes == (1, 2, 3)
        assert "colour table expanded" in src.info["band_note"]
        pixels, valid = src.read_window(src.bounds, (64, 64))
        assert not valid[:8, :8].any() and valid[8:].all()
        np.testing.assert_allclose(pixels[:, 8:], expanded_rgb(codes)[:, 8:] / 255.0, atol=1e-6)
        read = src.read_window_codes(src.bounds, (64, 64))
        assert read is not None
        got_codes, mask = read
        np.testing.assert_array_equal(got_codes[:, 8:], expanded_rgb(codes)[:, 8:])
        assert mask is not None and not mask[:8, :8].any()


def test_opaque_palette_without_nodata_has_no_mask(tmp_path):
    codes = palette_raster(tmp_path / "pal.tif", nodata=None)  # GeoTIFF colour tables carry no alpha
    with RasterioSource(tmp_path / "pal.tif", 3, RGB) as src:
        pixels, valid = src.read_window(src.bounds, (64, 64))
        assert valid.all()
        np.testing.assert_allclose(pixels, expanded_rgb(codes) / 255.0, atol=1e-6)
        assert src.read_window_codes(src.bounds, (64, 64))[1] is None  # all valid: the mask read is skipped


def test_palette_maps_as_the_same_picture_in_rgb(tmp_path):
    codes = palette_raster(tmp_path / "pal.tif")
    rgba = np.concatenate([expanded_rgb(codes), np.where(codes == 0, 0, 255).astype(np.uint8)[None]])
    interp = (rasterio.enums.ColorInterp.red, rasterio.enums.ColorInterp.green, rasterio.enums.ColorInterp.blue,
              rasterio.enums.ColorInterp.alpha)
    write_raster(tmp_path / "rgba.tif", rgba, TRUE_METRES_CRS, Affine(10, 0, CM_X, 0, -10, CM_Y), colorinterp=interp)
    model = mean_colour_model(tmp_path / "m.safetensors", gsd_m=10.0, tile_px=8)
    outputs, said = {}, []
    for name in ("pal", "rgba"):
        result = run_map(MapParams(raster=str(tmp_path / f"{name}.tif"), model=str(model),
                                   out_dir=str(tmp_path / name), stride_m=80, device="cpu", products=("prob",)),
                         log=said.append)
        path = next(p for p in result.files if str(p).endswith("_prob.tif"))
        with rasterio.open(path) as ds:
            outputs[name] = ds.read(masked=True)
    np.testing.assert_array_equal(outputs["pal"].mask, outputs["rgba"].mask)
    np.testing.assert_allclose(outputs["pal"].filled(0), outputs["rgba"].filled(0), atol=1e-6)
    assert outputs["pal"].mask.any() and not outputs["pal"].mask.all()
    assert any(line.startswith("bands: colour table expanded") for line in said)  # said on the terminal too


def test_a_twin_of_a_palette_source_reads_its_colours_too(tmp_path):
    """Readers side by side each read a twin (``RasterioSource.twin``): the palette is expanded there too."""
    palette_raster(tmp_path / "pal.tif")
    with RasterioSource(tmp_path / "pal.tif", 3, RGB) as src, src.twin() as twin:
        assert twin._file is not src._file
        for a, b in zip(src.read_window_codes(src.bounds, (64, 64)), twin.read_window_codes(twin.bounds, (64, 64))):
            np.testing.assert_array_equal(a, b)
