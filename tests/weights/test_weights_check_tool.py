"""``make weights-check`` (tools/weights_check.py) against a loopback server: what it prints and when it fails.

The real run needs internet and a person; here the registry points at loopback copies: one that
matches and loads, one whose bytes differ from the record, one without a recorded digest.
"""

from __future__ import annotations

import hashlib
import importlib.util
import io
from pathlib import Path

import torch
import torchvision
from weights_fixtures import loopback, online, registered  # noqa: F401

from xview_engine.weights import cached_path

SCRIPT = Path(__file__).resolve().parents[2] / "tools" / "weights_check.py"


def _tool():
    spec = importlib.util.spec_from_file_location("xview_weights_check_under_test", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _state_bytes(net: torch.nn.Module) -> bytes:
    buffer = io.BytesIO()
    torch.save(net.state_dict(), buffer)
    return buffer.getvalue()


def test_matching_files_load_and_unrecorded_digests_are_printed(loopback, online, monkeypatch, tmp_path, capsys):  # noqa: F811
    monkeypatch.setenv("XVIEW_HOME", str(tmp_path / "home"))
    torch.manual_seed(7)
    small = _state_bytes(torchvision.models.mobilenet_v3_small(weights=None))
    registered(monkeypatch, "imagenet:mobilenet_v3_small", small, loopback)
    places = _state_bytes(torchvision.models.resnet18(weights=None, num_classes=365))
    entry = registered(monkeypatch, "places365:resnet18", places, loopback, digest=None)
    assert _tool().main(["imagenet:mobilenet_v3_small", "places365:resnet18", "--keep",
                         "--dir", str(tmp_path / "scratch")]) == 0
    out = capsys.readouterr().out
    assert "imagenet:mobilenet_v3_small   ok\n" in out and "places365:resnet18            ok, not fully recorded" in out
    digest = hashlib.sha256(places).hexdigest()
    assert out.endswith(f"to record in xview_engine/weights/registry.py:\n  places365:resnet18: size "
                        f"{len(places):_}, sha256 '{digest}'\n")
    assert cached_path(entry).read_bytes() == places  # --keep: into the cache, stamped
    assert (cached_path(entry).parent / (cached_path(entry).name + ".verified")).is_file()


def test_a_file_that_differs_or_does_not_load_fails(loopback, online, monkeypatch, tmp_path, capsys):  # noqa: F811
    registered(monkeypatch, "imagenet:resnet34", b"not these bytes", loopback, digest="1" * 64)
    registered(monkeypatch, "coco:fasterrcnn", b"no checkpoint at all", loopback)
    assert _tool().main(["imagenet:resnet34", "coco:fasterrcnn", "--dir", str(tmp_path)]) == 1
    out = capsys.readouterr().out
    assert "imagenet:resnet34             differs from the registry" in out
    assert "coco:fasterrcnn               does not load: " in out and "loaded safely" in out
