"""Shared helpers for the hostile model-file tests: read, edit and rewrite a safetensors header or manifest.

``refused`` asserts that both the cheap manifest read and the full load refuse a file with one message;
the ``model`` fixture (a tiny model file to damage) is in ``tests/model/conftest.py``.
"""

from __future__ import annotations

import json
import struct
from pathlib import Path
from typing import Any, Callable

import pytest

from xview_engine.errors import ModelFileError
from xview_engine.model.file import MANIFEST_KEY, load_model, read_manifest

Header = dict[str, Any]


def split(path: Path) -> tuple[Header, bytes]:
    raw = path.read_bytes()
    (n,) = struct.unpack("<Q", raw[:8])
    return json.loads(raw[8 : 8 + n]), raw[8 + n :]


def write(path: Path, header: Header | bytes, data: bytes) -> Path:
    text = header if isinstance(header, bytes) else json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(text)) + text + data)
    return path


def edit_header(path: Path, edit: Callable[[Header], Any]) -> Path:
    header, data = split(path)
    edit(header)
    return write(path, header, data)


def edit_manifest(path: Path, edit: Callable[[dict[str, Any]], Any]) -> Path:
    def change(header: Header) -> None:
        manifest = json.loads(header["__metadata__"][MANIFEST_KEY])
        edit(manifest)
        header["__metadata__"][MANIFEST_KEY] = json.dumps(manifest)

    return edit_header(path, change)


def refused(path: Path, match: str, error: type[Exception] = ModelFileError) -> None:
    """Both the cheap manifest read and the full load refuse ``path`` with ``match``."""
    for read in (read_manifest, load_model):
        with pytest.raises(error, match=match):
            read(path)


W = "backbone.0.weight"  # F32 (4, 3, 3, 3) at bytes [32, 464) of the data


def first_tensor(header: Header) -> str:
    return min((k for k in header if k != "__metadata__"), key=lambda k: header[k]["data_offsets"][0])



def set_in(*keys: str, value: Any) -> Callable[[dict[str, Any]], None]:
    def edit(manifest: dict[str, Any]) -> None:
        target = manifest
        for key in keys[:-1]:
            target = target[int(key)] if isinstance(target, list) else target[key]
        target[int(keys[-1]) if isinstance(target, list) else keys[-1]] = value

    return edit


def four_bands(manifest: dict[str, Any]) -> None:
    manifest["input"].update(bands=["red", "green", "blue", "nir"], mean=[0.5] * 4, std=[0.5] * 4)

