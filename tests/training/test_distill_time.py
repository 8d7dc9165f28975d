"""`xview train distill --time-features`: P(attribute | overhead, time) learnt from each photo's time."""

from __future__ import annotations

import csv
import json
import shutil

import numpy as np
import pytest

from xview_engine.data.label_files import read_label_file
from xview_engine.data.pairs import read_pairs
from xview_engine.errors import TrainingError, XviewWarning
from xview_engine.model.file import read_manifest
from xview_engine.model.time_features import parse_time, time_vector
from xview_engine.synth.params import SynthParams
from xview_engine.synth.world import make_world
from xview_engine.training.datasets import build_training_data
from xview_engine.training.distill import DistillParams
from xview_engine.training.run import distill_from_files

PARAMS = DistillParams(backbone="tiny_cnn", backbone_options={"width": 4, "depth": 2}, tile_px=16, gsd_m=4.0,
                       hidden=8, epochs_pretrain=1, epochs_heads=1, batch_size=16, seed=0,
                       time_features=("month", "hour"))


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    out = tmp_path_factory.mktemp("timed-world")
    make_world(SynthParams(seed=5, size_m=400, gsd=2.0, photos=64, fov=90, months=(1, 7)), out)
    return out


def _rewrite_times(world, target, keep) -> str:
    """A copy of the pairs CSV whose time column keeps only the rows ``keep`` says (others emptied)."""
    with open(world / "pairs.csv", newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    for i, row in enumerate(rows):
        row["time"] = row["time"] if keep(i) else ""
        row["path"] = str(world / row["path"])
    with open(target, "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return str(target)


def test_training_data_carries_each_photos_time(world) -> None:
    pairs, labels = read_pairs(world / "pairs.csv"), read_label_file(world / "labels.npz")
    data = build_training_data(pairs, labels, ("snow",), read_manifest_input(), world / "overhead.tif",
                               time_features=("month", "hour"))
    assert data.times is not None and data.times.shape[1] == 4
    kept = [parse_time(t) for t in pairs.columns["time"]]
    assert any(np.allclose(data.times[0], time_vector(t, ("month", "hour"))) for t in kept)
    train = data.subset("train")
    assert len(train.times) == len(train.tiles)


def read_manifest_input():
    from xview_engine.model.manifest import InputSpec

    return InputSpec(tile_px=16, gsd_m=4.0)


def test_train_a_time_aware_model(world, tmp_path) -> None:
    out = tmp_path / "time.safetensors"
    result, report = distill_from_files(world / "pairs.csv", world / "labels.npz", out, PARAMS,
                                        raster=world / "overhead.tif", heads=("snow", "night"))
    manifest = read_manifest(result.model_path)
    assert manifest.time_features == ("month", "hour") and manifest.training["time_features"] == ["month", "hour"]
    assert set(report) == {"snow", "night"} and all(np.isfinite(r["model_nll"]) for r in report.values())


def test_a_time_blind_recipe_records_no_time(world, tmp_path) -> None:
    blind = DistillParams(**{**PARAMS.__dict__, "time_features": ()})
    result, _ = distill_from_files(world / "pairs.csv", world / "labels.npz", tmp_path / "b.safetensors", blind,
                                   raster=world / "overhead.tif", heads=("snow",))
    manifest = read_manifest(result.model_path)
    assert not manifest.takes_time and "time_features" not in manifest.training
    assert "time_features" not in json.loads(manifest.to_json())


def test_times_from_exif_and_photos_without_time(world, tmp_path) -> None:
    # no time column at all: EXIF DateTimeOriginal of the synthetic photos gives every time
    no_column = tmp_path / "no_column.csv"
    with open(world / "pairs.csv", newline="", encoding="utf-8") as fh:
        rows = [{k: v for k, v in r.items() if k != "time"} for r in csv.DictReader(fh)]
    with open(no_column, "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows({**r, "path": str(world / r["path"])} for r in rows)
    pairs = read_pairs(no_column)
    bare = read_label_file(world / "labels.npz")
    bare.table.pop("time")
    data = build_training_data(pairs, bare, ("snow",), read_manifest_input(), world / "overhead.tif",
                               time_features=("month",))
    assert data.times.shape == (len(data), 2)
    # photos whose time is known nowhere are left out with one warning; none known at all is an error
    stripped = tmp_path / "stripped"
    shutil.copytree(world / "photos", stripped)
    from PIL import Image

    for photo in sorted(stripped.iterdir()):
        with Image.open(photo) as im:
            pixels = im.copy()
        pixels.save(photo)  # no EXIF any more
    partial = read_pairs(_rewrite_times(world, tmp_path / "partial.csv", lambda i: i % 2 == 0))
    partial = partial.__class__(partial.csv_path, tuple(stripped / p.name for p in partial.photos), partial.columns)
    labels = read_label_file(world / "labels.npz")
    labels.table.pop("time")
    labels.table["path"] = np.array([str(stripped / str(p).split("/")[-1]) for p in labels.table["path"]])
    with pytest.warns(XviewWarning, match="have no usable time and are left out"):
        data = build_training_data(partial, labels, ("snow",), read_manifest_input(), world / "overhead.tif",
                                   time_features=("month",))
    assert len(data) <= (len(partial) + 1) // 2
    none = read_pairs(_rewrite_times(world, tmp_path / "none.csv", lambda i: False))
    none = none.__class__(none.csv_path, tuple(stripped / p.name for p in none.photos), none.columns)
    with pytest.raises(TrainingError, match="needs when each photo was taken"):
        build_training_data(none, labels, ("snow",), read_manifest_input(), world / "overhead.tif",
                            time_features=("month",))


def test_cli_rejects_unknown_cycles(world, tmp_path, capsys) -> None:
    from xview_engine.cli.main import main

    code = main(["train", "distill", str(world / "pairs.csv"), "--labels", str(world / "labels.npz"), "--raster",
                 str(world / "overhead.tif"), "-o", str(tmp_path / "m.safetensors"), "--time-features", "season"])
    assert code == 2 and "xview: error: --time-features 'season'" in capsys.readouterr().err
