"""A memo of model files whose tensors already matched their manifest, so start-up skips torch.

The shape check (``model.file``) lays the manifest's network out on torch's ``meta`` device: it
allocates nothing, but importing torch for it costs 1-3 s of every command's start-up, even when
the ONNX runtime then runs without torch. The check's answer depends only on the header (the
manifest and the tensor names and shapes) and on the code that builds networks, so a file whose
header and engine code hash to a key recorded here passed it before and passes it again. Only
successes are recorded: a file that failed is checked, and refused, every time. A read-only or
missing cache folder means no memo, never an error.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from xview_engine.cache import cache_home
from xview_engine.model.header import Header

MEMO_FOLDER = "checked-models"
MODEL_CODE = Path(__file__).resolve().parent  # the networks a manifest builds are defined here


def _code_stamp() -> list[tuple[str, int, int]]:
    """Name, size and modification time of every module that builds networks: an edited engine misses."""
    return sorted((p.name, p.stat().st_size, p.stat().st_mtime_ns) for p in MODEL_CODE.glob("*.py"))


def memo_key(header: Header, manifest_json: str) -> str:
    """SHA-256 of everything the shape check reads: the manifest, each tensor's dtype and shape, the code."""
    tensors = {name: [entry.dtype, list(entry.shape)] for name, entry in sorted(header.tensors.items())}
    text = json.dumps({"manifest": manifest_json, "tensors": tensors, "code": _code_stamp()}, sort_keys=True)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def already_checked(key: str) -> bool:
    """Whether a file with this key passed the shape check before."""
    return (cache_home() / MEMO_FOLDER / key).is_file()


def record_checked(key: str) -> None:
    """Record a passed check; a cache folder that cannot be written is skipped silently (the check runs again)."""
    folder = cache_home() / MEMO_FOLDER
    try:
        folder.mkdir(parents=True, exist_ok=True)
        (folder / key).touch()
    except OSError:
        pass
