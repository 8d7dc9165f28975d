"""The shipped synthetic default model in the dock: offered first, preselected, and its teacher in Geolocate.

The default files are pointed at small stand-ins (the test world's model; the shipped teacher when
present, else a tiny one), so the tests hold whether or not the real default has been trained yet.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from qgis.core import QgsProject
from test_qgis_dock import _add_raster, _run_and_wait, iface, plugin, world  # noqa: F401 (fixtures)

import xview_engine.demo
from xview_qgis.model_panel import DEFAULT_LABEL, synthetic_defaults

SHIPPED_TEACHER = Path(xview_engine.demo.DEFAULT_TEACHER)


@pytest.fixture
def defaults(world, tmp_path, monkeypatch):  # noqa: F811
    """The world's model as the 'synthetic default'; the teacher: the shipped one, or a tiny untrained one."""
    import shutil

    model = tmp_path / "xview-synthetic-default.safetensors"
    shutil.copy(world["model"], model)
    teacher = SHIPPED_TEACHER if SHIPPED_TEACHER.is_file() else _tiny_teacher(world, tmp_path)
    monkeypatch.setattr(xview_engine.demo, "DEFAULT_MODEL", model)
    monkeypatch.setattr(xview_engine.demo, "DEFAULT_TEACHER", teacher)
    return model, teacher


def _tiny_teacher(files: dict, tmp_path: Path) -> Path:
    from xview_engine.data.label_files import read_label_file
    from xview_engine.teachers.synthetic import (
        SyntheticHead,
        SyntheticTeacherNet,
        SyntheticTeacherSpec,
        save_synthetic_teacher,
    )

    labels = read_label_file(files["labels"])
    heads = tuple(SyntheticHead(h, "counts" if h == "count" else "categorical", tuple(labels.names[h]))
                  for h in labels.heads)
    spec = SyntheticTeacherSpec(height=32, width=48, heads=heads, channels=4, depth=2, hidden=8)
    return save_synthetic_teacher(SyntheticTeacherNet(spec), spec, tmp_path / "teacher.safetensors")


def test_default_model_is_first_labelled_and_preselected(defaults, iface, qgis_new_project):  # noqa: F811
    from xview_qgis.plugin import XviewPlugin

    model, _ = defaults
    fresh = XviewPlugin(iface)
    fresh.initGui()
    panel = fresh.model_panel
    assert panel.model_path == ""  # nothing is loaded (no torch import) before the dock is opened
    fresh.action.trigger()
    try:
        assert panel.model_path == str(model) and panel.manifest is not None
        assert panel.recent.itemText(1) == f"{DEFAULT_LABEL} {model.name}"
        assert panel.recent.currentIndex() == 1 and DEFAULT_LABEL in panel.info_label.text()
        panel.set_model("")
        fresh.action.trigger()
        fresh.action.trigger()  # reopened: a cleared choice stays cleared
        assert panel.model_path == "" and panel.recent.itemText(1).startswith(DEFAULT_LABEL)
    finally:
        fresh.unload()


def test_geolocate_defaults_to_the_synthetic_teacher(defaults, plugin, world, qtbot):  # noqa: F811
    model, teacher = defaults
    tab = plugin.tabs["Geolocate"]
    assert plugin.model_panel.model_path == str(model)
    assert tab.teachers.text() == f"synthetic={teacher}" == f"synthetic={synthetic_defaults()[1]}"
    layer = _add_raster(world["raster"], "overhead")
    tab.layer_combo.setLayer(layer)
    tab.photo.setFilePath(str(world["photo"]))
    tab.index.setFilePath(str(world["index"]))
    tab.top_k.setValue(3)
    task = _run_and_wait(qtbot, tab)
    assert task.error is None, task.error
    assert tab.last_layers[-2].featureCount() == 3  # candidates ranked from the teacher's distributions
    tab.labels.setFilePath(str(world["labels"]))
    assert tab._teacher_spec() is None  # a label file wins over the automatic teacher
    plugin.model_panel.set_model(str(world["model"]))
    assert tab.teachers.text() == ""  # another model: the automatic spec is taken out
    tab.teachers.setText("synthetic=mine.safetensors")
    plugin.model_panel.set_model(str(model))
    assert tab.teachers.text() == "synthetic=mine.safetensors"  # a typed spec is kept
    QgsProject.instance().removeAllMapLayers()
    del layer
