"""The shape-check memo: a model file checked once starts later commands without torch, a bad one never passes."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from model_file_fixtures import edit_manifest, set_in

from xview_engine.errors import ModelFileError
from xview_engine.model import shape_memo
from xview_engine.model.crossview import build_model
from xview_engine.model.file import read_manifest, save_model
from xview_engine.model.header import read_header
from xview_engine.model.manifest import (
    MODULE_DICT_ATTRIBUTES,
    BackboneSpec,
    HeadSpec,
    InputSpec,
    Manifest,
    reserved_head_name,
)

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def model(tmp_path: Path, monkeypatch) -> Path:
    monkeypatch.setenv("XVIEW_HOME", str(tmp_path / "home"))
    manifest = Manifest(kind="distill", backbone=BackboneSpec("tiny_cnn", {"width": 4, "depth": 2}),
                        input=InputSpec(tile_px=16, gsd_m=2.0),
                        heads=(HeadSpec("scene", "dirichlet", ("a", "b", "c"), "places365"),), hidden=8)
    path = tmp_path / "tiny.safetensors"
    save_model(build_model(manifest, seed=1), manifest, path)
    return path


def _key(path: Path) -> str:
    header = read_header(path)
    return shape_memo.memo_key(header, header.metadata["xview_manifest"])


def test_a_checked_file_is_recorded_and_a_second_process_reads_it_without_torch(model: Path, tmp_path) -> None:
    assert not shape_memo.already_checked(_key(model))
    read_manifest(model)
    assert shape_memo.already_checked(_key(model))
    code = ("import sys; from xview_engine.model.file import read_manifest; "
            f"m = read_manifest({str(model)!r}); print(m.heads[0].name, 'torch' in sys.modules)")
    env = {"XVIEW_HOME": str(tmp_path / "home"), "PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    assert out.stdout.split() == ["scene", "False"]


def test_a_file_whose_tensors_disagree_is_refused_every_time(model: Path) -> None:
    read_manifest(model)  # the good file is memoised...
    edit_manifest(model, set_in("hidden", value=16))  # ...then its manifest no longer fits its tensors
    for _ in range(2):
        with pytest.raises(ModelFileError, match="tensors do not match the manifest"):
            read_manifest(model)
    assert not shape_memo.already_checked(_key(model))


def test_the_key_covers_the_manifest_the_shapes_and_the_engine_code(model: Path, monkeypatch) -> None:
    header = read_header(model)
    text = header.metadata["xview_manifest"]
    key = shape_memo.memo_key(header, text)
    assert shape_memo.memo_key(header, text.replace('"hidden":8', '"hidden":9')) != key
    entry = next(iter(header.tensors.values()))
    reshaped = type(header)({**header.tensors, "extra": entry}, header.metadata, header.data_size)
    assert shape_memo.memo_key(reshaped, text) != key
    monkeypatch.setattr(shape_memo, "_code_stamp", lambda: [("backbones.py", 1, 2)])
    assert shape_memo.memo_key(header, text) != key


def test_a_read_only_cache_folder_means_no_memo(model: Path, tmp_path, monkeypatch) -> None:
    blocked = tmp_path / "not-a-folder"
    blocked.write_text("a file where the cache folder would go")
    monkeypatch.setenv("XVIEW_HOME", str(blocked))
    assert read_manifest(model).heads[0].name == "scene"
    assert not shape_memo.already_checked(_key(model))


def test_reserved_head_names_cover_every_attribute_of_the_installed_torch() -> None:
    from torch import nn

    public = {name for name in dir(nn.ModuleDict()) if not name.startswith("_")}
    assert public <= MODULE_DICT_ATTRIBUTES, sorted(public - MODULE_DICT_ATTRIBUTES)
    assert reserved_head_name("keys") and reserved_head_name("_modules") and reserved_head_name("__class__")
    assert not reserved_head_name("scene")
