"""Distillation training on a tiny synthetic world: loss goes down, runs repeat, resume continues."""

from __future__ import annotations

import csv

import numpy as np
import pytest
import torch

from xview_engine.cli.main import main
from xview_engine.data.label_files import read_label_file
from xview_engine.data.pairs import read_pairs
from xview_engine.errors import TrainingError
from xview_engine.model.file import load_model
from xview_engine.synth import SynthParams, make_world
from xview_engine.teachers import load_teachers
from xview_engine.training.datasets import TrainingData, build_training_data
from xview_engine.training.distill import DistillParams, make_manifest, train_distill
from xview_engine.training.evaluate import evaluate_heads
from xview_engine.training.loop import augment
from xview_engine.training.teacher import TeacherParams, train_teacher

PARAMS = DistillParams(backbone="tiny_cnn", backbone_options={"width": 4, "depth": 2}, tile_px=16, gsd_m=4.0,
                       hidden=16, epochs_pretrain=1, epochs_heads=2, batch_size=16, lr=3e-3)


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    out = tmp_path_factory.mktemp("world")
    make_world(SynthParams(seed=5, size_m=400, gsd=2.0, photos=64, fov=90), out)
    return out


@pytest.fixture(scope="module")
def data(world):
    labels = read_label_file(world / "labels.npz")
    manifest = make_manifest(PARAMS, labels.names, labels.kinds, {})
    return manifest, build_training_data(read_pairs(world / "pairs.csv"), labels, manifest.head_names,
                                         manifest.input, world / "overhead.tif")


def test_tiles_cut_from_the_raster(data):
    _, d = data
    assert d.tiles.shape[1:] == (3, 16, 16) and d.tiles.dtype == np.float32
    assert 0.05 < d.tiles.mean() < 0.95 and d.tiles.min() >= 0 and d.tiles.max() <= 1
    assert set(d.targets) == {"scene", "object", "count"} and set(np.unique(d.split)) <= {"train", "val", "test"}


def _train(manifest, d, out, **changes):
    params = DistillParams(**{**PARAMS.__dict__, **changes})
    return train_distill(d, manifest, params, out, torch.device("cpu"))


def test_loss_decreases_and_outputs_written(data, tmp_path):
    manifest, d = data
    result = _train(manifest, d, tmp_path / "m.safetensors", epochs_heads=4)
    stage2 = [r["train_loss"] for r in result.history if r["stage"] == 2]
    assert stage2[-1] < stage2[0]
    rows = list(csv.DictReader(open(result.log_csv)))
    assert [int(r["epoch"]) for r in rows] == [1, 2, 3, 4, 5] and "val_count" in rows[0]
    assert result.loss_png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    loaded = load_model(result.model_path)
    assert loaded.manifest.training["best_epoch"] == result.best_epoch
    best = min((r for r in result.history if r["stage"] == 2), key=lambda r: r["val_loss"])
    assert result.best_epoch == best["epoch"]


def test_seeded_runs_equal_and_resume_continues(data, tmp_path):
    manifest, d = data
    a = _train(manifest, d, tmp_path / "a.safetensors")
    b = _train(manifest, d, tmp_path / "b.safetensors")
    _train(manifest, d, tmp_path / "c.safetensors", epochs_heads=1)
    params = DistillParams(**PARAMS.__dict__)
    c = train_distill(d, manifest, params, tmp_path / "c.safetensors", torch.device("cpu"), resume=True)
    assert [r["train_loss"] for r in a.history] == [r["train_loss"] for r in b.history] == \
        [r["train_loss"] for r in c.history]
    sa, sc = (load_model(r.model_path).model.state_dict() for r in (a, c))
    assert all(torch.equal(sa[k], sc[k]) for k in sa)


def test_resume_refuses_other_options(data, tmp_path):
    manifest, d = data
    _train(manifest, d, tmp_path / "m.safetensors", epochs_heads=1)
    with pytest.raises(TrainingError, match="other training options"):
        train_distill(d, manifest, DistillParams(**{**PARAMS.__dict__, "lr": 0.1}), tmp_path / "m.safetensors",
                      torch.device("cpu"), resume=True)


def test_mean_baseline_and_evaluation(data, tmp_path):
    _, d = data
    labels_names = {h: tuple(f"c{i}" for i in range(v.shape[1])) for h, v in d.targets.items()}
    kinds = {"scene": "categorical", "object": "categorical", "count": "counts"}
    manifest = make_manifest(DistillParams(**{**PARAMS.__dict__, "baseline": True}), labels_names, kinds, {})
    assert [h.distribution for h in manifest.heads] == ["mean", "mean", "poisson"]
    result = _train(manifest, d, tmp_path / "base.safetensors", baseline=True)
    loaded = load_model(result.model_path)
    report = evaluate_heads(loaded.model, loaded.manifest, d.subset("train"), d.subset("val"), d.subset("val"))
    assert report["scene"]["fitted_concentration"] > 0 and np.isfinite(report["scene"]["model_nll"])
    assert np.isfinite(report["count"]["constant_prior_nll"])


def test_augment_is_seeded_and_keeps_content():
    x = torch.arange(2 * 3 * 4 * 4, dtype=torch.float32).view(2, 3, 4, 4)
    a = augment(x, torch.Generator().manual_seed(1), True, True)
    b = augment(x, torch.Generator().manual_seed(1), True, True)
    assert torch.equal(a, b) and torch.equal(a.sum((1, 2, 3)), x.sum((1, 2, 3)))


def test_needs_train_and_val(data, tmp_path):
    manifest, d = data
    only_train = TrainingData(d.tiles, d.targets, np.full(len(d), "train"))
    with pytest.raises(TrainingError, match="train and val"):
        _train(manifest, only_train, tmp_path / "m.safetensors")


def test_teacher_then_teach_then_distill_cli(world, tmp_path, capsys):
    path, history = train_teacher(read_label_file(world / "labels.npz"),
                                  TeacherParams(height=16, width=32, channels=4, depth=2, hidden=16, epochs=2),
                                  tmp_path / "teacher.safetensors")
    assert len(history) == 2 and load_teachers(f"synthetic={path}").heads == ("scene", "object", "count")
    labels = tmp_path / "teach.npz"
    assert main(["teach", str(world / "pairs.csv"), "--teachers", f"synthetic={path}", "-o", str(labels)]) == 0
    taught = read_label_file(labels)
    assert taught.kinds == {"scene": "categorical", "object": "categorical", "count": "counts"}
    assert taught.photo_paths()[0].resolve() == (world / "photos" / "00000.jpg").resolve()
    assert main(["teach", str(world / "pairs.csv"), "--teachers", f"synthetic={path}", "-o", str(labels)]) == 2
    model = tmp_path / "model.safetensors"
    args = ["train", "distill", str(world / "pairs.csv"), "--labels", str(labels), "--raster",
            str(world / "overhead.tif"), "-o", str(model), "--backbone", "tiny_cnn", "--backbone-option", "width=4",
            "--backbone-option", "depth=2", "--tile-px", "16", "--gsd", "4", "--hidden", "8", "--epochs-pretrain",
            "1", "--epochs-heads", "1", "--device", "cpu"]
    assert main(args) == 0
    assert "constant prior" in capsys.readouterr().out
    manifest = load_model(model).manifest
    assert manifest.training["synthetic"] is True and manifest.head("count").distribution == "poisson"
    assert main(args) == 2 and "already exists" in capsys.readouterr().err
