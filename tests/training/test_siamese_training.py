"""Siamese training: the contrastive loss by hand, seeded pairs at the minimum distance, calibration,
and `xview train siamese` end to end on a synthetic world (seeded, best epoch, resume)."""

from __future__ import annotations

import csv
import math

import numpy as np
import pytest
import torch

from xview_engine.errors import TrainingError
from xview_engine.localization.verification import sample_pairs
from xview_engine.model.file import load_model
from xview_engine.synth.params import SynthParams
from xview_engine.synth.world import make_world
from xview_engine.training.contrastive import contrastive_loss, fit_calibration
from xview_engine.training.siamese import SiameseParams, train_siamese

TINY = dict(backbone="tiny_cnn", backbone_options={"width": 4, "depth": 2}, dim=8, tile_px=16, gsd_m=1.0,
            photo_px=(16, 32), negatives=5, min_distance_m=30.0, batch_size=32)


def test_contrastive_loss_matches_a_hand_computation():
    a = torch.tensor([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
    b = torch.tensor([[0.6, 0.8], [0.0, 1.0], [0.0, 1.0]])
    y = torch.tensor([1, 0, 0])
    # d = |(0.4, -0.8)| = sqrt(0.8); sqrt(2); 0.  margin 1.2:
    # matched: d^2 = 0.8; unmatched: max(0, 1.2 - 1.41421)^2 = 0; max(0, 1.2 - 0)^2 = 1.44
    expected = (0.8 + 0.0 + 1.44) / 3
    assert float(contrastive_loss(a, b, y, margin=1.2)) == pytest.approx(expected, rel=1e-6)
    assert float(contrastive_loss(a, b, y, margin=1.5)) == pytest.approx(
        (0.8 + (1.5 - math.sqrt(2)) ** 2 + 1.5**2) / 3, rel=1e-6)


def test_pairs_are_seeded_and_unmatched_ones_keep_the_minimum_distance():
    rng = np.random.default_rng(1)
    xy = rng.uniform(0, 500, (30, 2))
    dist = np.hypot(*(xy[:, None] - xy[None]).transpose(2, 0, 1))
    one = sample_pairs(dist, np.arange(30), 20, 100.0, seed=7)
    two = sample_pairs(dist, np.arange(30), 20, 100.0, seed=7)
    other = sample_pairs(dist, np.arange(30), 20, 100.0, seed=8)
    assert np.array_equal(one.tile, two.tile) and not np.array_equal(one.tile, other.tile)
    matched = one.label == 1
    assert matched.sum() == 30 and np.array_equal(one.photo[matched], one.tile[matched])
    assert (~matched).sum() == 30 * 20
    assert (dist[one.photo[~matched], one.tile[~matched]] >= 100.0).all()
    with pytest.raises(TrainingError, match="min-distance-m"):
        sample_pairs(dist, np.arange(30), 20, 1e6, seed=0)


def test_calibration_recovers_a_logistic_curve_and_is_monotone():
    rng = np.random.default_rng(0)
    d = rng.uniform(0, 2, 20000)
    y = rng.random(20000) < 1 / (1 + np.exp(-(3.0 - 4.0 * d)))
    fit = fit_calibration(d, y)
    assert fit["intercept"] == pytest.approx(3.0, abs=0.15) and fit["slope"] == pytest.approx(-4.0, abs=0.2)
    inverted = fit_calibration(d, ~y)  # a model whose distances mean nothing (or worse) never says "nearer = less"
    assert inverted["slope"] < 0
    with pytest.raises(TrainingError):
        fit_calibration(d, np.ones_like(d, bool))


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    out = tmp_path_factory.mktemp("siamese_train")
    make_world(SynthParams(seed=3, size_m=300, gsd=1.0, photos=40), out / "world")
    return out


@pytest.mark.parametrize("domain_specific", [False, True])
def test_train_is_seeded_and_writes_model_log_and_plot(world, domain_specific):
    params = SiameseParams(**TINY, domain_specific=domain_specific, epochs=2, seed=1)
    paths = [world / f"{domain_specific}-{i}.safetensors" for i in range(2)]
    results = [train_siamese(world / "world" / "pairs.csv", world / "world" / "overhead.tif", p, params)
               for p in paths]
    a, b = (load_model(p) for p in paths)
    assert a.manifest.network["shared"] is (not domain_specific)
    for (k, v), w in zip(a.model.state_dict().items(), b.model.state_dict().values()):
        assert torch.equal(v, w), k
    assert results[0].history == results[1].history
    calibration = a.manifest.network["calibration"]
    assert calibration["slope"] < 0 and results[0].calibration == calibration
    assert a.manifest.training["best_epoch"] == results[0].best_epoch
    assert results[0].loss_png.stat().st_size > 1000
    with open(results[0].log_csv, newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert [r["epoch"] for r in rows] == ["1", "2"] and "val_matched_distance" in rows[0]


def test_resume_continues_exactly(world):
    pairs, raster = world / "world" / "pairs.csv", world / "world" / "overhead.tif"
    straight = train_siamese(pairs, raster, world / "straight.safetensors", SiameseParams(**TINY, epochs=3))
    train_siamese(pairs, raster, world / "resumed.safetensors", SiameseParams(**TINY, epochs=2))
    resumed = train_siamese(pairs, raster, world / "resumed.safetensors", SiameseParams(**TINY, epochs=3),
                            resume=True, overwrite=True)
    assert [r["val_loss"] for r in resumed.history] == pytest.approx([r["val_loss"] for r in straight.history])
    with pytest.raises(TrainingError, match="other training options"):
        train_siamese(pairs, raster, world / "resumed.safetensors", SiameseParams(**{**TINY, "margin": 0.5}, epochs=4),
                      resume=True, overwrite=True)


def test_cli_trains_and_refuses_bad_options(world, capsys):
    from xview_engine.cli.main import main

    out = world / "cli.safetensors"
    args = ["train", "siamese", str(world / "world" / "pairs.csv"), "--raster", str(world / "world" / "overhead.tif"),
            "-o", str(out), "--backbone", "tiny_cnn", "--backbone-option", "width=4", "--backbone-option", "depth=2",
            "--dim", "8", "--tile-px", "16", "--gsd", "1", "--photo-px", "16,32", "--negatives", "4",
            "--min-distance-m", "30", "--epochs", "1", "--device", "cpu", "--domain-specific"]
    assert main(args) == 0
    assert "P(same place)" in capsys.readouterr().out
    assert load_model(out).manifest.network["shared"] is False
    assert main([*args, "--overwrite", "--margin", "3"]) == 2
    assert "margin" in capsys.readouterr().err
    assert main([*args, "--overwrite", "--photo-px", "16"]) == 2
