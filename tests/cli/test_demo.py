"""`xview demo` on a very small world with the shipped synthetic models: it finishes and writes what it says."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import rasterio

from xview_engine.cli.main import main
from xview_engine.demo import DEFAULT_MODEL, DEFAULT_TEACHER, _box_share
from xview_engine.model.file import load_model
from xview_engine.teachers import load_teachers


def test_shipped_models_load_strictly_and_say_synthetic():
    manifest = load_model(DEFAULT_MODEL).manifest
    assert manifest.training["synthetic"] is True
    assert [(h.name, h.distribution) for h in manifest.heads] == [
        ("scene", "dirichlet"), ("object", "dirichlet"), ("count", "poisson")]
    assert DEFAULT_MODEL.stat().st_size < 8 * 2**20
    assert load_teachers(f"synthetic={DEFAULT_TEACHER}").heads == manifest.head_names


def test_demo_small_world(tmp_path, capsys):
    out = tmp_path / "demo"
    args = ["demo", "-o", str(out), "--size-m", "400", "--photos", "12", "--geolocate", "2", "--device", "cpu"]
    assert main(args) == 0
    printed = capsys.readouterr().out
    listing = printed.split("wrote:\n", 1)[1].split("\n\n", 1)[0]
    written = [Path(line.strip()) for line in listing.splitlines()]
    assert len(written) >= 10 and all(p.exists() for p in written)
    for name in ("scene/scene_prob.tif", "scene/scene_top.tif", "count/count_count.tif", "xview_demo.qgz",
                 "xview_demo.png", "summary.json"):
        assert (out / name).is_file(), name
    assert (out / "xview_demo.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    summary = json.loads((out / "summary.json").read_text())
    assert np.isfinite(summary["map_vs_landcover"]["mean_r"]) and len(summary["geolocation"]["ranks"]) >= 1
    assert "map vs land cover" in printed and "SYNTHETIC" in printed
    with rasterio.open(out / "scene" / "scene_top.tif") as ds:
        assert ds.descriptions[0] == "scene:top"
    assert main(args) == 2 and "already exists" in capsys.readouterr().err


def test_box_share_counts_pixels():
    mask = np.zeros((10, 10), bool)
    mask[:5, :5] = True
    transform = rasterio.Affine(1.0, 0.0, 0.0, 0.0, -1.0, 10.0)
    share = _box_share(mask, transform, np.array([2.5, 7.5]), np.array([7.5, 2.5]), 5.0)
    assert share.tolist() == pytest.approx([1.0, 0.0])
