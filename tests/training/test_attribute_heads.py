"""End to end on a tiny synthetic world: attributes from a CSV -> teach -> train Beta / Bernoulli /
Gaussian heads -> map their products -> localize a photo by its attribute values."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
import rasterio

from xview_engine.cli.main import main
from xview_engine.data.label_files import read_label_file
from xview_engine.model.runtime import read_model_manifest
from xview_engine.synth import SynthParams, make_world

SCENES = ("beach", "parking_lot", "park")
RECIPE = ["--backbone", "tiny_cnn", "--backbone-option", "width=4", "--backbone-option", "depth=2", "--tile-px", "16",
          "--gsd", "4", "--hidden", "16", "--epochs-pretrain", "1", "--epochs-heads", "2", "--batch-size", "16",
          "--lr", "3e-3", "--device", "cpu"]


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """A world and an attribute CSV from its truth: scene shares (Beta), objects seen (Bernoulli), car count
    as a continuous value (Gaussian), with the kinds in the header file beside it."""
    out = tmp_path_factory.mktemp("attribute_world")
    make_world(SynthParams(seed=5, size_m=400, gsd=2.0, photos=64, fov=90), out)
    truth = read_label_file(out / "labels.npz")
    scene = truth.heads["scene"][:, [truth.names["scene"].index(s) for s in SCENES]]
    counts = truth.heads["count"]
    car, person = (counts[:, truth.names["count"].index(n)] for n in ("car", "person"))
    with open(out / "attributes.csv", "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["photo", *(f"share:{s}" for s in SCENES), "seen:car", "seen:person", "level:cars"])
        for i, path in enumerate(truth.table["path"]):
            writer.writerow([path, *(f"{v:.4f}" for v in scene[i]), "yes" if car[i] > 0 else "no",
                             int(person[i] > 0), f"{car[i]:.1f}"])
    (out / "attributes.kinds.csv").write_text("head,kind\nshare,fraction\nseen,binary\nlevel,continuous\n")
    return out


@pytest.fixture(scope="module")
def trained(world):
    assert main(["teach", str(world / "pairs.csv"), "--teachers", f"csv={world / 'attributes.csv'}",
                 "-o", str(world / "attr_labels.npz")]) == 0
    assert main(["train", "distill", str(world / "pairs.csv"), "--labels", str(world / "attr_labels.npz"),
                 "--raster", str(world / "overhead.tif"), "-o", str(world / "attr.safetensors"), *RECIPE]) == 0
    return world / "attr.safetensors"


def test_teach_and_train_make_heads_of_each_kind(world, trained):
    labels = read_label_file(world / "attr_labels.npz")
    assert labels.kinds == {"share": "fraction", "seen": "binary", "level": "continuous"}
    manifest = read_model_manifest(trained)
    assert {h.name: h.distribution for h in manifest.heads} == {"share": "beta", "seen": "bernoulli",
                                                                 "level": "gaussian"}
    report = manifest.training["val_loss_per_head"]
    assert set(report) == {"share", "seen", "level"} and all(np.isfinite(v) for v in report.values())


def _read(path):
    with rasterio.open(path) as src:
        return src.read(masked=True), src.descriptions, src.tags()


def test_map_writes_mean_spread_and_exceedance(world, trained, tmp_path):
    out = tmp_path / "share"
    assert main(["map", str(world / "overhead.tif"), "--model", str(trained), "--head", "share", "--threshold", "0.3",
                 "--stride-m", "32", "--out-dir", str(out), "--device", "cpu"]) == 0
    meta = json.loads((out / "products.json").read_text())
    assert [p["product"] for p in meta["products"]] == ["mean", "spread", "exceed"]
    assert meta["products"][2]["threshold"] == 0.3 and meta["products"][2]["units"] == "P(value > 0.3)"
    mean, descriptions, tags = _read(out / "share_mean.tif")
    spread, _, _ = _read(out / "share_spread.tif")
    exceed, _, exceed_tags = _read(out / "share_exceed.tif")
    assert set(descriptions) == {f"share:mean:{s}" for s in SCENES}  # every class, best mean first
    assert tags["xview_distribution"] == "beta" and exceed_tags["xview_threshold"] == "0.3"
    for band in (mean, exceed):
        assert band.count() > 0 and band.min() >= 0 and band.max() <= 1
    assert spread.min() > 0 and spread.max() <= 0.5  # a [0, 1] value's standard deviation is at most 1/2
    level = tmp_path / "level"
    assert main(["map", str(world / "overhead.tif"), "--model", str(trained), "--head", "level",
                 "--stride-m", "32", "--out-dir", str(level), "--device", "cpu"]) == 0
    assert sorted(p.name for p in level.glob("*.tif")) == ["level_mean.tif", "level_spread.tif"]
    assert _read(level / "level_spread.tif")[0].min() > 0
    seen = tmp_path / "seen"
    assert main(["map", str(world / "overhead.tif"), "--model", str(trained), "--head", "seen", "--products", "prob",
                 "--stride-m", "32", "--out-dir", str(seen), "--device", "cpu"]) == 0
    prob = _read(seen / "seen_prob.tif")[0]
    assert prob.min() >= 0 and prob.max() <= 1


def test_localize_scores_a_photo_by_its_attribute_values(world, trained, tmp_path, capsys):
    labels = read_label_file(world / "attr_labels.npz")
    photo = labels.photo_paths()[0]
    capsys.readouterr()
    assert main(["localize", str(photo), "--labels", str(world / "attr_labels.npz"), "--raster",
                 str(world / "overhead.tif"), "--model", str(trained), "--stride-m", "32", "-o",
                 str(tmp_path / "heat.tif"), "--json", "--device", "cpu"]) == 0
    result = json.loads(capsys.readouterr().out)
    found = json.dumps(result)
    assert "rank" in found
    heat, _, _ = _read(tmp_path / "heat.tif")
    assert heat.count() > 0 and np.isfinite(heat.compressed()).all()
