"""Damaged and odd rasters, made with GDAL here: every command refuses them by name, or maps them.

A zero-byte file, a truncated GeoTIFF and a VRT whose source is gone are refused by `xview index`
as `xview map` refuses them (before any output is started); a raster whose centre lies outside
its CRS's domain is a clean error instead of PROJ's "Point outside of projection domain"; and a
0.004-degree EPSG:4326 raster across the antimeridian maps as the 430 m it is.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from mapping_fixtures import CM_X, CM_Y, TRUE_METRES_CRS, tiny_model, write_raster
from rasterio.transform import Affine

from xview_engine.errors import SourceError
from xview_engine.localization.build import IndexParams, build_index
from xview_engine.mapping.map import MapParams, run_map
from xview_engine.raster.crs import ground_metres, ground_scale

ROOT = Path(__file__).resolve().parents[2]
PIXELS = np.random.default_rng(1).integers(0, 256, (3, 400, 400), dtype=np.uint8)


@pytest.fixture(scope="module")
def model(tmp_path_factory) -> Path:
    return tiny_model(tmp_path_factory.mktemp("model") / "m.safetensors", gsd_m=0.5)


def vrt(path: Path, source: str, size: int, crs: str, transform: tuple[float, ...]) -> Path:
    bands = "".join(f'<VRTRasterBand dataType="Byte" band="{b}"><SimpleSource><SourceFilename relativeToVRT="1">'
                    f"{source}</SourceFilename><SourceBand>{b}</SourceBand></SimpleSource></VRTRasterBand>"
                    for b in (1, 2, 3))
    path.write_text(f'<VRTDataset rasterXSize="{size}" rasterYSize="{size}"><SRS>{crs}</SRS>'
                    f"<GeoTransform>{', '.join(map(str, transform))}</GeoTransform>{bands}</VRTDataset>")
    return path


def damaged(kind: str, folder: Path) -> Path:
    good = write_raster(folder / "good.tif", PIXELS, TRUE_METRES_CRS, Affine(0.5, 0, CM_X, 0, -0.5, CM_Y))
    if kind == "zero-byte":
        (folder / "zero.tif").write_bytes(b"")
        return folder / "zero.tif"
    if kind == "truncated":
        (folder / "cut.tif").write_bytes(good.read_bytes()[: good.stat().st_size // 3])
        return folder / "cut.tif"
    return vrt(folder / "broken.vrt", "gone.tif", 400, "EPSG:32633", (500000, 0.5, 0, 4800000, 0, -0.5))


KINDS = {"zero-byte": "cannot be opened as a raster", "truncated": "cannot read the pixels",
         "broken VRT": "gone.tif"}


@pytest.mark.parametrize("kind", KINDS)
def test_index_checks_the_raster_like_map(model, tmp_path, kind) -> None:
    raster = damaged(kind, tmp_path)
    with pytest.raises(SourceError, match=KINDS[kind]):
        build_index(IndexParams(raster=str(raster), model=str(model), out=str(tmp_path / "idx"), device="cpu"))
    with pytest.raises(SourceError, match=KINDS[kind]):
        run_map(MapParams(raster=str(raster), model=str(model), out_dir=str(tmp_path / "maps"), device="cpu"))
    assert not (tmp_path / "idx").exists() and not list(tmp_path.glob(".*"))


def xview(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "xview_engine", *args], capture_output=True, text=True, cwd=cwd,
                          timeout=300, env={**os.environ, "PYTHONPATH": str(ROOT)})


def assert_one_line(result: subprocess.CompletedProcess, *needles: str) -> None:
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("xview: error: ")]
    assert len(errors) == 1 and all(n in errors[0] for n in needles), result.stderr


@pytest.mark.parametrize("kind", ["truncated", "broken VRT"])
def test_index_command_refuses_a_damaged_raster_in_one_line(model, tmp_path, kind) -> None:
    raster = damaged(kind, tmp_path)
    before = sorted(os.listdir(tmp_path))
    assert_one_line(xview("index", str(raster), "--model", str(model), "-o", "idx", cwd=tmp_path), str(raster.name))
    assert sorted(os.listdir(tmp_path)) == before


def test_centre_outside_the_projection_domain_is_a_clean_error(model, tmp_path) -> None:
    with pytest.raises(SourceError, match="lies outside where EPSG:32633 is defined"):
        ground_scale("EPSG:32633", 5e7, 5e7, reference=1e8)
    huge = vrt(tmp_path / "huge.vrt", "good.tif", 50_000, "EPSG:32633", (500000, 2000, 0, 4800000, 0, -2000))
    write_raster(tmp_path / "good.tif", PIXELS, "EPSG:32633", Affine(0.5, 0, 500000, 0, -0.5, 4800000))
    assert_one_line(xview("map", str(huge), "--model", str(model), "--out-dir", "maps", cwd=tmp_path),
                    "lies outside where EPSG:32633 is defined", "georeferencing")
    assert sorted(os.listdir(tmp_path)) == ["good.tif", "huge.vrt"]


def test_longitude_steps_are_unwrapped() -> None:
    across = ground_metres(179.999, 0.0, -179.999, 0.0)
    assert across == pytest.approx(ground_metres(-0.001, 0.0, 0.001, 0.0), rel=1e-12)
    assert across == pytest.approx(222.64, abs=0.01)  # 0.002 degrees of the equator


@pytest.mark.parametrize("west", [179.998, -180.002, 179.990])  # across +180, across -180, and beside it
def test_a_small_geographic_raster_across_the_antimeridian_maps(model, tmp_path, west) -> None:
    raster = write_raster(tmp_path / "am.tif", PIXELS, "EPSG:4326", Affine(1e-5, 0, west, 0, -1e-5, -16.5))
    result = xview("map", str(raster), "--model", str(model), "--out-dir", "maps", "--products", "top",
                   cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    grid = json.loads((tmp_path / "maps" / "products.json").read_text())["grid"]
    # 0.004 degrees at 16.5 S is 427 m x 442 m; the UTM box around it is a little larger (the zone's grid
    # turns by about 1 degree against the meridians 3 degrees off its centre): 8 m tiles every 4 m
    assert grid["crs"] in ("EPSG:32760", "EPSG:32701"), grid
    assert abs(grid["cols"] - 107) <= 1 and abs(grid["rows"] - 111) <= 1, grid  # not 4.6 billion columns
