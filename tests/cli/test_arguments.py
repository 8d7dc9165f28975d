"""Every number an `xview` option takes is bounded and finite: a typed size cannot allocate terabytes.

The parser walk makes sure no option takes a bare ``int`` or ``float``; the cases check the refusals
(one line, exit 2) and that the engine refuses the same sizes when the dock or Processing give them.
"""

from __future__ import annotations

import argparse
import dataclasses
import subprocess
import sys
from pathlib import Path

import pytest
from mapping_fixtures import tiny_model

from xview_engine.cli._numbers import count, number, positive
from xview_engine.cli.localize import parse_weights
from xview_engine.cli.main import UsageError, build_parser, main
from xview_engine.errors import SynthError, TilingError
from xview_engine.limits import MAX_BATCH_SIZE, check_count, check_number
from xview_engine.mapping.plan import GridParams, check_batch_memory, check_params
from xview_engine.model.runtime import read_model_manifest
from xview_engine.raster.grid import make_grid
from xview_engine.synth.params import SynthParams

ROOT = Path(__file__).resolve().parents[2]


def _all_actions(parser: argparse.ArgumentParser, prog: str = "xview"):
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from _all_actions(sub, f"{prog} {name}")
        else:
            yield prog, action


def test_no_option_takes_an_unbounded_number() -> None:
    unbounded = [f"{prog} {'/'.join(a.option_strings)}" for prog, a in _all_actions(build_parser())
                 if a.type in (int, float)]
    assert unbounded == []
    typed = [a for _, a in _all_actions(build_parser())
             if getattr(a.type, "__name__", "") in ("whole number", "number")]
    assert len(typed) >= 40  # every size of every command goes through cli._numbers


@pytest.mark.parametrize("text", ["nan", "inf", "-inf", "1e300", "0", "-1", "x", ""])
def test_positive_number_refuses(text: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError, match="not a number|finite number in"):
        positive(100.0)(text)


@pytest.mark.parametrize("text", ["0", "4097", "1e9", "2.5", "-3", "ten"])
def test_count_refuses(text: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError, match="whole number"):
        count(1, 4096)(text)


def test_bounds_are_inclusive_where_said() -> None:
    assert count(1, 4096)("4096") == 4096 and count(0, 5)("0") == 0
    assert number(0, 1)("1") == 1.0 and number(0, 1)("0") == 0.0
    with pytest.raises(argparse.ArgumentTypeError, match=r"\[0, 1\)"):
        number(0, 1, high_open=True)("1")
    assert check_number("--lr", "0.5", 0, 1, low_open=True) == 0.5
    with pytest.raises(TilingError, match="--batch-size True must be a whole number"):
        check_count("--batch-size", True, 1, 10, TilingError)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["map", "r.tif", "--model", "m", "--out-dir", "o", "--batch-size", "1000000000"],
         "argument --batch-size: 1000000000 must be a whole number from 1 to 4,096"),
        (["map", "r.tif", "--model", "m", "--out-dir", "o", "--stride-m", "1e300"], "argument --stride-m: 1e+300"),
        (["map", "r.tif", "--model", "m", "--out-dir", "o", "--max-tiles", "0"], "argument --max-tiles: 0"),
        (["index", "r.tif", "--model", "m", "-o", "i", "--max-tiles", "100000000000"], "argument --max-tiles"),
        (["search", "r.tif", "--model", "m", "--query", "a", "-o", "s.tif", "--overlap", "nan"], "argument --overlap"),
        (["localize", "p.jpg", "--index", "i", "-o", "h.tif", "--top-k", "99999999"], "argument --top-k"),
        (["localize", "p.jpg", "--index", "i", "-o", "h.tif", "--weights", "scene=nan"], "--weights scene=nan"),
        (["localize", "p.jpg", "--index", "i", "-o", "h.tif", "--weights", "scene=inf"], "--weights scene=inf"),
        (["localize", "p.jpg", "--index", "i", "-o", "h.tif", "--weights", "scene=-1"], "--weights scene=-1"),
        (["retrieve", "--index", "i", "--tile", "1,2", "-o", "d", "--top-k", "5000"], "argument --top-k"),
        (["synth", "-o", "w", "--gsd", "inf"], "argument --gsd: inf"),
        (["synth", "-o", "w", "--photos", "1000000000"], "argument --photos"),
        (["synth", "-o", "w", "--fov", "-5"], "argument --fov: -5 must be a finite number in (0, 360]"),
        (["teach", "p.csv", "--teachers", "x", "-o", "l.npz", "--batch-size", "0"], "argument --batch-size: 0"),
        (["train", "distill", "p.csv", "--labels", "l", "-o", "m", "--hidden", "1000000000"], "argument --hidden"),
        (["train", "distill", "p.csv", "--labels", "l", "-o", "m", "--lr", "nan"], "argument --lr: nan"),
        (["train", "distill", "p.csv", "--labels", "l", "-o", "m", "--backbone-option", "width=1048576"],
         "--backbone-option width=1048576 must be a whole number from 0 to 65,536"),
        (["train", "siamese", "p.csv", "--raster", "r", "-o", "m", "--photo-px", "100000,2"], "--photo-px 100000"),
        (["train", "siamese", "p.csv", "--raster", "r", "-o", "m", "--epochs", "-1"], "argument --epochs"),
        (["train", "teacher", "l.npz", "-o", "t", "--width", "1000000"], "argument --width"),
        (["verify", "--pairs", "p.csv", "--index", "i", "-o", "d", "--negatives", "100000000"], "argument --negatives"),
        (["features", "--teachers", "x", "-o", "k", "--tile-px", "100000"], "argument --tile-px"),
        (["demo", "--size-m", "1e300"], "argument --size-m"),
    ],
)
def test_out_of_range_arguments_are_one_line(tmp_path, monkeypatch, capsys, argv, message) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("xview: error: ") and err.count("\n") == 1 and message in err, err
    assert list(tmp_path.iterdir()) == []


def test_weights_parse_finite_non_negative_numbers() -> None:
    assert parse_weights("scene=1, count=0.5,object=0") == {"scene": 1.0, "count": 0.5, "object": 0.0}
    for bad in ("scene", "=1", "scene=x", "scene=1e400"):
        with pytest.raises(UsageError, match="--weights"):
            parse_weights(bad)


def test_engine_refuses_the_same_sizes(tmp_path) -> None:
    model = tiny_model(tmp_path / "m.safetensors", gsd_m=0.5)
    with pytest.raises(TilingError, match="--batch-size 1000000000 must be a whole number from 1 to 4,096"):
        check_params(GridParams(raster="r.tif", model=str(model), batch_size=10**9))
    with pytest.raises(TilingError, match="--max-tiles 0"):
        check_params(GridParams(raster="r.tif", model=str(model), max_tiles=0))
    with pytest.raises(TilingError, match="--stride-m 1e\\+300 must be a positive number of metres, at most"):
        make_grid((0, 0, 1000, 1000), "EPSG:32633", 16, 0.5, stride_m=1e300)
    manifest = read_model_manifest(model)
    check_batch_memory(MAX_BATCH_SIZE, manifest)  # 4096 tiles of 3 x 16 x 16: 12 MiB
    big = dataclasses.replace(manifest, input=dataclasses.replace(manifest.input, tile_px=2048))
    with pytest.raises(TilingError, match="needs 192.0 GiB per batch"):
        check_batch_memory(4096, big)


def test_synth_fov_choices() -> None:
    assert SynthParams(fov=45).photo_shape == (192, 256)  # a pinhole camera renders any angle under 180
    assert SynthParams(fov=360).panorama and SynthParams(fov=360).photo_shape == (128, 512)
    for fov, shape in ((180, (128, 256)), (270, (128, 384)), (359.9, (128, 512))):  # cylindrical crops
        assert SynthParams(fov=fov).cylindrical and not SynthParams(fov=fov).panorama
        assert SynthParams(fov=fov).photo_shape == shape
    assert not SynthParams(fov=179.9).cylindrical
    for bad in (0, -1, 360.5, float("nan")):
        with pytest.raises(SynthError, match="not a field of view synth can render"):
            SynthParams(fov=bad)


def test_bad_size_through_the_real_command_leaves_nothing(tmp_path) -> None:
    out = tmp_path / "maps"
    result = subprocess.run([sys.executable, "-m", "xview_engine", "map", "r.tif", "--model", "m.safetensors",
                             "--out-dir", str(out), "--batch-size", "1000000000"], capture_output=True, text=True,
                            env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"}, timeout=120, cwd=tmp_path)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr.startswith("xview: error: argument --batch-size") and result.stderr.count("\n") == 1
    assert list(tmp_path.iterdir()) == []
