"""When photos were taken: EXIF DateTimeOriginal (+ OffsetTimeOriginal), the pairs CSV's time column."""

from __future__ import annotations

import warnings
from datetime import datetime, timedelta, timezone

import numpy as np
import pytest
from PIL import Image

from xview_engine.data.exif import (
    DATE_TIME_ORIGINAL,
    EXIF_IFD,
    OFFSET_TIME_ORIGINAL,
    GeoTag,
    make_exif,
    read_geotag,
    read_taken_time,
)
from xview_engine.data.pairs import read_pairs
from xview_engine.data.photo_time import photo_times
from xview_engine.errors import PairsError, XviewWarning


def _jpeg(path, exif) -> str:
    Image.fromarray(np.full((8, 8, 3), 128, np.uint8)).save(path, exif=exif)
    return str(path)


def test_time_round_trips_through_exif(tmp_path) -> None:
    local = datetime(2026, 1, 15, 8, 0, 30)
    photo = _jpeg(tmp_path / "a.jpg", make_exif(GeoTag(43.5, 16.4, 90.0), "x", local))
    assert read_taken_time(photo) == local and read_taken_time(photo).tzinfo is None
    assert read_geotag(photo) is not None  # the GPS is untouched
    with Image.open(photo) as im:
        assert im.getexif().get_ifd(EXIF_IFD)[DATE_TIME_ORIGINAL] == "2026:01:15 08:00:30"
    zoned = datetime(2026, 7, 1, 20, 30, tzinfo=timezone(timedelta(hours=-3, minutes=-30)))
    photo = _jpeg(tmp_path / "b.jpg", make_exif(GeoTag(43.5, 16.4), "x", zoned))
    with Image.open(photo) as im:
        assert im.getexif().get_ifd(EXIF_IFD)[OFFSET_TIME_ORIGINAL] == "-03:30"
    assert read_taken_time(photo) == zoned and read_taken_time(photo).utcoffset() == timedelta(hours=-3.5)


def test_no_time_tag_is_none_without_warning(tmp_path) -> None:
    photo = _jpeg(tmp_path / "c.jpg", make_exif(GeoTag(43.5, 16.4)))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert read_taken_time(photo) is None


@pytest.mark.parametrize("stamp, offset, why", [
    ("0000:00:00 00:00:00", None, "not YYYY:MM:DD"),
    ("2026:13:01 10:00:00", None, "not YYYY:MM:DD"),
    ("2026-01-15T08:00", None, "not YYYY:MM:DD"),
    ("2026:01:15 08:00:00", "+1:00", "not \\+HH:MM"),
    ("2026:01:15 08:00:00", "+25:00", "not \\+HH:MM"),
])
def test_unusable_times_are_a_warning(tmp_path, stamp, offset, why) -> None:
    exif = Image.Exif()
    exif[EXIF_IFD] = {DATE_TIME_ORIGINAL: stamp, **({OFFSET_TIME_ORIGINAL: offset} if offset else {})}
    photo = _jpeg(tmp_path / "d.jpg", exif)
    with pytest.warns(XviewWarning, match=f"no usable time in .*{why}"):
        assert read_taken_time(photo) is None


def _pairs(tmp_path, times: list[str]) -> str:
    rows = "".join(f"p{i}.jpg,43.5,16.4,{t}\n" for i, t in enumerate(times))
    path = tmp_path / "pairs.csv"
    path.write_text("path,lat,lon,time\n" + rows, encoding="utf-8")
    return str(path)


def test_pairs_time_column(tmp_path) -> None:
    pairs = read_pairs(_pairs(tmp_path, ["2026-01-15T08:00", "", "2026-07-01T20:30+02:00"]))
    assert list(pairs.columns["time"]) == ["2026-01-15T08:00", "", "2026-07-01T20:30+02:00"]
    assert "time" not in read_pairs(_write_plain(tmp_path)).columns


def _write_plain(tmp_path) -> str:
    path = tmp_path / "plain.csv"
    path.write_text("path,lat,lon\np.jpg,43.5,16.4\n", encoding="utf-8")
    return str(path)


def test_a_bad_pairs_time_names_the_row(tmp_path) -> None:
    with pytest.raises(PairsError, match=r"row 3: column 'time': '15/01/2026 08:00' is not an ISO 8601 time"):
        read_pairs(_pairs(tmp_path, ["2026-01-15T08:00", "15/01/2026 08:00"]))


def test_photo_times_prefer_the_table_then_exif(tmp_path) -> None:
    tagged = _jpeg(tmp_path / "e.jpg", make_exif(GeoTag(43.5, 16.4), "x", datetime(2026, 2, 1, 9)))
    untagged = _jpeg(tmp_path / "f.jpg", make_exif(GeoTag(43.5, 16.4)))
    paths = [tmp_path / "e.jpg", tmp_path / "e.jpg", tmp_path / "f.jpg", tmp_path / "missing.jpg"]
    assert tagged and untagged
    times = photo_times(paths, ["2026-03-01T10:00", "", "", ""])
    assert times == [datetime(2026, 3, 1, 10), datetime(2026, 2, 1, 9), None, None]
    assert photo_times(paths[1:2], None, use_exif=False) == [None]
