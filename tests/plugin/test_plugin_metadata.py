"""metadata.txt is valid for the QGIS plugin repository, pb_tool.cfg lists the plugin, and the plugin
code stays portable to the Qt6 builds (Qt only through qgis.PyQt, fully scoped enums)."""

from __future__ import annotations

import configparser
import re
from pathlib import Path

import pytest

import xview_engine

ROOT = Path(__file__).resolve().parents[2]
REQUIRED_KEYS = (
    "name",
    "qgisMinimumVersion",
    "description",
    "about",
    "version",
    "author",
    "email",
    "repository",
    "tracker",
    "icon",
    "experimental",
)
PLUGIN_SOURCES = sorted([ROOT / "__init__.py", *(ROOT / "xview_qgis").rglob("*.py")])
# A Qt class or the Qt namespace followed by a capitalised member that is not itself scoped further,
# e.g. `Qt.RightDockWidgetArea` (unscoped, fails on Qt6) instead of `Qt.DockWidgetArea.RightDockWidgetArea`.
UNSCOPED_ENUM = re.compile(r"\b(Qt|Q(?!gs)[A-Z]\w*)\.([A-Z]\w*)\b(?![.(\w])")


def _read(path: Path) -> configparser.ConfigParser:
    parser = configparser.ConfigParser()
    with path.open(encoding="utf-8") as f:
        parser.read_file(f)
    return parser


@pytest.fixture(scope="module")
def metadata() -> configparser.SectionProxy:
    return _read(ROOT / "metadata.txt")["general"]


def test_metadata_has_every_key_the_plugin_repository_requires(metadata):
    missing = [key for key in REQUIRED_KEYS if not metadata.get(key, "").strip()]
    assert missing == []
    assert metadata["name"] == "xview"
    assert metadata["qgisMinimumVersion"] == "3.22"
    assert metadata["supportsQt6"] == "yes"
    assert metadata["experimental"] == "True"
    assert metadata["category"] == "Raster"
    assert metadata["hasProcessingProvider"] == "yes"
    assert "synthetic world" in " ".join(metadata["about"].split())
    assert metadata["repository"] == "https://github.com/xview-qgis/xview"
    assert metadata["tracker"] == "https://github.com/xview-qgis/xview/issues"
    assert re.fullmatch(r"[^@\s]+@[^@\s]+\.[a-z]+", metadata["email"])


def test_metadata_version_matches_the_engine_and_pyproject(metadata):
    pyproject = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    project_version = re.search(r'^version = "([^"]+)"$', pyproject, re.MULTILINE).group(1)
    assert metadata["version"] == xview_engine.__version__ == project_version


def test_metadata_icon_exists(metadata):
    assert (ROOT / metadata["icon"]).is_file()


def test_pb_tool_cfg_lists_existing_plugin_files():
    config = _read(ROOT / "pb_tool.cfg")
    assert config["plugin"]["name"] == "xview"
    files = config["files"]
    assert files["python_files"].split() == ["__init__.py"]
    assert files["main_dialog"].strip() == ""
    assert files["extras"].split() == ["metadata.txt"]
    assert files["extra_dirs"].split() == ["xview_engine", "xview_qgis", "resources"]
    for name in files["python_files"].split() + files["extras"].split() + files["extra_dirs"].split():
        assert (ROOT / name).exists(), name


@pytest.mark.parametrize("path", PLUGIN_SOURCES, ids=lambda p: str(p.relative_to(ROOT)))
def test_plugin_imports_qt_only_through_qgis_pyqt(path):
    text = path.read_text(encoding="utf-8")
    assert not re.search(r"^\s*(from|import)\s+(PyQt5|PyQt6|PySide2|PySide6|sip)\b", text, re.MULTILINE)


@pytest.mark.parametrize("path", PLUGIN_SOURCES, ids=lambda p: str(p.relative_to(ROOT)))
def test_plugin_writes_qt_enums_fully_scoped(path):
    code = "\n".join(line.split("#", 1)[0] for line in path.read_text(encoding="utf-8").splitlines())
    assert [m.group(0) for m in UNSCOPED_ENUM.finditer(code)] == []


def test_the_enum_check_catches_unscoped_enums():
    assert UNSCOPED_ENUM.search("area = Qt.RightDockWidgetArea")
    assert UNSCOPED_ENUM.search("QSizePolicy.Expanding)")
    assert not UNSCOPED_ENUM.search("Qt.DockWidgetArea.RightDockWidgetArea")
    assert not UNSCOPED_ENUM.search("QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont)")
