"""Generated hostile model files, and model-file faults through the `xview` command.

A seeded generator mutates a real model file (every manifest field, header entries, single header
bytes, truncations) a few hundred times: each mutant loads and runs, or raises ModelFileError with one
line; never another exception. The CLI cases assert exit 2, one `xview: error:` line, no traceback.
"""

from __future__ import annotations

import json
import random
import struct
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from model_file_fixtures import Header, edit_header, edit_manifest, first_tensor, set_in, split
from test_faults import assert_one_line_error, finish, inputs, xview  # noqa: F401  (fixture)

from xview_engine.errors import ModelFileError
from xview_engine.model.file import MANIFEST_KEY, load_model

# --- generated hostile files --------------------------------------------------------------------------------------

HOSTILE_VALUES: list[Any] = [
    -1, 0, 1, 3, 2**31, 2**64, 10**400, 0.5, -0.0, 1e308, True, False, None, "", "x", "F32", "a.b", [], [0], [-1, 2],
    [0.5, 0.5], ["red"], {}, {"a": 1}, [[[]]], "nan", 1e999,
]


def _paths(value: Any, prefix: tuple = ()) -> list[tuple]:
    """Every path to a value in parsed JSON."""
    found = [prefix] if prefix else []
    if isinstance(value, dict):
        for key, child in value.items():
            found += _paths(child, (*prefix, key))
    elif isinstance(value, list):
        for k, child in enumerate(value[:4]):  # the first few items of long label lists are enough
            found += _paths(child, (*prefix, k))
    return found


def _replace(tree: Any, path: tuple, value: Any) -> None:
    for key in path[:-1]:
        tree = tree[key]
    tree[path[-1]] = value


def _mutants(model: Path, rng: random.Random) -> list[tuple[str, bytes]]:
    raw = model.read_bytes()
    header, data = split(model)
    manifest = json.loads(header["__metadata__"][MANIFEST_KEY])
    out = []
    for path in _paths(manifest):
        for value in rng.sample(HOSTILE_VALUES, 3):
            changed = json.loads(json.dumps(manifest))
            _replace(changed, path, value)
            edited = {**header, "__metadata__": {MANIFEST_KEY: json.dumps(changed)}}
            out.append((f"manifest {path} = {value!r}", _bytes(edited, data)))
    header_paths = [p for p in _paths(header) if p[0] != "__metadata__" or len(p) == 1]
    for path in rng.sample(header_paths, 60):
        value = rng.choice(HOSTILE_VALUES)
        changed = json.loads(json.dumps(header))
        _replace(changed, path, value)
        out.append((f"header {path} = {value!r}", _bytes(changed, data)))
    header_end = 8 + struct.unpack("<Q", raw[:8])[0]
    for _ in range(80):
        at, flipped = rng.randrange(header_end), bytearray(raw)
        flipped[at] = rng.randrange(256)
        out.append((f"byte {at} = {flipped[at]}", bytes(flipped)))
    out += [(f"first {n} bytes", raw[:n]) for n in rng.sample(range(len(raw)), 40)]
    return out


def _bytes(header: Header, data: bytes) -> bytes:
    text = json.dumps(header).encode()
    return struct.pack("<Q", len(text)) + text + data


def test_generated_hostile_files_load_or_fail_cleanly(model, tmp_path) -> None:
    """Any mutant either loads (and runs) or raises ModelFileError: never another exception, never a build."""
    outcomes = {"loaded": 0, "refused": 0}
    path = tmp_path / "mutant.safetensors"
    for what, content in _mutants(model, random.Random(11)):
        path.write_bytes(content)
        try:
            loaded = load_model(path)
        except ModelFileError as exc:
            assert "\n" not in str(exc), what
            outcomes["refused"] += 1
            continue
        except Exception as exc:  # pragma: no cover - the failure message is the point
            pytest.fail(f"{what}: {type(exc).__name__}: {exc}")
        outcomes["loaded"] += 1
        size = loaded.manifest.input.tile_px
        out = loaded.model(torch.zeros(1, len(loaded.manifest.input.bands), size, size))
        assert all(np.isfinite(v.detach().numpy()).all() for v in out.values()), what
    assert outcomes["refused"] > 250 and outcomes["loaded"] > 5, outcomes


# --- through the command line -------------------------------------------------------------------------------------

def test_info_on_a_hostile_header_is_one_line(model, tmp_path) -> None:
    edit_header(model, lambda h: h.update({first_tensor(h): {"dtype": "F32", "shape": [1], "data_offsets": [0]}}))
    code, err = finish(xview("info", str(model)))
    assert_one_line_error(code, err, str(model), "data_offsets must be [start, end]")
    (tmp_path / "zero.safetensors").write_bytes(b"")
    code, err = finish(xview("info", str(tmp_path / "zero.safetensors")))
    assert_one_line_error(code, err, "is empty (0 bytes)")


def test_map_with_a_model_too_big_for_its_tensors_is_one_line(inputs, tmp_path) -> None:  # noqa: F811
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(inputs["model"].read_bytes())
    edit_manifest(bad, set_in("hidden", value=65536))
    out = tmp_path / "out"
    code, err = finish(xview("map", str(inputs["raster"]), "--model", str(bad), "--out-dir", str(out)))
    assert_one_line_error(code, err, "tensors do not match the manifest", "hidden 65536")
    assert not out.exists() or not any(out.iterdir())


