"""The installer's pins are requirements.txt's, and the check reads versions and folders without importing."""

from __future__ import annotations

import re
import sys
from pathlib import Path

from xview_engine.install.requirements import ENGINE_REQUIREMENTS, Requirement, check_requirements, version_key

ROOT = Path(__file__).resolve().parents[2]


def test_pins_are_those_of_requirements_txt():
    pinned = dict(re.findall(r"^([A-Za-z0-9_.-]+)==(\S+)", (ROOT / "requirements.txt").read_text(), re.MULTILINE))
    for req in ENGINE_REQUIREMENTS:
        assert pinned.get(req.dist) == req.pin, req.dist
        assert version_key(req.minimum) <= version_key(req.pin), req.dist


def test_version_key():
    assert version_key("2.14.1+cu130") == (2, 14, 1)
    assert version_key("1.24.2") > version_key("1.9")
    assert version_key("0.29.0rc1") == (0, 29, 0)
    assert version_key("unknown") == ()


def test_check_reports_version_folder_and_state():
    import safetensors

    status, missing, old = check_requirements((
        Requirement("safetensors", "safetensors", "0.8.0", "0.4"),
        Requirement("no-such-dist", "no_such_module_xview", "1.0", "1.0"),
        Requirement("safetensors", "safetensors", "99.0", "99.0"),
    ))
    assert status.state == "ok" and status.location == str(Path(safetensors.__file__).parent)
    assert status.installed == safetensors.__version__
    assert (missing.state, missing.installed, missing.location) == ("missing", None, None)
    assert old.state == "too old" and not old.ok


def test_check_does_not_import(tmp_path, monkeypatch):
    """A package that would crash on import (as a broken torch does) is still found and reported."""
    name = "xview_probe_crashes_on_import"
    (tmp_path / name).mkdir()
    (tmp_path / name / "__init__.py").write_text("raise RuntimeError('imported')\n")
    (tmp_path / f"{name}-1.2.3.dist-info").mkdir()
    metadata = f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.2.3\n"
    (tmp_path / f"{name}-1.2.3.dist-info" / "METADATA").write_text(metadata)
    monkeypatch.syspath_prepend(str(tmp_path))
    status = check_requirements((Requirement(name, name, "1.2.3", "1.0"),))[0]
    assert (status.state, status.installed, status.location) == ("ok", "1.2.3", str(tmp_path / name))
    assert name not in sys.modules
    stdlib = check_requirements((Requirement("json", "json", "0", "0"),))[0]
    assert stdlib.ok and stdlib.installed == "unknown"  # importable, no distribution: trusted
