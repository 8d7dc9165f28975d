"""`xview map` and `xview search` from the command line: outputs, exit codes, one-line errors."""

from __future__ import annotations

import json

import pytest
from mapping_fixtures import random_rgb, shared, tiny_model

from xview_engine.cli.main import main


@pytest.fixture()
def inputs(tmp_path):
    random_rgb(tmp_path / "rgb.tif")
    return tmp_path / "rgb.tif", tiny_model(tmp_path / "m.safetensors", gsd_m=10.0)


def _one_error_line(capsys, match: str) -> None:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("xview: error: "), err
    assert match in err[0], err[0]


def test_map_writes_products_and_records_the_command(tmp_path, inputs, capsys):
    raster, model = inputs
    rc = main(["map", str(raster), "--model", str(model), "--out-dir", str(tmp_path / "o"),
               "--products", "prob,top", "--classes", "class3,class1", "--device", "cpu", "--batch-size", "4"])
    assert rc == 0
    out, err = capsys.readouterr()
    assert "35 tiles to run" in err
    meta = json.loads((tmp_path / "o" / "products.json").read_text())
    assert [e["product"] for e in meta["products"]] == ["prob", "top"]
    assert [b["class"] for b in meta["products"][0]["bands"]] == ["class3", "class1"]
    assert meta["command"].startswith("xview ") and str(tmp_path / "o" / "products.json") in out


def test_map_refuses_existing_outputs_then_overwrites(tmp_path, inputs, capsys):
    raster, model = inputs
    args = ["map", str(raster), "--model", str(model), "--out-dir", str(tmp_path / "o"), "--device", "cpu"]
    assert main(args) == 0
    capsys.readouterr()
    assert main(args) == 2
    _one_error_line(capsys, "already exists; pass --overwrite")
    assert main([*args, "--overwrite"]) == 0


@pytest.mark.parametrize(
    ("extra", "match"),
    [
        (["--stride-m", "10", "--overlap", "0.5"], "not allowed with argument"),
        (["--max-tiles", "10"], "raise it with --max-tiles"),
        (["--extent", "1,2,3"], "four numbers"),
        (["--bands", "1,x,3"], "band numbers"),
        (["--head", "objects", "--products", "prob"], "does not apply"),
        (["--device", "gpu"], "invalid choice"),
    ],
)
def test_map_bad_arguments(tmp_path, inputs, capsys, extra, match):
    raster, model = inputs
    rc = main(["map", str(raster), "--model", str(model), "--out-dir", str(tmp_path / "o"), "--device", "cpu", *extra])
    assert rc == 2
    _one_error_line(capsys, match)


def test_cuda_without_cuda_is_a_clear_error(tmp_path, inputs, capsys):
    torch = pytest.importorskip("torch")
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    raster, model = inputs
    assert main(["map", str(raster), "--model", str(model), "--out-dir", str(tmp_path / "o"), "--device", "cuda"]) == 2
    _one_error_line(capsys, "no CUDA")
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize(
    ("name", "match"),
    [
        ("bad/corrupt.tif", "corrupt.tif"),
        ("bad/all-nodata.tif", "no valid pixel"),
        ("bad/rotated.tif", "no coordinate reference system"),
        ("bad/no_georef.tif", "georeference it"),
        ("bad/float_nan.tif", "no coordinate reference system"),
    ],
)
def test_bad_files_exit_2_with_one_line(tmp_path, inputs, capsys, name, match):
    _, model = inputs
    rc = main(["map", str(shared(name)), "--model", str(model), "--out-dir", str(tmp_path / "o"), "--device", "cpu"])
    assert rc == 2
    _one_error_line(capsys, match)
    assert not (tmp_path / "o").exists()


def test_search_cli(tmp_path, inputs, capsys):
    raster, model = inputs
    out = tmp_path / "score.tif"
    rc = main(["search", str(raster), "--model", str(model), "--query", "scene:class1>0.05 & objects:car",
               "-o", str(out), "--device", "cpu"])
    assert rc == 0 and out.exists()
    assert "scores" in capsys.readouterr().err
    assert main(["search", str(raster), "--model", str(model), "--query", "scene:nope", "-o", str(out)]) == 2
    _one_error_line(capsys, "no class 'nope'")
