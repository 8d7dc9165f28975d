"""The synthetic world through the year: photo times, seasons and night in the renders, transient truth."""

from __future__ import annotations

import csv
import hashlib
from datetime import datetime

import numpy as np
import pytest
from PIL import Image

from xview_engine.data.exif import read_taken_time
from xview_engine.errors import SynthError
from xview_engine.model.time_features import parse_time
from xview_engine.synth import landcover as lc
from xview_engine.synth import seasons
from xview_engine.synth.params import SynthParams
from xview_engine.synth.world import make_world

TIMED = SynthParams(seed=2, size_m=400, gsd=1.0, photos=40, fov=90, months=(1, 7))


@pytest.fixture(scope="module")
def timed_world(tmp_path_factory):
    out = tmp_path_factory.mktemp("timed") / "world"
    make_world(TIMED, out)
    return out


def _rows(world):
    with open(world / "pairs.csv", newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def test_every_photo_has_its_time_in_pairs_exif_and_labels(timed_world) -> None:
    rows = _rows(timed_world)
    labels = np.load(timed_world / "labels.npz")
    assert [r["time"] for r in rows] == [str(t) for t in labels["time"]]
    for row in rows:
        when = parse_time(row["time"])
        assert when.month in (1, 7) and when.year == seasons.YEAR
        assert read_taken_time(timed_world / row["path"]) == when
    assert "time" in (timed_world / "README.txt").read_text(encoding="utf-8")


def test_transient_truth_follows_the_laws(timed_world) -> None:
    labels = np.load(timed_world / "labels.npz")
    times = [parse_time(str(t)) for t in labels["time"]]
    for head, names in seasons.TRANSIENT_HEADS.items():
        assert tuple(labels[f"{head}_names"]) == names
        np.testing.assert_allclose(labels[head].sum(axis=1), 1.0, atol=1e-6)
        assert labels[head].min() >= seasons.TRUTH_EPS - 1e-6
    squeeze = lambda v: seasons.TRUTH_EPS + (1 - 2 * seasons.TRUTH_EPS) * v  # noqa: E731
    night = np.array([squeeze(1 - seasons.conditions_at(t).daylight) for t in times])
    leaves = np.array([squeeze(seasons.conditions_at(t).leaves) for t in times])
    np.testing.assert_allclose(labels["night"][:, 0], night, atol=1e-6)
    np.testing.assert_allclose(labels["foliage"][:, 0], leaves, atol=1e-6)
    january = np.array([t.month == 1 for t in times])
    assert january.any() and (~january).any()
    snow = labels["snow"][:, 0]
    assert np.allclose(snow[~january], seasons.TRUTH_EPS)  # no snow in July
    assert snow[january].mean() > 0.2  # January photos see snow on grass, fields, roofs


def test_night_photos_are_dark_and_winter_photos_white(timed_world) -> None:
    labels = np.load(timed_world / "labels.npz")
    brightness = np.array([np.asarray(Image.open(timed_world / str(p)), np.float32).mean() for p in labels["path"]])
    night = labels["night"][:, 0] > 0.9
    day = labels["night"][:, 0] < 0.1
    assert night.any() and day.any()
    assert brightness[night].mean() < 0.4 * brightness[day].mean()
    snowy = day & (labels["snow"][:, 0] > 0.4)
    bare = day & (labels["snow"][:, 0] < 0.02)
    if snowy.any() and bare.any():
        assert brightness[snowy].mean() > brightness[bare].mean()


def test_same_seed_same_bytes_and_timeless_worlds_unchanged(timed_world, tmp_path) -> None:
    make_world(TIMED, tmp_path / "again")
    for name in ("labels.npz", "pairs.csv", "photos/00003.jpg"):
        assert hashlib.sha256((tmp_path / "again" / name).read_bytes()).digest() == \
            hashlib.sha256((timed_world / name).read_bytes()).digest()
    timeless = SynthParams(seed=2, size_m=400, gsd=1.0, photos=40, fov=90)
    make_world(timeless, tmp_path / "timeless")
    assert "time" not in _rows(tmp_path / "timeless")[0]
    assert "snow" not in np.load(tmp_path / "timeless" / "labels.npz").files
    # the cameras stand where they stand in the timeless world: time draws its own random stream
    spots = [r["path"] + r["x"] for r in _rows(timed_world)]
    assert [r["path"] + r["x"] for r in _rows(tmp_path / "timeless")] == spots
    assert read_taken_time(tmp_path / "timeless" / "photos" / "00000.jpg") is None


def test_laws_by_hand() -> None:
    winter, summer = seasons.conditions_at(datetime(2026, 1, 15, 12)), seasons.conditions_at(datetime(2026, 7, 15, 0))
    assert winter.snow == pytest.approx(1.0, abs=0.01) and summer.snow == 0.0
    assert winter.leaves == 0.0 and summer.leaves == 1.0
    assert winter.daylight == 1.0 and summer.daylight == 0.0
    assert seasons.conditions_at(datetime(2026, 10, 25)).autumn > 0.9
    classes = np.array([lc.WATER, lc.GRASS, lc.ROAD])
    np.testing.assert_allclose(seasons.snow_probability(classes, datetime(2026, 1, 15, 12)),
                               winter.snow * np.array([0.0, 1.0, 0.15]), rtol=1e-6)


def test_months_are_checked() -> None:
    with pytest.raises(SynthError, match="distinct month numbers"):
        SynthParams(months=(1, 13))
    with pytest.raises(SynthError, match="distinct month numbers"):
        SynthParams(months=(2, 2))


def test_cli_months(tmp_path, capsys) -> None:
    from xview_engine.cli.main import main

    out = tmp_path / "w"
    assert main(["synth", "-o", str(out), "--size-m", "200", "--gsd", "2", "--photos", "4", "--months", "12-1"]) == 0
    assert {parse_time(r["time"]).month for r in _rows(out)} <= {12, 1}
    assert main(["synth", "-o", str(tmp_path / "x"), "--size-m", "200", "--gsd", "2", "--months", "13"]) == 2
    assert "xview: error: --months" in capsys.readouterr().err
