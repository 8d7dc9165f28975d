"""The `xview` command: help, version, info, export-onnx and the one-line error convention."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from xview_engine import __version__
from xview_engine.cli.main import main
from xview_engine.model.crossview import build_model
from xview_engine.model.file import save_model
from xview_engine.model.manifest import default_manifest


@pytest.fixture
def model_file(tmp_path):
    manifest = default_manifest("tiny_cnn", tile_px=16, width=4, depth=2)
    path = tmp_path / "m.safetensors"
    save_model(build_model(manifest), manifest, path)
    return path


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "xview_engine", *args], capture_output=True, text=True, timeout=120)


def test_version_and_help() -> None:
    result = run_cli("--version")
    assert result.returncode == 0 and result.stdout.strip() == f"xview {__version__}"
    result = run_cli("--help")
    assert result.returncode == 0
    for command in ("info", "export-onnx"):
        assert command in result.stdout


def test_bad_arguments_give_one_line_and_exit_2() -> None:
    result = run_cli("frobnicate")
    assert result.returncode == 2
    assert result.stderr.startswith("xview: error: ") and len(result.stderr.strip().splitlines()) == 1
    result = run_cli("info")
    assert result.returncode == 2 and "the following arguments are required: model" in result.stderr


def test_info_text_and_json(model_file, capsys) -> None:
    assert main(["info", str(model_file)]) == 0
    text = capsys.readouterr().out
    assert "16 px tiles at 0.5 m/px = 8 m on the ground" in text
    assert "places365: dirichlet over 365 places365 labels" in text
    assert main(["info", str(model_file), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["kind"] == "distill" and [h["name"] for h in data["heads"]] == ["places365", "imagenet", "coco"]


def test_info_on_bad_files_is_one_line(tmp_path) -> None:
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"\x80\x04garbage")
    result = run_cli("info", str(bad))
    assert result.returncode == 2
    assert result.stderr.strip() == (
        f"xview: error: {bad} is a pickled PyTorch checkpoint, not a safetensors model file; xview never "
        "unpickles model files (convert the weights to an xview .safetensors model)"
    )
    assert "Traceback" not in result.stderr
    result = run_cli("info", str(tmp_path / "missing.safetensors"))
    assert result.returncode == 2 and "does not exist" in result.stderr


def test_export_onnx_command_refuses_existing_output(model_file, tmp_path, capsys) -> None:
    out = tmp_path / "m.onnx"
    assert main(["export-onnx", str(model_file), "-o", str(out)]) == 0
    assert out.exists() and "wrote" in capsys.readouterr().out
    assert main(["export-onnx", str(model_file), "-o", str(out)]) == 2
    assert "already exists; pass --overwrite" in capsys.readouterr().err
    assert main(["export-onnx", str(model_file), "-o", str(out), "--overwrite"]) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.onnx", "m.safetensors"]
