"""The localization method seam: the registry, indexes that record their method, and what candidates carry."""

from __future__ import annotations

import json

import numpy as np
import pytest
from test_index import fake_rows, small_grid, small_manifest

from xview_engine.errors import IndexFileError, LabelFileError
from xview_engine.localization import index as ix
from xview_engine.localization.distill import DistillLikelihood
from xview_engine.localization.localize import photo_results
from xview_engine.localization.methods import MethodError, PhotoOptions, Scores, method_for
from xview_engine.localization.photos import Queries
from xview_engine.localization.ranking import COMBINED


def test_registry_finds_distill_and_names_the_known_kinds() -> None:
    assert isinstance(method_for("distill"), DistillLikelihood)
    with pytest.raises(MethodError, match=r"kind 'nosuch' \(known: .*distill"):
        method_for("nosuch")


def test_index_records_its_method_and_its_arrays(tmp_path) -> None:
    grid, manifest = small_grid(), small_manifest()
    out = ix.write_index(tmp_path / "idx", grid, fake_rows(grid).items(), manifest, model={"path": "/m/a.safetensors"})
    header = json.loads((out / "index.json").read_text())
    assert header["method"] == "distill"
    index = ix.load_index(out)
    assert index.method == "distill" and isinstance(index.scorer, DistillLikelihood)
    specs = method_for("distill").index_arrays(manifest, "float32")
    assert sorted(index.arrays) == sorted(s.name for s in specs) == [
        "head0.const", "head0.weights", "head1.const", "head1.weights"]
    assert index.arrays["head0.weights"].shape == (12, 3) and np.isneginf(index.arrays["head0.const"][1])


def test_an_index_is_refused_by_another_method_naming_its_model(tmp_path) -> None:
    grid, manifest = small_grid(), small_manifest()
    out = ix.write_index(tmp_path / "idx", grid, fake_rows(grid).items(), manifest, model={"path": "/m/a.safetensors"})
    index = ix.load_index(out)
    ix.check_method(index, "distill")
    with pytest.raises(IndexFileError, match=r"built by a 'distill' model \(/m/a.safetensors\); the 'twin' model "
                                             r"b.safetensors cannot score it"):
        ix.check_method(index, "twin", "b.safetensors")


def test_headers_without_a_method_are_distillation_and_unknown_methods_are_refused(tmp_path) -> None:
    grid, manifest = small_grid(), small_manifest()
    out = ix.write_index(tmp_path / "idx", grid, fake_rows(grid).items(), manifest)
    header = json.loads((out / "index.json").read_text())
    del header["method"]  # as written before the registry
    (out / "index.json").write_text(json.dumps(header))
    assert ix.load_index(out).method == "distill"
    header["method"] = "nosuch"
    (out / "index.json").write_text(json.dumps(header))
    with pytest.raises(IndexFileError, match="no localization method for models of kind 'nosuch'"):
        ix.load_index(out)


def test_candidates_carry_the_methods_extras(tmp_path) -> None:
    grid, manifest = small_grid(), small_manifest()
    index = ix.load_index(ix.write_index(tmp_path / "idx", grid, fake_rows(grid).items(), manifest))
    combined = np.where(index.valid, np.arange(12, dtype=np.float32), -np.inf)[None, :]
    heading = np.arange(12, dtype=np.float32)[None, :] * 30.0
    queries = Queries([tmp_path / "p.jpg"], {}, {}, np.full((1, 2), np.nan), [""])
    [result] = photo_results(index, queries, Scores({COMBINED: combined}, {"heading_deg": heading}), top_k=2)
    assert [c.tile for c in result.candidates] == [7, 6]
    assert [c.extras for c in result.candidates] == [{"heading_deg": 210.0}, {"heading_deg": 180.0}]


def test_distill_photos_need_labels_or_teachers() -> None:
    with pytest.raises(LabelFileError, match="one of the two"):
        method_for("distill").describe_photos(["a.jpg"], PhotoOptions())
