"""Finding QGIS' Python from fake install layouts (Debian, OSGeo4W, macOS bundle, pyenv shim), and PEP 668."""

from __future__ import annotations

import sysconfig
from pathlib import Path

import pytest

from xview_engine.errors import InstallError
from xview_engine.install.interpreter import PythonInfo, externally_managed, find_python


def _file(path: Path, content: bytes = b"\x7fELF binary") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)
    return path


def test_debian_qgis_binary_finds_prefix_bin_python(tmp_path):
    qgis = _file(tmp_path / "usr" / "bin" / "qgis")
    python = _file(tmp_path / "usr" / "bin" / "python3.11")
    info = PythonInfo(str(qgis), "", str(tmp_path / "usr"), str(tmp_path / "usr"), (3, 11), windows=False)
    assert find_python(info) == python


def test_qgis_process_with_base_executable(tmp_path):
    qgis_process = _file(tmp_path / "bin" / "qgis_process")
    base = _file(tmp_path / "opt" / "python" / "bin" / "python3")
    info = PythonInfo(str(qgis_process), str(base), str(tmp_path / "nothing"), str(tmp_path / "nothing"), (3, 11),
                      windows=False)
    assert find_python(info) == base


def test_osgeo4w_qgis_bin_exe_finds_apps_python(tmp_path):
    root = tmp_path / "OSGeo4W"
    qgis = _file(root / "bin" / "qgis-bin.exe")
    python = _file(root / "apps" / "Python312" / "python.exe")
    info = PythonInfo(str(qgis), "", str(root / "apps" / "Python312"), str(root / "apps" / "Python312"), (3, 12),
                      windows=True)
    assert find_python(info) == python


def test_osgeo4w_python_found_from_the_root_prefix(tmp_path):
    root = tmp_path / "OSGeo4W"
    python = _file(root / "apps" / "Python39" / "python.exe")
    info = PythonInfo(str(_file(root / "bin" / "qgis-ltr-bin.exe")), "", str(root), str(root), (3, 9), windows=True)
    assert find_python(info) == python


def test_macos_bundle(tmp_path):
    contents = tmp_path / "QGIS.app" / "Contents"
    qgis = _file(contents / "MacOS" / "QGIS")
    prefix = contents / "Frameworks" / "Python.framework" / "Versions" / "3.10"
    python = _file(prefix / "bin" / "python3.10")
    info = PythonInfo(str(qgis), "", str(prefix), str(prefix), (3, 10), windows=False)
    assert find_python(info) == python


def test_pyenv_shim_is_skipped_for_the_real_python(tmp_path):
    script = b'#!/usr/bin/env bash\nexec "/root/.pyenv/libexec/pyenv" exec'
    shim = _file(tmp_path / ".pyenv" / "shims" / "python3", script)
    real = _file(tmp_path / "usr" / "bin" / "python3")
    info = PythonInfo(str(shim), str(shim), str(tmp_path / "usr"), str(tmp_path / "usr"), (3, 11), windows=False)
    assert find_python(info) == real


def test_a_python_executable_is_used_as_it_is(tmp_path):
    python = _file(tmp_path / "venv" / "bin" / "python")
    info = PythonInfo(str(python), "", str(tmp_path / "elsewhere"), str(tmp_path / "elsewhere"), (3, 11), windows=False)
    assert find_python(info) == python


def test_nothing_found_is_one_clear_error(tmp_path):
    qgis = _file(tmp_path / "bin" / "qgis")
    info = PythonInfo(str(qgis), "", str(tmp_path), str(tmp_path), (3, 11), windows=False)
    with pytest.raises(InstallError, match=r"cannot find the Python interpreter of this QGIS \(Python 3.11"):
        find_python(info)


def test_externally_managed_marker(tmp_path):
    assert not externally_managed(str(tmp_path))
    (tmp_path / "EXTERNALLY-MANAGED").write_text("[externally-managed]\nError=use apt\n")
    assert externally_managed(str(tmp_path))


def test_externally_managed_reads_this_pythons_stdlib():
    marker = Path(sysconfig.get_paths()["stdlib"], "EXTERNALLY-MANAGED")
    assert externally_managed() == marker.is_file()
