"""Index files: round trip, float16, memory maps, and refusing stale or mismatched indexes."""

from __future__ import annotations

import json

import numpy as np
import pytest
import rasterio
from affine import Affine
from scipy import stats

from xview_engine.cache import file_sha256
from xview_engine.errors import IndexFileError, OutputError
from xview_engine.localization import index as ix
from xview_engine.localization.distill import head_tables
from xview_engine.localization.likelihood import score_head, tile_params
from xview_engine.model.crossview import build_model
from xview_engine.model.file import save_model
from xview_engine.model.manifest import BackboneSpec, HeadSpec, InputSpec, Manifest
from xview_engine.raster.grid import TileGrid

CRS = "EPSG:32633"


def small_manifest(scene_labels=("beach", "forest", "parking")) -> Manifest:
    heads = (HeadSpec("scene", "dirichlet", tuple(scene_labels)), HeadSpec("count", "poisson", ("car", "boat")))
    return Manifest("distill", BackboneSpec("tiny_cnn", {"width": 4, "depth": 2}), InputSpec(16, 0.5), heads, hidden=8)


def small_grid(rows: int = 3, cols: int = 4) -> TileGrid:
    return TileGrid(CRS, 500_000.0, 4_800_000.0, rows, cols, 16, 8, 0.5, 1.0, 1.0)


def fake_rows(grid: TileGrid, seed: int = 0):
    """Per-row parameters like predict_rows yields: tile (0, 1) not run, row 2 entirely absent."""
    rng = np.random.default_rng(seed)
    params = {}
    for row in range(grid.rows - 1):
        scene = rng.uniform(0.2, 40.0, size=(grid.cols, 3)).astype(np.float32)
        count = rng.uniform(0.01, 5.0, size=(grid.cols, 2)).astype(np.float32)
        if row == 0:
            scene[1] = np.nan
            count[1] = np.nan
        params[row] = {"scene": scene, "count": count}
    return params


def write_tif(path, value: int = 10) -> None:
    data = np.full((3, 64, 64), value, np.uint8)
    with rasterio.open(path, "w", driver="GTiff", width=64, height=64, count=3, dtype="uint8", crs=CRS,
                       transform=Affine(0.5, 0, 499_990.0, 0, -0.5, 4_800_010.0)) as ds:
        ds.write(data)


def test_round_trip_memmap_and_scores(tmp_path) -> None:
    grid, manifest = small_grid(), small_manifest()
    params = fake_rows(grid)
    out = ix.write_index(tmp_path / "idx", grid, params.items(), manifest)
    index = ix.load_index(out)
    assert index.n_tiles == 12 and index.n_valid == 7
    assert index.valid.tolist() == [True, False, True, True] + [True] * 4 + [False] * 4
    assert isinstance(head_tables(index)["scene"].weights, np.memmap)
    assert index.grid == grid and index.manifest == manifest
    assert index.xy[5].tolist() == [500_004.0, 4_799_996.0]  # row 1, col 1: stride 8 px x 0.5 m = 4 m
    assert index.lonlat[0] == pytest.approx([15.0, 43.35], abs=0.01)
    assert tile_params(head_tables(index)["count"], slice(4, 8)) == pytest.approx(params[1]["count"], rel=1e-5)
    photo = np.array([[0.7, 0.2, 0.1]])
    scores = score_head(head_tables(index)["scene"], photo)[0]
    assert scores[2] == pytest.approx(stats.dirichlet.logpdf(photo[0], params[0]["scene"][2]), rel=1e-5)
    assert np.isneginf(scores[[1, 8, 11]]).all()
    near = index.tile_at(np.array([500_004.1, 500_002.1, 400_000.0]), np.array([4_799_996.0] * 3))
    assert near.tolist() == [5, 5, -1]
    assert index.tile_at(np.array([500_004.0]), np.array([4_800_000.0])).tolist() == [-1]  # tile (0, 1) never ran


def test_float16_index_is_half_size_and_consistent(tmp_path) -> None:
    grid, manifest = small_grid(), small_manifest()
    params = fake_rows(grid)
    ix.write_index(tmp_path / "f32", grid, params.items(), manifest)
    ix.write_index(tmp_path / "f16", grid, params.items(), manifest, dtype="float16")
    full, half = ix.load_index(tmp_path / "f32"), ix.load_index(tmp_path / "f16")
    assert head_tables(half)["scene"].weights.dtype == np.float16 and half.header["dtype"] == "float16"
    assert head_tables(half)["scene"].weights.nbytes * 2 == head_tables(full)["scene"].weights.nbytes
    alpha16 = np.asarray(head_tables(half)["scene"].weights[0], np.float64)
    photo = np.array([[0.3, 0.3, 0.4]])
    assert score_head(head_tables(half)["scene"], photo)[0, 0] == pytest.approx(
        stats.dirichlet.logpdf(photo[0], alpha16), rel=1e-5)
    with pytest.raises(IndexFileError, match="float64"):
        ix.write_index(tmp_path / "f64", grid, params.items(), manifest, dtype="float64")


def test_existing_output_refused_and_overwrite(tmp_path) -> None:
    grid, manifest = small_grid(), small_manifest()
    ix.write_index(tmp_path / "idx", grid, fake_rows(grid).items(), manifest)
    with pytest.raises(OutputError, match="--overwrite"):
        ix.write_index(tmp_path / "idx", grid, fake_rows(grid).items(), manifest)
    ix.write_index(tmp_path / "idx", grid, fake_rows(grid, seed=3).items(), manifest, overwrite=True)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["idx"]  # no temporary or old folder left
    (tmp_path / "notes").mkdir()
    with pytest.raises(OutputError, match="not an xview index"):
        ix.write_index(tmp_path / "notes", grid, fake_rows(grid).items(), manifest, overwrite=True)


def test_failed_build_leaves_nothing(tmp_path) -> None:
    grid, manifest = small_grid(), small_manifest()

    def broken():
        yield 0, fake_rows(grid)[0]
        raise RuntimeError("reader died")

    with pytest.raises(RuntimeError):
        ix.write_index(tmp_path / "idx", grid, broken(), manifest)
    assert list(tmp_path.iterdir()) == []


def test_damaged_and_foreign_folders(tmp_path) -> None:
    with pytest.raises(IndexFileError, match="does not exist"):
        ix.load_index(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(IndexFileError, match="not an xview index folder"):
        ix.load_index(tmp_path / "empty")
    grid, manifest = small_grid(), small_manifest()
    ix.write_index(tmp_path / "idx", grid, fake_rows(grid).items(), manifest)
    header = json.loads((tmp_path / "idx" / "index.json").read_text())
    (tmp_path / "idx" / "index.json").write_text(json.dumps({**header, "version": 99}))
    with pytest.raises(IndexFileError, match="version 99"):
        ix.load_index(tmp_path / "idx")
    (tmp_path / "idx" / "index.json").write_text(json.dumps(header))
    np.save(tmp_path / "idx" / "head0.const.npy", np.zeros(5))
    with pytest.raises(IndexFileError, match=r"head0.const.npy has shape \(5,\)"):
        ix.load_index(tmp_path / "idx")
    np.save(tmp_path / "idx" / "head0.const.npy", np.zeros(12))
    (tmp_path / "idx" / "xy.npy").unlink()
    with pytest.raises(IndexFileError, match="missing or damaged"):
        ix.load_index(tmp_path / "idx")


def test_stale_raster_refused(tmp_path) -> None:
    raster = tmp_path / "r.tif"
    write_tif(raster)
    grid, manifest = small_grid(), small_manifest()
    ix.write_index(tmp_path / "idx", grid, fake_rows(grid).items(), manifest, raster=ix.raster_identity(raster))
    index = ix.load_index(tmp_path / "idx")
    ix.check_index(index)  # unchanged: fine
    ix.check_index(index, raster=raster)
    other = tmp_path / "other.tif"
    write_tif(other, value=200)
    with pytest.raises(IndexFileError, match="was built from .*r.tif, not from .*other.tif"):
        ix.check_index(index, raster=other)
    write_tif(raster, value=11)
    with pytest.raises(IndexFileError, match="stale.*content_hash"):
        ix.check_index(index)
    raster.unlink()
    ix.check_index(index)  # the raster is gone: the index still localizes on its own


def test_mismatched_model_refused(tmp_path) -> None:
    grid, manifest = small_grid(), small_manifest()
    model_a, model_b, model_c = tmp_path / "a.safetensors", tmp_path / "b.safetensors", tmp_path / "c.safetensors"
    save_model(build_model(manifest, seed=0), manifest, model_a)
    save_model(build_model(manifest, seed=1), manifest, model_b)
    other = small_manifest(("beach", "forest", "harbor"))
    save_model(build_model(other), other, model_c)
    model = {"path": str(model_a), "sha256": file_sha256(model_a)}
    ix.write_index(tmp_path / "idx", grid, fake_rows(grid).items(), manifest, model=model)
    index = ix.load_index(tmp_path / "idx")
    ix.check_index(index, model=model_a)
    with pytest.raises(IndexFileError, match="different weights"):
        ix.check_index(index, model=model_b)
    with pytest.raises(IndexFileError, match="another model"):
        ix.check_index(index, model=model_c)
