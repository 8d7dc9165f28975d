"""`xview localize` end to end on a small synthetic world: heatmap georeferencing, top-k, EXIF truth."""

from __future__ import annotations

import json

import numpy as np
import pytest
import rasterio
from affine import Affine
from localize_fixtures import tiny_teacher, world  # noqa: F401  (fixture)

from xview_engine.cli.main import main
from xview_engine.data.label_files import read_label_file, write_label_file
from xview_engine.data.pairs import read_pairs
from xview_engine.errors import LabelFileError
from xview_engine.localization.distill import head_tables
from xview_engine.localization.index import load_index
from xview_engine.localization.localize import LocalizeParams, localize
from xview_engine.localization.metrics import ranks_from_scores


def run_json(capsys, *args: str) -> list[dict]:
    assert main(["localize", *args, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_heatmap_georeferenced_on_the_index_grid(world, tmp_path, capsys) -> None:  # noqa: F811
    out = tmp_path / "heat.tif"
    photo = world["world"] / "photos" / "00004.jpg"
    [result] = run_json(capsys, str(photo), "--index", str(world["index"]), "--labels", str(world["labels"]),
                        "-o", str(out), "--top-k", "5")
    index = load_index(world["index"])
    with rasterio.open(out) as ds, rasterio.open(world["raster"]) as src:
        assert ds.crs == src.crs
        assert ds.transform == Affine(*index.grid.transform)
        assert (ds.width, ds.height) == (index.grid.cols, index.grid.rows)
        assert ds.descriptions[:2] == ("combined:loglik", "combined:posterior")
        assert set(ds.descriptions[2:]) == {"scene:loglik", "object:loglik", "count:loglik"}
        combined, post = ds.read(1).ravel(), ds.read(2).ravel()
        # pixel centres of the heatmap are the tile centres of the index
        x, y = ds.xy(3, 7)
        assert (x, y) == pytest.approx(tuple(index.xy[3 * index.grid.cols + 7]))
        assert ds.bounds.left < ds.bounds.right and src.bounds.left <= ds.bounds.left
    assert post.sum() == pytest.approx(1.0, abs=1e-4)
    cands = result["candidates"]
    assert [c["rank"] for c in cands] == [1, 2, 3, 4, 5]
    assert [c["score"] for c in cands] == sorted((c["score"] for c in cands), reverse=True)
    assert cands[0]["score"] == pytest.approx(float(combined.max()), rel=1e-6)
    assert cands[0]["tile"] == int(np.argmax(combined))
    assert cands[0]["lon"] == pytest.approx(index.lonlat[cands[0]["tile"], 0])


def test_exif_truth_rank_matches_the_heatmap(world, tmp_path, capsys) -> None:  # noqa: F811
    pairs = read_pairs(world["pairs"])
    index = load_index(world["index"])
    photo = pairs.photos[2]
    [result] = run_json(capsys, str(photo), "--index", str(world["index"]), "--labels", str(world["labels"]),
                        "-o", str(tmp_path / "h.tif"))
    truth = result["truth"]
    assert truth["source"] == "exif"
    assert (truth["lon"], truth["lat"]) == pytest.approx((pairs.columns["lon"][2], pairs.columns["lat"][2]), abs=1e-6)
    expected_tile = index.tile_at(np.array([pairs.columns["x"][2]]), np.array([pairs.columns["y"][2]]))[0]
    assert truth["tile"] == expected_tile
    with rasterio.open(tmp_path / "h.tif") as ds:
        combined = ds.read(1).ravel()
    assert truth["rank"]["combined"] == ranks_from_scores(combined[None], [expected_tile])[0]
    assert truth["best_percent"]["combined"] == pytest.approx(100 * truth["rank"]["combined"] / index.n_valid)
    assert truth["best_candidate_distance_m"] > 0 and truth["candidates"] == 1296


def test_several_photos_one_product_and_on_the_fly_index(world, tmp_path) -> None:  # noqa: F811
    photos = tuple(str(world["world"] / "photos" / f"0000{i}.jpg") for i in range(3))
    common = {"labels": str(world["labels"]), "top_k": 3}
    batch = localize(LocalizeParams(photos, str(tmp_path / "many"), index=str(world["index"]), **common))
    assert sorted(p.name for p in (tmp_path / "many").iterdir()) == ["00000.tif", "00001.tif", "00002.tif"]
    single = localize(LocalizeParams(photos[1:2], str(tmp_path / "one.tif"), index=str(world["index"]), **common))
    assert [c.tile for c in batch[1].candidates] == [c.tile for c in single[0].candidates]
    fly = localize(LocalizeParams(photos[1:2], str(tmp_path / "fly.tif"), raster=str(world["raster"]),
                                  model=str(world["model"]), device="cpu", **common))
    assert [c.tile for c in fly[0].candidates] == [c.tile for c in single[0].candidates]
    weighted = localize(LocalizeParams(photos[1:2], str(tmp_path / "w.tif"), index=str(world["index"]),
                                       heads=("count",), weights={"count": 2.0}, **common))
    assert weighted[0].truth["rank"].keys() == {"count", "combined"}
    assert weighted[0].truth["rank"]["count"] == weighted[0].truth["rank"]["combined"]
    for bad in (float("nan"), -1.0):  # what Processing or the dock could pass without the CLI's parser
        with pytest.raises(LabelFileError, match=r"--weights count=(nan|-1) must be a finite number"):
            localize(LocalizeParams(photos[1:2], str(tmp_path / "bad.tif"), index=str(world["index"]),
                                    heads=("count",), weights={"count": bad}, **common))
    assert not (tmp_path / "bad.tif").exists()


def test_head_mismatch_and_bad_input_are_one_line_errors(world, tmp_path, capsys) -> None:  # noqa: F811
    lf = read_label_file(world["labels"])
    renamed = tmp_path / "renamed.npz"
    write_label_file(renamed, {"places": lf.heads["scene"]}, {"places": lf.names["scene"]},
                     {"places": "categorical"}, {"path": np.array([str(p) for p in lf.photo_paths()])})
    photo = str(world["world"] / "photos" / "00000.jpg")
    base = [photo, "--index", str(world["index"]), "-o", str(tmp_path / "x.tif")]
    assert main(["localize", *base, "--labels", str(renamed)]) == 2
    err = capsys.readouterr().err
    assert "xview: error: the photo labels have heads ['places'] but the model's heads are" in err
    assert "'scene', 'object', 'count'" in err and len(err.strip().splitlines()) == 1
    assert main(["localize", *base]) == 2
    assert "--labels FILE, or --teachers SPEC" in capsys.readouterr().err
    assert main(["localize", *base, "--labels", str(world["labels"]), "--heads", "nope"]) == 2
    assert "--heads names ['nope']" in capsys.readouterr().err
    assert main(["localize", *base, "--labels", str(world["labels"]), "--weights", "scene=x"]) == 2
    assert "must be head=number" in capsys.readouterr().err
    (tmp_path / "x.tif").write_bytes(b"")
    assert main(["localize", *base, "--labels", str(world["labels"])]) == 2
    assert "already exists; pass --overwrite" in capsys.readouterr().err
    with pytest.raises(LabelFileError, match="is not in label file"):
        localize(LocalizeParams((str(tmp_path / "other.jpg"),), str(tmp_path / "y.tif"), index=str(world["index"]),
                                labels=str(world["labels"])))


def test_index_cli_and_stale_refusal(world, tmp_path, capsys) -> None:  # noqa: F811
    import shutil

    raster = tmp_path / "copy.tif"
    shutil.copy(world["raster"], raster)
    assert main(["index", str(raster), "--model", str(world["model"]), "-o", str(tmp_path / "idx"), "--float16",
                 "--device", "cpu"]) == 0
    assert head_tables(load_index(tmp_path / "idx"))["scene"].weights.dtype == np.float16
    with rasterio.open(raster, "r+") as ds:
        ds.write(np.zeros((1, 64, 64), np.uint8), indexes=[1], window=rasterio.windows.Window(0, 0, 64, 64))
    photo = str(world["world"] / "photos" / "00000.jpg")
    assert main(["localize", photo, "--index", str(tmp_path / "idx"), "--labels", str(world["labels"]),
                 "-o", str(tmp_path / "h.tif")]) == 2
    assert "is stale" in capsys.readouterr().err


def test_teachers_label_the_photo(world, tmp_path) -> None:  # noqa: F811
    teacher = tiny_teacher(world["labels"], tmp_path / "teacher.safetensors")
    photo = str(world["world"] / "photos" / "00006.jpg")
    [result] = localize(LocalizeParams((photo,), str(tmp_path / "t.tif"), index=str(world["index"]),
                                       teachers=f"synthetic={teacher}", device="cpu", top_k=2))
    assert len(result.candidates) == 2 and result.truth["source"] == "exif"
    assert set(result.truth["rank"]) == {"scene", "object", "count", "combined"}
