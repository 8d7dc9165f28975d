"""Label files and pairs CSVs: round trip, kind inference for synth files, one clear message per fault."""

from __future__ import annotations

import numpy as np
import pytest

from xview_engine.data.label_files import infer_kind, read_label_file, write_label_file
from xview_engine.data.pairs import read_pairs
from xview_engine.errors import LabelFileError, PairsError


def test_round_trip_same_bytes(tmp_path):
    heads = {"scene": np.array([[0.25, 0.75], [1.0, 0.0]], np.float32), "count": np.array([[2.0], [0.0]], np.float32)}
    names = {"scene": ("beach", "park"), "count": ("car",)}
    kinds = {"scene": "categorical", "count": "counts"}
    table = {"path": np.array(["photos/a.jpg", "/abs/b.jpg"]), "split": np.array(["train", "val"])}
    a = write_label_file(tmp_path / "a.npz", heads, names, kinds, table)
    b = write_label_file(tmp_path / "b.npz", heads, names, kinds, table)
    assert a.read_bytes() == b.read_bytes()
    lf = read_label_file(a)
    assert lf.names == names and lf.kinds == kinds and len(lf) == 2
    assert lf.photo_paths() == [tmp_path / "photos/a.jpg", __import__("pathlib").Path("/abs/b.jpg")]
    with pytest.raises(LabelFileError, match="no head 'object'.*scene, count"):
        lf.head("object")


def test_kind_inferred_when_absent(tmp_path):
    assert infer_kind(np.array([[0.5, 0.5]])) == "categorical"
    assert infer_kind(np.array([[3.0, 0.0]])) == "counts"
    path = tmp_path / "synth.npz"
    np.savez(path, scene=np.array([[0.2, 0.8]], np.float32), scene_names=np.array(["a", "b"]))
    assert read_label_file(path).kinds == {"scene": "categorical"}


@pytest.mark.parametrize(
    ("arrays", "match"),
    [
        ({"x": np.zeros(2)}, "has no heads"),
        ({"s": np.zeros((2, 3)), "s_names": np.array(["a", "b"])}, "shape .* but 2 names"),
        ({"s": -np.ones((1, 2)), "s_names": np.array(["a", "b"])}, "negative values"),
        ({"s": np.ones((2, 2)) / 2, "s_names": np.array(["a", "b"]), "split": np.array(["train"])}, "different photo"),
    ],
)
def test_label_file_errors(tmp_path, arrays, match):
    path = tmp_path / "bad.npz"
    np.savez(path, **arrays)
    with pytest.raises(LabelFileError, match=match):
        read_label_file(path)


def test_missing_label_file(tmp_path):
    with pytest.raises(LabelFileError, match="does not exist.*xview teach"):
        read_label_file(tmp_path / "none.npz")


def test_pairs(tmp_path):
    path = tmp_path / "pairs.csv"
    path.write_text("path,lat,lon,split,tile\np/1.jpg,43.5,16.4,train,t/1.png\np/2.jpg,43.6,16.5,,t/2.png\n")
    pairs = read_pairs(path)
    assert pairs.photos[0] == tmp_path / "p/1.jpg" and pairs.tiles[1] == tmp_path / "t/2.png"
    assert np.isnan(pairs.columns["heading"]).all() and list(pairs.columns["split"]) == ["train", ""]


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("path,lat\na.jpg,1\n", "lacks the column.*lon"),
        ("path,lat,lon\na.jpg,north,1\n", "row 2: column 'lat' is 'north'"),
        ("path,lat,lon\na.jpg,,1\n", "row 2: column 'lat' is empty"),
        ("path,lat,lon\n", "has no rows"),
    ],
)
def test_pairs_errors(tmp_path, text, match):
    path = tmp_path / "pairs.csv"
    path.write_text(text)
    with pytest.raises(PairsError, match=match):
        read_pairs(path)
