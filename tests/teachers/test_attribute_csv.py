"""`csv=ATTRIBUTES.csv` teachers: values a user already has, per photo, with each head's kind."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from xview_engine.data.label_files import read_label_file
from xview_engine.errors import TeacherError
from xview_engine.teachers import load_teachers
from xview_engine.teachers.run import teach

HEADER = "photo,land:water,land:forest,sunny,snow,car:car,depth:metres"
ROWS = ("a.jpg,0.2,0.8,0.9,0.0,yes,3.5", "b.jpg,0.5,0.5,0.1,1,no,-2", "c.jpg,1,0,0.5,0.25,1,0")


def _csv(folder: Path, rows=ROWS, header: str = HEADER, name: str = "weather.csv", kinds: str | None = None) -> Path:
    path = folder / name
    path.write_text("\n".join([header, *rows]) + "\n", encoding="utf-8")
    if kinds is not None:
        path.with_suffix(".kinds.csv").write_text(kinds, encoding="utf-8")
    return path


KINDS = "head,kind\nland,categorical\nweather,fraction\ncar,binary\ndepth,gaussian\n"


def _photos(folder: Path, names=("c.jpg", "a.jpg")) -> list[Path]:
    return [folder / n for n in names]


def test_heads_kinds_and_rows_in_photo_order(tmp_path) -> None:
    path = _csv(tmp_path, kinds=KINDS)
    teachers = load_teachers(f"csv={path}")
    assert teachers.heads == ("land", "weather", "car", "depth")
    assert teachers.kinds == {"land": "categorical", "weather": "fraction", "car": "binary", "depth": "continuous"}
    assert teachers.labels["weather"] == ("sunny", "snow") and teachers.labels["land"] == ("water", "forest")
    out = teachers.label_photos(_photos(tmp_path))  # no photo file is opened: they need not exist
    np.testing.assert_allclose(out["weather"], [[0.5, 0.25], [0.9, 0.0]])
    np.testing.assert_allclose(out["car"], [[1.0], [1.0]])
    np.testing.assert_allclose(out["depth"], [[0.0], [3.5]])
    np.testing.assert_allclose(out["land"], [[1.0, 0.0], [0.2, 0.8]])


def test_kind_options_and_spec_default_come_before_the_header_file(tmp_path) -> None:
    path = _csv(tmp_path, kinds="head,kind\nweather,fraction\n")
    teachers = load_teachers(f"csv:counts={path}", kinds={"car": "bernoulli", "depth": "continuous"})
    assert teachers.kinds == {"land": "counts", "weather": "fraction", "car": "binary", "depth": "continuous"}


@pytest.mark.parametrize(("rows", "header", "message"), [
    (("a.jpg,0.2,0.8,1.4,0,yes,1",), HEADER, r"row 2 column 'sunny': 1.4 is not a fraction value \(a number from 0"),
    (("a.jpg,0.2,0.8,0.4,0,maybe,1",), HEADER, r"row 2 column 'car:car': 'maybe' is not a number \(yes / no"),
    (("a.jpg,0.2,0.8,0.4,0,0.5,1",), HEADER, r"row 2 column 'car:car': 0.5 is not a binary value"),
    (("a.jpg,0.2,0.8,0.4,,1,1",), HEADER, r"row 2 column 'snow' is empty"),
    (("a.jpg,0.2,0.8,0.4,0,1,deep",), HEADER, r"row 2 column 'depth:metres': 'deep' is not a number"),
    (("a.jpg,0.2,0.8,0.4,0,1,1", "b.jpg,0.3,0.3,0,0,1,1"), HEADER, r"row 3: head 'land' \(categorical\) sums to 0.6"),
    (("a.jpg,0.2,0.8,0.4,0,1,1", "a.jpg,0.2,0.8,0.4,0,1,1"), HEADER, r"row 3: photo a.jpg is already in row 2"),
    ((",0.2,0.8,0.4,0,1,1",), HEADER, r"row 2: column 'photo' is empty"),
    (("a.jpg,0.2,0.8,0.4,0,1",), HEADER, r"row 2: 6 cells where the header has 7"),
    (("a.jpg,1",), "image,x", r"has no photo column \('photo' or 'path'"),
    (("a.jpg,1",), "photo,bad head:x", r"column 'bad head:x': head name 'bad head' must be"),
])
def test_bad_csvs_name_the_row_and_column(tmp_path, rows, header, message) -> None:
    path = _csv(tmp_path, rows, header, kinds=KINDS if header == HEADER else "head,kind\n")
    with pytest.raises(TeacherError, match=message):
        load_teachers(f"csv:fraction={path}")


def test_missing_kinds_and_photos_are_errors(tmp_path) -> None:
    path = _csv(tmp_path)
    with pytest.raises(TeacherError, match=r"head 'land' has no kind; say what its values are with --kind land=KIND"):
        load_teachers(f"csv={path}")
    with pytest.raises(TeacherError, match=r"--kind land: unknown kind 'probability' \(known: categorical, counts"):
        load_teachers(f"csv:fraction={path}", kinds={"land": "probability"})
    with pytest.raises(TeacherError, match=r"--kind names head\(s\) sky that no attribute CSV has"):
        load_teachers(f"csv:continuous={path}", kinds={"sky": "binary", "car": "binary"})
    teachers = load_teachers(f"csv={path}", kinds={"land": "categorical", "weather": "fraction", "car": "binary",
                                                   "depth": "continuous"})
    with pytest.raises(TeacherError, match=r"has no row for 1 photo\(s\) \(first: .*d.jpg\)"):
        teachers.label_photos(_photos(tmp_path, ("a.jpg", "d.jpg")))


def test_teach_writes_a_label_file_with_the_kinds(tmp_path) -> None:
    _csv(tmp_path, kinds=KINDS)
    pairs = tmp_path / "pairs.csv"
    pairs.write_text("path,lat,lon\nb.jpg,52.0,4.0\na.jpg,52.1,4.1\n", encoding="utf-8")
    out = teach(pairs, f"csv={tmp_path / 'weather.csv'}", tmp_path / "labels.npz")
    labels = read_label_file(out)
    assert labels.kinds == {"land": "categorical", "weather": "fraction", "car": "binary", "depth": "continuous"}
    np.testing.assert_allclose(labels.heads["depth"], [[-2.0], [3.5]])
    assert list(labels.table["path"]) == ["b.jpg", "a.jpg"]


def test_cli_bad_csv_is_one_line_exit_2(tmp_path) -> None:
    path = _csv(tmp_path, ("a.jpg,0.2,0.8,2,0,1,1",), kinds=KINDS)
    pairs = tmp_path / "pairs.csv"
    pairs.write_text("path,lat,lon\na.jpg,52.0,4.0\n", encoding="utf-8")
    result = subprocess.run([sys.executable, "-m", "xview_engine", "teach", str(pairs), "--teachers", f"csv={path}",
                             "-o", str(tmp_path / "l.npz")], capture_output=True, text=True, timeout=120)
    assert result.returncode == 2 and len(result.stderr.strip().splitlines()) == 1
    assert "row 2 column 'sunny': 2 is not a fraction value" in result.stderr
    result = subprocess.run([sys.executable, "-m", "xview_engine", "teach", str(pairs), "--teachers", f"csv={path}",
                             "--kind", "weather", "-o", str(tmp_path / "l.npz")], capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 2 and "--kind 'weather' must be HEAD=KIND" in result.stderr
