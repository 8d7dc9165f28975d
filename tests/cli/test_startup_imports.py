"""Start-up: help, argument errors and reading a model's manifest import no heavy module (torch above all)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
MODEL = ROOT / "resources" / "models" / "xview-synthetic-default.safetensors"
HEAVY = ("torch", "numpy", "rasterio", "onnxruntime", "scipy")


def _loaded_after(code: str) -> list[str]:
    """The heavy modules a fresh interpreter holds after running ``code``."""
    probe = f"{code}\nimport json, sys\nprint(json.dumps([m for m in {HEAVY!r} if m in sys.modules]))"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, env=env, timeout=120)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("argv", [["--help"], ["map", "--help"], ["map", "r.tif"], ["frobnicate"],
                                  ["weights", "list"], ["weights", "path", "imagenet:resnet50"]])
def test_help_and_argument_errors_import_nothing_heavy(argv) -> None:
    code = f"from xview_engine.cli.main import main\nrc = main({argv!r})\nassert rc in (0, 2), rc"
    assert _loaded_after(code) == []


def test_reading_a_model_header_does_not_import_torch() -> None:
    """The header and its manifest JSON are read without torch; the manifest's checks (reserved head
    names, the network laid out on the ``meta`` device) load it afterwards."""
    code = (f"import json\nfrom xview_engine.model.header import read_header\n"
            f"json.loads(read_header({str(MODEL)!r}).metadata['xview_manifest'])")
    assert "torch" not in _loaded_after(code)


def test_the_map_tool_imports_without_torch() -> None:
    """`xview map` with an ONNX model must not pay for torch: the mapping modules themselves need none."""
    assert "torch" not in _loaded_after("import xview_engine.mapping.map, xview_engine.mapping.search")
