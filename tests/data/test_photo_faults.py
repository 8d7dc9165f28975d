"""Hostile photos: broken EXIF GPS is a warning and the photo is still localized; decompression bombs
and truncated files are refused by their declared size or at decoding, with one line naming the file.

Photos are real JPEG / PNG files written here; the bombs are PNG headers that declare a huge image
over a few bytes of data (what an attacker sends), so nothing large is ever allocated.
"""

from __future__ import annotations

import csv
import os
import subprocess
import sys
import warnings
from fractions import Fraction
from pathlib import Path

import pytest
from localize_fixtures import tiny_teacher, world  # noqa: F401  (fixture)
from photo_fixtures import bomb_png
from PIL import Image
from PIL.TiffImagePlugin import IFDRational

from xview_engine.data.exif import DIR_REF, DIRECTION, GPS_IFD, LAT, LAT_REF, LON, LON_REF, GeoTag, read_geotag
from xview_engine.data.images import read_rgb
from xview_engine.errors import SourceError, TeacherError, XviewWarning
from xview_engine.limits import MAX_PHOTO_PIXELS
from xview_engine.teachers.base import read_photo

ROOT = Path(__file__).resolve().parents[2]
GOOD = {LAT_REF: "N", LAT: (Fraction(43), Fraction(30), Fraction(0)),
        LON_REF: "W", LON: (Fraction(16), Fraction(24), Fraction(36))}


def gps_photo(path: Path, **change) -> Path:
    """A real 64x32 JPEG whose GPS IFD is GOOD with ``change`` applied (None removes a tag)."""
    tags = {"lat": LAT, "lat_ref": LAT_REF, "lon": LON, "lon_ref": LON_REF, "heading": DIRECTION,
            "heading_ref": DIR_REF}
    gps = dict(GOOD)
    for name, value in change.items():
        tag = tags[name]
        if value is None:
            gps.pop(tag, None)
        else:
            gps[tag] = value
    exif = Image.Exif()
    exif[GPS_IFD] = gps
    Image.new("RGB", (64, 32), (90, 120, 60)).save(path, format="JPEG", exif=exif)
    return path


def test_good_gps_round_trip(tmp_path) -> None:
    tag = read_geotag(gps_photo(tmp_path / "p.jpg", heading=Fraction(9050, 100)))
    assert tag == GeoTag(43.5, -(16 + 24 / 60 + 36 / 3600), 90.5)


@pytest.mark.parametrize(
    ("change", "why"),
    [
        ({"lat": (Fraction(200), Fraction(0), Fraction(0))}, "latitude 200 is outside [-90, 90]"),
        ({"lon": (Fraction(179), Fraction(60), Fraction(1))}, "longitude 180 is outside [-180, 180]"),
        ({"lat": (IFDRational(43, 0), Fraction(0), Fraction(0))}, "latitude has a zero denominator"),
        ({"lat": Fraction(43)}, "latitude has 1 value(s) instead of 3"),
        ({"lon": (Fraction(16), Fraction(24))}, "longitude has 2 value(s) instead of 3"),
        ({"lat_ref": None}, "latitude reference is missing, not N or S"),
        ({"lon_ref": "Q"}, "longitude reference is 'Q', not E or W"),
        ({"lat_ref": "E"}, "latitude reference is 'E', not N or S"),
        ({"lon": None}, "longitude is missing"),
        ({"lat": (Fraction(43), Fraction(75), Fraction(0))}, "latitude 43 deg 75' 0\" is not degrees"),
    ],
)
def test_unusable_gps_is_a_warning_and_no_position(tmp_path, change, why) -> None:
    photo = gps_photo(tmp_path / "p.jpg", **change)
    with pytest.warns(XviewWarning, match="no usable GPS in") as caught:
        assert read_geotag(photo) is None
    message = str(caught[0].message)
    assert f"no usable GPS in {photo} ({why}" in message and "true position is unknown" in message


def test_unusable_heading_keeps_the_position(tmp_path) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        tag = read_geotag(gps_photo(tmp_path / "p.jpg", heading=IFDRational(5, 0)))
    assert tag is not None and tag.lat == 43.5 and tag.heading is None


def test_a_magnetic_heading_is_dropped_with_a_warning_a_true_one_kept(tmp_path) -> None:
    with pytest.warns(XviewWarning, match="magnetic north"):
        tag = read_geotag(gps_photo(tmp_path / "m.jpg", heading=Fraction(9050, 100), heading_ref="M"))
    assert tag is not None and tag.lat == 43.5 and tag.heading is None
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        tag = read_geotag(gps_photo(tmp_path / "t.jpg", heading=Fraction(9050, 100), heading_ref="T"))
    assert tag.heading == 90.5


def test_no_gps_at_all_is_quietly_none(tmp_path) -> None:
    Image.new("RGB", (8, 8)).save(tmp_path / "plain.jpg")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert read_geotag(tmp_path / "plain.jpg") is None


@pytest.mark.parametrize("side", [10_000, 100_000])  # Pillow's warning band, and its own error band
def test_decompression_bombs_are_refused_by_their_declared_size(tmp_path, side) -> None:
    bomb = bomb_png(tmp_path / "bomb.png", side, side)
    assert side * side > MAX_PHOTO_PIXELS
    for read in (read_rgb, read_geotag):
        with pytest.raises(SourceError, match=f"photo {bomb} declares .*decompression bomb"):
            read(bomb)
    with pytest.raises(TeacherError, match="decompression bomb"):
        read_photo(bomb)


def test_truncated_and_fake_photos_are_one_error(tmp_path) -> None:
    good = gps_photo(tmp_path / "p.jpg")
    (tmp_path / "cut.jpg").write_bytes(good.read_bytes()[:400])
    with pytest.raises(SourceError, match=f"photo {tmp_path / 'cut.jpg'} cannot be"):
        read_rgb(tmp_path / "cut.jpg")
    (tmp_path / "fake.jpg").write_bytes(b"\x80\x04not an image")
    with pytest.raises(TeacherError, match="cannot be read as an image"):
        read_photo(tmp_path / "fake.jpg")
    assert read_rgb(good, size=(16, 8)).shape == (8, 16, 3)


def xview(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "xview_engine", *args], capture_output=True, text=True,
                          timeout=300, cwd=cwd, env={**os.environ, "PYTHONPATH": str(ROOT)})


def test_localize_with_teachers_warns_and_still_localizes(world, tmp_path) -> None:  # noqa: F811
    teacher = tiny_teacher(world["labels"], tmp_path / "teacher.safetensors")
    photos = [gps_photo(tmp_path / "lat200.jpg", lat=(Fraction(200), Fraction(0), Fraction(0))),
              gps_photo(tmp_path / "noref.jpg", lon_ref=None)]
    result = xview("localize", *map(str, photos), "--index", str(world["index"]), "--teachers",
                   f"synthetic={teacher}", "--device", "cpu", "-o", str(tmp_path / "heat"), cwd=tmp_path)
    assert result.returncode == 0 and "Traceback" not in result.stderr, result.stderr
    warned = [line for line in result.stderr.splitlines() if line.startswith("xview: warning: no usable GPS in")]
    assert len(warned) == 2 and "latitude 200" in warned[0] and "longitude reference is missing" in warned[1]
    assert sorted(p.name for p in (tmp_path / "heat").iterdir()) == ["lat200.tif", "noref.tif"]


def test_teach_refuses_a_bomb_in_one_line_and_writes_nothing(world, tmp_path) -> None:  # noqa: F811
    teacher = tiny_teacher(world["labels"], tmp_path / "teacher.safetensors")
    photos = [gps_photo(tmp_path / "zero.jpg", lat=(IFDRational(1, 0), Fraction(0), Fraction(0))),
              bomb_png(tmp_path / "bomb.png", 100_000, 100_000)]
    for name, rows in (("bad_gps.csv", photos[:1]), ("bomb.csv", photos)):
        with open(tmp_path / name, "w", newline="") as f:
            csv.writer(f).writerows([["path", "lat", "lon"], *[[p.name, 43.5, 16.4] for p in rows]])
    args = ["--teachers", f"synthetic={teacher}", "--device", "cpu", "--no-cache"]
    result = xview("teach", str(tmp_path / "bad_gps.csv"), *args, "-o", str(tmp_path / "ok.npz"), cwd=tmp_path)
    assert result.returncode == 0 and (tmp_path / "ok.npz").is_file(), result.stderr
    result = xview("teach", str(tmp_path / "bomb.csv"), *args, "-o", str(tmp_path / "labels.npz"), cwd=tmp_path)
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr
    [line] = result.stderr.strip().splitlines()[-1:]
    assert line.startswith(f"xview: error: photo {tmp_path / 'bomb.png'} declares") and "bomb" in line
    assert [line for line in result.stderr.splitlines() if line.startswith("xview: error:")] == [line]
    assert not (tmp_path / "labels.npz").exists() and not list(tmp_path.glob(".*part*"))
