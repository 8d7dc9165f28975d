"""Field types chosen for the running QGIS (QVariant.Type before 3.38, QMetaType.Type from 3.38 / Qt6)."""

from __future__ import annotations

from pathlib import Path

import pytest
from qgis.core import Qgis
from qgis.PyQt.QtCore import QMetaType

from xview_qgis import compat

PLUGIN = Path(__file__).resolve().parents[2] / "xview_qgis"


def test_the_running_qgis_decides():
    assert compat.uses_qmetatype() == (Qgis.QGIS_VERSION_INT >= 33800)
    for name in compat.FIELD_TYPES:
        assert compat.field(name.lower(), name).type() == int(compat.field_type(name, qmetatype=False))


@pytest.mark.parametrize(("name", "qmetatype"), [("Int", "Int"), ("Double", "Double"), ("String", "QString")])
def test_both_spellings_name_the_same_type(name, qmetatype):
    new, old = compat.field_type(name, qmetatype=True), compat.field_type(name, qmetatype=False)
    assert new == getattr(QMetaType.Type, qmetatype) and int(new) == int(old)


def test_unknown_types_are_refused():
    with pytest.raises(ValueError, match="known: Int, Double, String"):
        compat.field_type("Float")


def test_no_plugin_module_names_qvariant_types_directly():
    offenders = [p.name for p in PLUGIN.rglob("*.py") if p.name != "compat.py" and "QVariant.Type." in p.read_text()]
    assert offenders == []


def test_candidate_and_truth_layers_have_typed_fields():
    from types import SimpleNamespace

    from qgis.core import QgsCoordinateReferenceSystem

    from xview_qgis.points import candidate_layer, truth_layer

    best = SimpleNamespace(rank=1, score=-2.5, posterior=0.7, x=500_000.0, y=5_800_000.0, lon=15.0, lat=52.3)
    layer = candidate_layer([best], QgsCoordinateReferenceSystem("EPSG:32633"))
    assert [(f.name(), f.typeName().lower()) for f in layer.fields()][:2] == [("rank", "integer"), ("score", "double")]
    assert next(layer.getFeatures())["rank"] == 1
    plain = next(layer.getFeatures())["heading"]
    assert plain is None or str(plain) == "NULL"  # no heading from a method that gives none
    from xview_engine.localization.localize import Candidate

    turned = Candidate(1, 7, 1, 3, 500_000.0, 5_800_000.0, 15.0, 52.3, -2.5, 0.7, {"heading_deg": 135.0})
    headed = candidate_layer([turned], QgsCoordinateReferenceSystem("EPSG:32633"))
    assert next(headed.getFeatures())["heading"] == 135.0  # a method's extras reach the layer
    del headed
    truth = truth_layer({"lon": 15.0, "lat": 52.3, "source": "exif", "rank": {"combined": 4}})
    assert next(truth.getFeatures())["source"] == "exif" and truth.fields().field("source").typeName().lower() in (
        "string", "text")
    del layer, truth
