"""Tile -> ground photo search (Workman & Jacobs Fig. 8): a hand-made case with planted features, then
`xview retrieve --tile` on a knn index with the model's own reference photos."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
from knn_fixtures import classifier, knn_world, world  # noqa: F401  (fixtures)
from PIL import Image

from xview_engine.cli.main import main
from xview_engine.localization.index import TileIndex, load_index
from xview_engine.localization.methods import PhotoOptions
from xview_engine.localization.photo_search import contact_sheet, own_collection, photos_near_tile
from xview_engine.localization.photos import Queries
from xview_engine.model.feature_net import HEAD, feature_manifest
from xview_engine.model.file import load_model


def planted_index(features: np.ndarray) -> TileIndex:
    """An in-memory knn index of the given tile features (no grid: the search needs none)."""
    manifest = feature_manifest("resnet18", 2, "imagenet", "fc8", ("a", "b"), 16, 1.0)
    arrays = {"features": features.astype(np.float32),
              "features.minus_sqnorm": -np.square(features.astype(np.float32).astype(np.float64)).sum(1)}
    n = len(features)
    return TileIndex(Path("planted"), {}, manifest, None, np.ones(n, bool), np.zeros((n, 2)),  # type: ignore[arg-type]
                     np.zeros((n, 2)), "knn", arrays)


def test_planted_reference_tiles_rank_by_aerial_distance(tmp_path) -> None:
    # map tiles at (0,0), (10,0), (0,10); reference photos' tiles planted at known distances from tile 1
    index = planted_index(np.array([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0]]))
    photos = [tmp_path / f"p{i}.png" for i in range(4)]
    for i, p in enumerate(photos):
        Image.new("RGB", (64, 16), (60 * i, 100, 200)).save(p)
    refs = np.array([[0.0, 9.0], [10.0, 3.0], [9.0, 0.0], [13.0, 4.0]])  # distances to (10,0): 13.45, 3, 1, 5
    queries = Queries(photos, {HEAD: refs}, {HEAD: ("a", "b")}, np.array([[1.0, 2.0]] * 4), ["reference"] * 4)
    hits = photos_near_tile(index, 1, queries, top_k=3)
    assert [Path(h.photo).name for h in hits] == ["p2.png", "p1.png", "p3.png"]
    assert [h.rank for h in hits] == [1, 2, 3]
    np.testing.assert_allclose([h.distance for h in hits], [1.0, 3.0, 5.0], rtol=1e-6)
    np.testing.assert_allclose([h.score for h in hits], [-1.0, -9.0, -25.0], rtol=1e-6)
    # from tile 2 at (0,10) the nearest is the photo whose tile is (0,9)
    assert Path(photos_near_tile(index, 2, queries, top_k=1)[0].photo).name == "p0.png"
    sheet = contact_sheet(hits, tmp_path / "sheet.png", photos[0], "tile 1")
    with Image.open(sheet) as img:
        assert img.size[0] > 0 and len(set(img.convert("L").getdata())) > 3


def test_retrieve_tile_shows_the_reference_photos_of_similar_tiles(knn_world, tmp_path, capsys) -> None:  # noqa: F811
    """With no photos given, a knn index searches its model's reference photos by their tiles' features:
    at the spot where a reference photo was taken its own tile is the nearest (distance 0)."""
    model = load_model(knn_world["knn"])
    references = model.manifest.training["reference_photos"]
    lon, lat = model.manifest.training["reference_lonlat"][0]
    out = tmp_path / "search"
    assert main(["retrieve", "--tile", f"{lon},{lat}", "--tile-crs", "EPSG:4326", "--index",
                 str(knn_world["knn_index"]), "--top-k", "5", "-o", str(out), "--device", "cpu"]) == 0
    report = json.loads((out / "retrieve.json").read_text())
    tile = report["tile"]["tile"]
    index = load_index(knn_world["knn_index"])
    # the truth: the reference photos whose tile features are nearest this tile's, computed directly
    tile_feats = model.model.reference_tiles.double().numpy()
    d = np.linalg.norm(tile_feats - np.asarray(index.arrays["features"][tile], np.float64), axis=1)
    assert report["photos"][0]["distance"] == pytest.approx(0.0, abs=1e-3)
    assert report["photos"][0]["photo"] in {references[i] for i in np.flatnonzero(d < 1e-3)}
    np.testing.assert_allclose([p["distance"] for p in report["photos"]], np.sort(d)[:5], rtol=1e-4, atol=1e-3)
    with open(out / f"tile_{tile}_photos.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert [r["photo"] for r in rows] == [p["photo"] for p in report["photos"]]
    assert (out / f"tile_{tile}_photos.png").is_file() and (out / f"tile_{tile}.png").is_file()
    assert "00" in capsys.readouterr().out


def test_no_collection_without_references(classifier, tmp_path) -> None:  # noqa: F811
    from xview_engine.training.knn import FeatureModelParams, make_feature_model

    bare = make_feature_model(FeatureModelParams(teachers=f"imagenet:mobilenet_v3_small={classifier}",
                                                 out=str(tmp_path / "bare.safetensors"), tile_px=16, gsd_m=1.0))
    index = planted_index(np.zeros((2, 2)))
    assert own_collection(index, PhotoOptions(model=str(bare))) is None
    assert own_collection(index, PhotoOptions()) is None


def test_photos_at_a_point_are_those_of_the_index_tile_centred_there(knn_world, classifier, tmp_path) -> None:  # noqa: F811
    """Without an index (the plugin's "What's here"), the tile centred on a point is described on the spot:
    at an indexed tile's centre the same photos come back, at the same distances; a model without
    references, or a method without a collection, gives None."""
    from xview_engine.localization.photo_search import photos_at_point
    from xview_engine.model.runtime import load_runtime
    from xview_engine.raster.source import RasterioSource
    from xview_engine.training.knn import FeatureModelParams, make_feature_model

    index = load_index(knn_world["knn_index"])
    tile = int(np.flatnonzero(index.valid)[len(np.flatnonzero(index.valid)) // 2])
    x, y = index.xy[tile]
    options = PhotoOptions(model=str(knn_world["knn"]), device="cpu")
    expected = photos_near_tile(index, tile, own_collection(index, options), top_k=4)
    spec = index.manifest.input
    with RasterioSource(knn_world["raster"], 3, spec.bands, work_crs=index.grid.crs) as source:
        hits = photos_at_point(source, load_runtime(knn_world["knn"], "torch", "cpu"), options, x, y, top_k=4)
        assert [h.photo for h in hits] == [h.photo for h in expected]
        np.testing.assert_allclose([h.distance for h in hits], [h.distance for h in expected], rtol=1e-3, atol=1e-3)
        bare = make_feature_model(FeatureModelParams(teachers=f"imagenet:mobilenet_v3_small={classifier}",
                                                     out=str(tmp_path / "bare.safetensors"), tile_px=16, gsd_m=1.0))
        assert photos_at_point(source, load_runtime(bare, "torch", "cpu"), PhotoOptions(model=str(bare)), x, y) is None
        distill = load_runtime(knn_world["model"], "torch", "cpu")
        assert photos_at_point(source, distill, PhotoOptions(model=str(knn_world["model"])), x, y) is None
