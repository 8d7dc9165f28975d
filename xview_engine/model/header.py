"""The safetensors header of a model file, read and checked by hand before any tensor or module exists.

A safetensors file is an 8-byte little-endian header length, a JSON header (each tensor's dtype,
shape and byte span in the data section, plus a ``__metadata__`` map of strings) and the data.
Everything a hostile or damaged file can put there is checked here, each with its own message:
a length larger than the file, a header that is not UTF-8 JSON or is nested without end, entries
that are not objects, unknown dtypes, shapes whose byte size is not their span, spans that overlap,
leave holes or run past the end. Only then are tensor shapes compared with what the manifest
describes (``model.file``), so a manifest can never make xview allocate more than the file holds.
"""

from __future__ import annotations

import json
import math
import reprlib
import struct
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from xview_engine.errors import ModelFileError

MAX_HEADER_BYTES = 100 * 1024 * 1024  # the safetensors library's own limit
MAX_RANK = 8
MAX_NESTING = 32  # JSON levels: a manifest needs 4; deeper ones would only overflow printing and copying
PICKLE_MAGICS = (b"\x80", b"PK\x03\x04")  # pickle protocol >= 2; torch.save's zip container
# bytes per element of every dtype safetensors writes whole bytes for
DTYPE_BYTES = {"BOOL": 1, "U8": 1, "I8": 1, "F8_E5M2": 1, "F8_E4M3": 1, "I16": 2, "U16": 2, "F16": 2, "BF16": 2,
               "I32": 4, "U32": 4, "F32": 4, "I64": 8, "U64": 8, "F64": 8}
METADATA = "__metadata__"


@dataclass(frozen=True)
class TensorEntry:
    """One tensor as the header describes it: dtype, shape and its byte span [start, end) in the data."""

    dtype: str
    shape: tuple[int, ...]
    start: int
    end: int


@dataclass(frozen=True)
class Header:
    """A checked safetensors header: its tensors by name, its string metadata, the data section size."""

    tensors: dict[str, TensorEntry]
    metadata: dict[str, str]
    data_size: int


def read_header(path: str | Path) -> Header:
    """Read and check the header of ``path``; nothing past the header is read."""
    path = Path(path)
    if not path.exists():
        raise ModelFileError(f"model file {path} does not exist")
    if not path.is_file():
        raise ModelFileError(f"model file {path} is not a file")
    try:
        size = path.stat().st_size
        with path.open("rb") as f:
            head = f.read(9)
            header_len = _header_length(head, size, path)
            raw = head[8:] + f.read(header_len - 1)
    except OSError as exc:
        raise ModelFileError(f"model file {path} cannot be read ({exc.strerror or exc})") from None
    header = parse_json_object(raw, f"{path} is not a safetensors file: its header", ModelFileError)
    data_size = size - 8 - header_len
    metadata = header.pop(METADATA, None)
    metadata = _metadata({} if metadata is None else metadata, path)
    tensors = {name: _entry(name, value, path) for name, value in header.items()}
    _check_layout(tensors, data_size, path)
    return Header(tensors, metadata, data_size)


def _header_length(head: bytes, size: int, path: Path) -> int:
    """The header length from the first 9 bytes (the length, then the header's opening brace)."""
    if size == 0:
        raise ModelFileError(f"model file {path} is empty (0 bytes); re-download or re-export it")
    header_len = struct.unpack("<Q", head[:8])[0] if len(head) >= 8 else -1
    plausible = 2 <= header_len <= min(size - 8, MAX_HEADER_BYTES)
    # a header length whose low byte is 0x80 starts like a pickle: the brace after it tells them apart
    if head.startswith(PICKLE_MAGICS) and not (plausible and head[8:9] == b"{"):
        raise ModelFileError(
            f"{path} is a pickled PyTorch checkpoint, not a safetensors model file; xview never "
            "unpickles model files (convert the weights to an xview .safetensors model)"
        )
    if len(head) < 8:
        raise ModelFileError(f"model file {path} is empty or truncated ({size} bytes)")
    if not plausible:
        raise ModelFileError(
            f"{path} is not a safetensors file or is truncated (header length {header_len}, file size {size} bytes)"
        )
    return header_len


def parse_json_object(raw: bytes | str, what: str, error: type[ModelFileError]) -> dict[str, Any]:
    """Strict JSON (UTF-8, no NaN, no repeated key, nesting bounded) that must be an object.

    ``what`` opens each message ("M's header" -> "M's header is not valid JSON (...)").
    """
    try:
        text = raw.decode("utf-8") if isinstance(raw, bytes) else raw
        data = json.loads(text, object_pairs_hook=_unique_keys, parse_constant=_no_constant)
    except RecursionError:
        raise error(f"{what} is nested too deeply to be read") from None
    except UnicodeDecodeError:
        raise error(f"{what} is not UTF-8 text") from None
    except ValueError as exc:  # JSONDecodeError, a repeated key, NaN, an integer of thousands of digits
        detail = f"{exc.msg} at character {exc.pos}" if isinstance(exc, json.JSONDecodeError) else str(exc)
        raise error(f"{what} is not valid JSON ({detail})") from None
    if not isinstance(data, dict):
        raise error(f"{what} is a JSON {type(data).__name__}, not an object")
    if nesting_depth(data) > MAX_NESTING:
        raise error(f"{what} is nested more than {MAX_NESTING} levels deep")
    return data


def nesting_depth(value: Any) -> int:
    """How deeply lists and objects nest in parsed JSON, counted without recursion."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, (dict, list)):
            deepest = max(deepest, depth)
            stack.extend((child, depth + 1) for child in (item.values() if isinstance(item, dict) else item))
    return deepest


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    data: dict[str, Any] = {}
    for key, value in pairs:
        if key in data:
            raise ValueError(f"the key {key!r} appears twice")
        data[key] = value
    return data


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _metadata(value: Any, path: Path) -> dict[str, str]:
    if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
        raise ModelFileError(f"model file {path}: the header's {METADATA} must map names to strings")
    return value


def _entry(name: str, value: Any, path: Path) -> TensorEntry:
    where = f"model file {path}: header entry '{name}'"
    if not isinstance(value, dict):
        raise ModelFileError(f"{where} is a {type(value).__name__}, not an object with dtype, shape, data_offsets")
    dtype, shape, offsets = value.get("dtype"), value.get("shape"), value.get("data_offsets")
    if not isinstance(dtype, str) or dtype not in DTYPE_BYTES:
        raise ModelFileError(f"{where} has an unknown dtype {_short(dtype)} (known: {', '.join(DTYPE_BYTES)})")
    if not (isinstance(shape, list) and len(shape) <= MAX_RANK and all(_count(v) for v in shape)):
        raise ModelFileError(f"{where}: shape must be a list of at most {MAX_RANK} non-negative integers, "
                             f"got {_short(shape)}")
    if not (isinstance(offsets, list) and len(offsets) == 2 and all(_count(v) for v in offsets)):
        raise ModelFileError(f"{where}: data_offsets must be [start, end], two non-negative integers, "
                             f"got {_short(offsets)}")
    start, end = offsets
    span = math.prod(shape) * DTYPE_BYTES[dtype]
    if end < start or end - start != span:
        raise ModelFileError(f"{where}: a {dtype} tensor of shape {shape} takes {span} bytes but its data_offsets "
                             f"[{start}, {end}] span {end - start}")
    return TensorEntry(dtype, tuple(shape), start, end)


def _count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _short(value: Any) -> str:
    return reprlib.repr(value)  # bounded work and length, whatever the header holds


def _check_layout(tensors: Mapping[str, TensorEntry], data_size: int, path: Path) -> None:
    """Spans must tile the data section exactly, as the safetensors library requires."""
    needed = max((entry.end for entry in tensors.values()), default=0)
    if needed > data_size:
        raise ModelFileError(f"model file {path} is truncated: its tensors need {needed} bytes but only {data_size} "
                             "are there (re-download or re-export it)")
    position, previous = 0, None
    for name, entry in sorted(tensors.items(), key=lambda item: (item[1].start, item[1].end)):
        if entry.start != position:
            how = f"overlaps tensor '{previous}'" if entry.start < position else "leaves a hole before it"
            raise ModelFileError(f"model file {path}: tensor '{name}' starts at byte {entry.start} and {how} "
                                 "(the data section is damaged; re-export the model)")
        position, previous = entry.end, name
    if position != data_size:
        raise ModelFileError(f"model file {path} has {data_size - position} bytes after its last tensor "
                             "(damaged or not a safetensors file)")
