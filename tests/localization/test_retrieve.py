"""`xview retrieve` both ways on the small synthetic world: chips, ranks, and the tile column."""

from __future__ import annotations

import json

import numpy as np
import pytest
from localize_fixtures import world  # noqa: F401  (fixture)
from PIL import Image

from xview_engine.cli.main import main
from xview_engine.data.label_files import read_label_file
from xview_engine.localization.index import load_index
from xview_engine.localization.localize import score_queries
from xview_engine.localization.photos import from_label_file
from xview_engine.localization.retrieve import RetrieveParams, retrieve


def test_photo_to_tiles_with_chips(world, tmp_path, capsys) -> None:  # noqa: F811
    photo = str(world["world"] / "photos" / "00005.jpg")
    assert main(["retrieve", photo, "--index", str(world["index"]), "--labels", str(world["labels"]),
                 "-o", str(tmp_path / "r"), "--top-k", "3"]) == 0
    report = json.loads((tmp_path / "r" / "retrieve.json").read_text())
    [entry] = report["photos"]
    assert [c["rank"] for c in entry["candidates"]] == [1, 2, 3]
    for chip in entry["chips"]:
        with Image.open(chip) as im:
            assert im.size == (16, 16) and im.mode == "RGB" and im.getextrema()[0][1] > 0
    assert "00005_rank01.png" in capsys.readouterr().out


def test_tile_to_photos_is_the_score_column(world, tmp_path) -> None:  # noqa: F811
    index = load_index(world["index"])
    tile = 600
    lon, lat = index.lonlat[tile]
    report = retrieve(RetrieveParams(str(world["index"]), str(tmp_path / "t"), tile=(float(lon), float(lat)),
                                     tile_crs="EPSG:4326", labels=str(world["labels"]), top_k=4))
    assert report["tile"]["tile"] == tile and (tmp_path / "t" / f"tile_{tile}.png").is_file()
    queries = from_label_file(world["labels"])
    column = score_queries(index, queries).heads["combined"][:, tile]
    assert index.scorer.score_tile(index, tile, queries) == pytest.approx(column, rel=1e-5)
    expected = [str(queries.photos[i]) for i in np.argsort(-column, kind="stable")[:4]]
    assert [p["photo"] for p in report["photos"]] == expected
    assert len(read_label_file(world["labels"])) == 20


def test_retrieve_errors(world, tmp_path, capsys) -> None:  # noqa: F811
    base = ["retrieve", "--index", str(world["index"]), "--labels", str(world["labels"]), "-o", str(tmp_path / "e")]
    assert main([*base, "--tile", "1,2,3"]) == 2
    assert "must be X,Y" in capsys.readouterr().err
    assert main([*base, "--tile", "0,0"]) == 2
    assert "is not on an indexed tile" in capsys.readouterr().err
    assert main(base) == 2
    assert "needs at least one PHOTO" in capsys.readouterr().err
