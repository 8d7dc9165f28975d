"""The safetensors header of a model file: each way its framing, JSON, entries or byte layout can be
damaged is its own one-line ModelFileError, read from the header alone (no tensor is loaded).

Also here: the other binary inputs np.load would call "pickled data" when they are merely empty.
"""

from __future__ import annotations

import json
import struct
from typing import Any, Callable

import pytest
from model_file_fixtures import Header, W, edit_header, refused, split, write

from xview_engine.model.file import load_model, read_manifest

# --- the header's framing and JSON -----------------------------------------------------------------------------

def test_empty_and_tiny_files(tmp_path) -> None:
    (tmp_path / "zero.safetensors").write_bytes(b"")
    refused(tmp_path / "zero.safetensors", r"is empty \(0 bytes\)")
    (tmp_path / "three.safetensors").write_bytes(b"abc")
    refused(tmp_path / "three.safetensors", r"empty or truncated \(3 bytes\)")


@pytest.mark.parametrize("length", [2**63, 2**40, 10**6, 1, 0])
def test_absurd_header_length(model, length) -> None:
    raw = model.read_bytes()
    model.write_bytes(struct.pack("<Q", length) + raw[8:])
    refused(model, f"header length {length}, file size {len(raw)} bytes")


@pytest.mark.parametrize(
    ("text", "match"),
    [
        (b"not json!!", "header is not valid JSON"),
        (b"\xff\xfe{}", "header is not UTF-8 text"),
        (b"[1, 2]", "header is a JSON list, not an object"),
        (b'"x"', "header is a JSON str, not an object"),
        (b"[" * 100_000 + b"]" * 100_000, "header is nested too deeply"),
        (b'{"a":' + b"[" * 40 + b"]" * 40 + b"}", "header is nested more than 32 levels"),
        (b'{"a": NaN}', "NaN is not a JSON number"),
        (b'{"a": 1, "a": 2}', "the key 'a' appears twice"),
        (b'{"a": ' + b"9" * 5000 + b"}", "header is not valid JSON"),
    ],
)
def test_header_that_is_not_a_json_object(tmp_path, text, match) -> None:
    refused(write(tmp_path / "h.safetensors", text, b""), match)


# --- header entries ----------------------------------------------------------------------------------------------

def _set(key: str, value: Any) -> Callable[[Header], None]:
    def edit(header: Header) -> None:
        header[W][key] = value

    return edit


@pytest.mark.parametrize(
    ("edit", "match"),
    [
        (lambda h: h.update({"__metadata__": ["x"]}), "__metadata__ must map names to strings"),
        (lambda h: h["__metadata__"].update({"note": 3}), "__metadata__ must map names to strings"),
        (lambda h: h.update({W: 5}), f"entry '{W}' is a int, not an object"),
        (lambda h: h.update({W: [1, 2]}), "is a list, not an object"),
        (_set("dtype", "F128"), "unknown dtype 'F128'"),
        (_set("dtype", ["F32"]), r"unknown dtype \['F32'\]"),
        (_set("shape", "4,3"), "shape must be a list"),
        (_set("shape", [-4, 3, 3, 3]), "shape must be a list"),
        (_set("shape", [4.0, 3, 3, 3]), "shape must be a list"),
        (_set("shape", [True, 3, 3, 3]), "shape must be a list"),
        (_set("shape", [1] * 9), "at most 8"),
        (_set("shape", [4, 3, 3, 4]), "takes 576 bytes but its data_offsets"),
        (_set("data_offsets", [32]), r"data_offsets must be \[start, end\]"),
        (_set("data_offsets", ["32", "464"]), r"data_offsets must be \[start, end\]"),
        (_set("data_offsets", [-400, 32]), r"data_offsets must be \[start, end\]"),
        (_set("data_offsets", [32.0, 464.0]), r"data_offsets must be \[start, end\]"),
        (_set("data_offsets", None), r"data_offsets must be \[start, end\]"),
        (_set("data_offsets", [464, 32]), r"data_offsets \[464, 32\] span -432"),
    ],
)
def test_malformed_header_entries(model, edit, match) -> None:
    refused(edit_header(model, edit), match)


def test_offsets_that_overlap_leave_holes_or_run_past_the_end(model, tmp_path) -> None:
    header, data = split(model)
    names = sorted((k for k in header if k != "__metadata__"), key=lambda k: header[k]["data_offsets"][0])
    second = header[names[1]]
    start, end = second["data_offsets"]
    overlapping = json.loads(json.dumps(header))
    overlapping[names[1]]["data_offsets"] = [start - 4, end - 4]
    refused(write(tmp_path / "a.safetensors", overlapping, data), f"overlaps tensor '{names[0]}'")
    holed = {k: v for k, v in header.items() if k != names[1]}
    refused(write(tmp_path / "b.safetensors", holed, data), "leaves a hole before it")
    refused(write(tmp_path / "c.safetensors", header, data + b"\0" * 16), "16 bytes after its last tensor")
    refused(write(tmp_path / "d.safetensors", header, data[:-16]), "is truncated: its tensors need")
    far = json.loads(json.dumps(header))
    last_start, last_end = header[names[-1]]["data_offsets"]
    far[names[-1]]["data_offsets"] = [2**62, 2**62 + last_end - last_start]
    refused(write(tmp_path / "e.safetensors", far, data), "is truncated")



def test_a_header_length_that_starts_like_a_pickle_still_loads(model, tmp_path) -> None:
    """A length whose low byte is 0x80 (pickle's first byte) is a safetensors file when '{' follows."""
    header, data = split(model)
    text = json.dumps(header).encode()
    text += b" " * ((0x80 - len(text)) % 256)  # safetensors pads its header with spaces too
    path = write(tmp_path / "m.safetensors", text, data)
    assert path.read_bytes()[0] == 0x80
    assert load_model(path).manifest == read_manifest(model)


def test_zero_byte_label_and_index_arrays_are_named_empty_not_pickled(tmp_path) -> None:
    """np.load calls any file that is neither a zip nor .npy "pickled data"; xview says what it really is."""
    from xview_engine.data.label_files import read_label_file
    from xview_engine.errors import IndexFileError, LabelFileError
    from xview_engine.localization.index import _load

    (tmp_path / "labels.npz").write_bytes(b"")
    with pytest.raises(LabelFileError, match=r"labels.npz is not an .npz label file \(it is empty\)"):
        read_label_file(tmp_path / "labels.npz")
    (tmp_path / "labels.npz").write_bytes(b"\x80\x04junk")
    with pytest.raises(LabelFileError, match=r"not an .npz label file \(it is not a zip of arrays\)") as caught:
        read_label_file(tmp_path / "labels.npz")
    assert "pickled" not in str(caught.value)
    (tmp_path / "scene.npy").write_bytes(b"")
    with pytest.raises(IndexFileError, match=r"scene.npy is missing or damaged \(empty\)"):
        _load(tmp_path, "scene.npy", (2, 3))
