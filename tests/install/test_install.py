"""The installer for real: QGIS' own Python makes the engine folder in a throwaway QGIS profile and pip
fills it from the local package source (the one ``make setup`` uses), then a fresh QGIS process imports
from it through the path the plugin adds at start-up. Small dependency sets keep each run to seconds.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from xview_engine.errors import Cancelled, InstallError
from xview_engine.install.bootstrap import engine_folder
from xview_engine.install.plan import make_plan, read_record, site_dir
from xview_engine.install.requirements import ENGINE_REQUIREMENTS, Requirement
from xview_engine.install.run import run_install
from xview_engine.progress import Terminated, request_stop, stop_requested

ROOT = Path(__file__).resolve().parents[2]
QGIS_PYTHON = Path("/usr/bin/python3")
SAFETENSORS = next(r for r in ENGINE_REQUIREMENTS if r.dist == "safetensors")
SHAPELY = next(r for r in ENGINE_REQUIREMENTS if r.dist == "shapely")


def _has_qgis() -> bool:
    if not QGIS_PYTHON.is_file():
        return False
    return subprocess.run([str(QGIS_PYTHON), "-c", "import qgis.core"], capture_output=True, timeout=60).returncode == 0


pytestmark = pytest.mark.skipif(not _has_qgis(), reason="needs QGIS' Python (/usr/bin/python3 with qgis.core)")

FRESH_QGIS = """
import json, sys
from qgis.core import QgsApplication
app = QgsApplication([], False)
app.initQgis()
from xview_qgis.engine_folder import add_engine_folder
added = add_engine_folder()
import numpy, safetensors
print(json.dumps({"added": str(added), "first": sys.path[0], "safetensors": safetensors.__file__,
                  "numpy": numpy.__file__, "profile": QgsApplication.qgisSettingsDirPath()}))
app.exitQgis()
"""


@pytest.fixture
def config(tmp_path) -> Path:
    return tmp_path / "qgis_config"


def _plan(config: Path, *requirements: Requirement, method: str = "venv"):
    folder = engine_folder(config / "profiles" / "default")
    return make_plan(folder, QGIS_PYTHON, requirements=requirements, method=method)


def _fresh_qgis(config: Path, tmp_path: Path) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env.update(QGIS_CUSTOM_CONFIG_PATH=str(config), PYTHONPATH=str(ROOT), QT_QPA_PLATFORM="offscreen",
               XDG_RUNTIME_DIR=str(tmp_path))
    result = subprocess.run([str(QGIS_PYTHON), "-c", FRESH_QGIS], capture_output=True, text=True, env=env,
                            timeout=120, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_install_then_a_fresh_qgis_imports_from_the_profile(config, tmp_path):
    plan = _plan(config, SAFETENSORS)
    lines: list[str] = []
    folder = run_install(plan, log=lines.append)
    assert folder == Path(plan.folder) and folder.is_relative_to(config / "profiles" / "default")
    assert any("Successfully installed safetensors-0.8.0" in line for line in lines)
    assert plan.log_path.read_text().splitlines() == lines
    assert read_record(folder)["requirements"] == ["safetensors==0.8.0"]
    assert [p.name for p in folder.parent.iterdir() if p.name.startswith(".")] == []  # no staging left
    seen = _fresh_qgis(config, tmp_path)
    assert seen["profile"].rstrip("/") == str(config / "profiles" / "default")
    assert seen["added"] == seen["first"] == str(site_dir(folder))
    assert Path(seen["safetensors"]).is_relative_to(folder)
    assert not Path(seen["numpy"]).is_relative_to(folder)  # QGIS' numpy, never a copy


def test_reinstall_replaces_the_folder_and_keeps_qgis_numpy(config):
    first = run_install(_plan(config, SAFETENSORS), log=lambda line: None)
    marker = first / "left-by-the-first-install"
    marker.write_text("x")
    lines: list[str] = []
    second = run_install(_plan(config, SAFETENSORS, SHAPELY), log=lines.append)  # shapely needs numpy
    assert second == first and not marker.exists()
    site = site_dir(second)
    assert (site / "shapely").is_dir() and (site / "safetensors").is_dir()
    assert not list(site.glob("numpy*")), "numpy must stay QGIS' own"
    assert any("Requirement already satisfied: numpy" in line for line in lines)


def test_cancel_leaves_the_earlier_install_unchanged(config):
    folder = run_install(_plan(config, SAFETENSORS), log=lambda line: None)
    before = sorted(p.relative_to(folder) for p in folder.rglob("*"))
    with pytest.raises(Cancelled, match="nothing was installed"):
        run_install(_plan(config, SAFETENSORS, SHAPELY), log=lambda line: None, cancel=lambda: True)
    assert sorted(p.relative_to(folder) for p in folder.rglob("*")) == before
    assert [p.name for p in folder.parent.iterdir() if p.name.startswith(".")] == []


def test_a_signal_stops_pip_and_leaves_the_earlier_install_unchanged(config):
    folder = run_install(_plan(config, SAFETENSORS), log=lambda line: None)
    before = sorted(p.relative_to(folder) for p in folder.rglob("*"))
    lines: list[str] = []
    request_stop(Terminated())  # what `xview install-engine`'s SIGTERM handler does
    try:
        with pytest.raises(Terminated):
            run_install(_plan(config, SAFETENSORS, SHAPELY), log=lines.append)
        assert stop_requested() is None  # raised by the install's loop
    finally:
        request_stop(None)
    assert sorted(p.relative_to(folder) for p in folder.rglob("*")) == before
    assert [p.name for p in folder.parent.iterdir() if p.name.startswith(".")] == []
    assert lines and lines[0].startswith("$ ")  # the venv step had started, and was stopped


def test_failure_is_one_line_with_the_log_and_changes_nothing(config):
    plan = _plan(config, Requirement("safetensors", "safetensors", "0.0.0.999", "0.0"))
    failed = r"^pip failed \(exit 1\): .*safetensors==0\.0\.0\.999.*full log: .*install\.log$"
    with pytest.raises(InstallError, match=failed):
        run_install(plan, log=lambda line: None)
    assert not Path(plan.folder).exists() and plan.log_path.is_file()


def test_target_method_installs_without_a_venv(config, tmp_path):
    folder = run_install(_plan(config, SAFETENSORS, method="target"), log=lambda line: None)
    assert (folder / "safetensors").is_dir() and not (folder / "pyvenv.cfg").exists()
    assert site_dir(folder) == folder / "."
    seen = _fresh_qgis(config, tmp_path)
    assert Path(seen["safetensors"]).is_relative_to(folder)
