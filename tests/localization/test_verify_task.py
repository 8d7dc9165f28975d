"""`xview evaluate --task verify` (the same run as `xview verify --pairs`): AP equal to scikit-learn's,
the contact sheet's pairs, and the off-the-shelf baseline through a knn index on the same pairs."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
from siamese_fixtures import GSD_M, TILE_PX, siamese_world  # noqa: F401  (fixture)

from xview_engine.cli.main import main
from xview_engine.localization.verification import embedding_distance, unit_rows
from xview_engine.localization.verification_report import sheet_pairs
from xview_engine.resources import resource_path

TEACHER = resource_path("models", "xview-synthetic-teacher.safetensors")


def pair_rows(folder: Path) -> list[dict[str, str]]:
    with open(folder / "pairs.csv", newline="") as fh:
        return list(csv.DictReader(fh))


def verify_args(index: Path, out: Path) -> list[str]:
    return ["--index", str(index), "-o", str(out), "--negatives", "20", "--min-distance-m", "50", "--seed", "4",
            "--device", "cpu"]


@pytest.fixture(scope="module")
def runs(siamese_world, tmp_path_factory):  # noqa: F811
    """The same verification through `evaluate --task verify` and `verify --pairs`."""
    out = tmp_path_factory.mktemp("verify_task")
    w = siamese_world
    assert main(["evaluate", "--task", "verify", "--photos", str(w["pairs"]),
                 *verify_args(w["index"], out / "ev")]) == 0
    assert main(["verify", "--pairs", str(w["pairs"]), *verify_args(w["index"], out / "vf")]) == 0
    return {**w, "ev": out / "ev", "vf": out / "vf", "out": out}


def test_evaluate_task_verify_is_the_verify_run(runs):
    ev = json.loads((runs["ev"] / "verification.json").read_text())
    vf = json.loads((runs["vf"] / "verification.json").read_text())
    assert ev == vf
    assert pair_rows(runs["ev"]) == pair_rows(runs["vf"])
    assert ev["method"] == "siamese" and ev["features"] == "embedding"
    for name in ("precision_recall.png", "distances.png", "contact_sheet.png"):
        assert (runs["ev"] / name).stat().st_size > 1000


def test_average_precision_equals_scikit_learn(runs):
    from sklearn.metrics import average_precision_score

    rows = pair_rows(runs["ev"])
    distance = np.array([float(r["distance"]) for r in rows])
    labels = np.array([int(r["matched"]) for r in rows])
    report = json.loads((runs["ev"] / "verification.json").read_text())
    assert report["matched_pairs"] == 12 and report["unmatched_pairs"] == 240
    assert report["average_precision"] == pytest.approx(average_precision_score(labels, -distance), abs=1e-5)
    # the CSV's distances are those of the index embeddings and the photos' ground-branch embeddings
    from xview_engine.localization.index import load_index
    from xview_engine.localization.methods import PhotoOptions, method_for

    index = load_index(runs["index"])
    photos = [Path(r["photo"]) for r in rows]
    q = method_for("siamese").describe_photos(photos, PhotoOptions(model=str(runs["model"]), device="cpu"))
    tiles = np.asarray(index.arrays["embedding"])[[int(r["tile"]) for r in rows]]
    expected = embedding_distance(np.sum(unit_rows(q.values["embedding"]) * unit_rows(tiles), axis=1))
    np.testing.assert_allclose(distance, expected, atol=2e-6)


def test_sheet_pairs_by_hand():
    distance = np.array([0.9, 0.2, 0.5, 0.1, 0.7, 0.3, 0.5, 1.2])
    matched = np.array([1, 0, 1, 0, 1, 0, 0, 1], bool)
    easy, hard = sheet_pairs(distance, matched, k=2)
    assert easy.tolist() == [2, 4]  # matched, smallest distance first: 0.5, 0.7
    assert hard.tolist() == [3, 1]  # unmatched, smallest distance first: 0.1, 0.2
    easy, hard = sheet_pairs(distance, matched, k=10)
    assert easy.tolist() == [2, 4, 0, 7] and hard.tolist() == [3, 1, 5, 6]  # the tie 0.5 / 0.5 in pair order


def test_contact_sheet_shows_the_easiest_matched_and_hardest_unmatched(runs):
    from PIL import Image

    from xview_engine.localization.sheets import CAPTION_PX, COLUMNS, THUMB_PX

    rows = pair_rows(runs["ev"])
    sheet = json.loads((runs["ev"] / "verification.json").read_text())["contact_sheet"]
    distance = np.array([float(r["distance"]) for r in rows])
    matched = np.array([r["matched"] == "1" for r in rows])
    order = np.argsort(distance, kind="stable")
    assert sheet["matched_rows"] == [int(i) for i in order[matched[order]][:8]]
    assert sheet["unmatched_rows"] == [int(i) for i in order[~matched[order]][:8]]
    assert all(matched[i] for i in sheet["matched_rows"]) and not any(matched[i] for i in sheet["unmatched_rows"])
    assert max(distance[sheet["matched_rows"]]) <= np.sort(distance[matched])[7]
    assert sheet["tiles_from"] == str(Path(runs["raster"]).resolve())
    with Image.open(runs["ev"] / "contact_sheet.png") as img:  # 8 + 8 pairs, two per row
        assert img.size == (COLUMNS * THUMB_PX, 8 * (THUMB_PX + CAPTION_PX))


def test_task_verify_refuses_localization_options_and_a_distill_index(runs, capsys, tmp_path):
    assert main(["evaluate", "--task", "verify", "--photos", str(runs["pairs"]), "--labels", "x.npz",
                 *verify_args(runs["index"], tmp_path / "a")]) == 2
    assert "--labels do not apply" in capsys.readouterr().err
    from localize_fixtures import WORLD, world_model

    from xview_engine.synth.world import make_world

    make_world(WORLD, tmp_path / "w")
    model = world_model(tmp_path / "w" / "labels.npz", tmp_path / "d.safetensors")
    assert main(["index", str(tmp_path / "w" / "overhead.tif"), "--model", str(model), "-o", str(tmp_path / "ix"),
                 "--device", "cpu"]) == 0
    capsys.readouterr()
    assert main(["evaluate", "--task", "verify", "--photos", str(tmp_path / "w" / "pairs.csv"),
                 *verify_args(tmp_path / "ix", tmp_path / "b")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("xview: error: ") and "'distill' model" in err and err.count("\n") == 1


@pytest.fixture(scope="module")
def baseline(runs):
    """The synthetic teacher's penultimate layer as a knn model on the Siamese model's grid, verified."""
    out = runs["out"]
    knn = out / "knn.safetensors"
    assert main(["features", "--teachers", f"synthetic={TEACHER}", "--layer", "penultimate", "-o", str(knn),
                 "--tile-px", str(TILE_PX), "--gsd", str(GSD_M), "--device", "cpu"]) == 0
    assert main(["index", str(runs["raster"]), "--model", str(knn), "-o", str(out / "knn_index"),
                 "--device", "cpu"]) == 0
    assert main(["verify", "--pairs", str(runs["pairs"]),
                 *verify_args(out / "knn_index", out / "knn_vf")]) == 0
    return {**runs, "knn": knn, "knn_index": out / "knn_index", "knn_vf": out / "knn_vf"}


def test_off_the_shelf_baseline_is_verified_on_the_same_pairs(baseline):
    siamese, knn = pair_rows(baseline["ev"]), pair_rows(baseline["knn_vf"])
    key = [(r["photo"], r["tile"], r["matched"]) for r in siamese]
    assert [(r["photo"], r["tile"], r["matched"]) for r in knn] == key  # same grid, same seed: same pairs
    report = json.loads((baseline["knn_vf"] / "verification.json").read_text())
    assert report["method"] == "knn" and report["features"] == "features"
    assert all(r["p_same_place"] == "" for r in knn)  # a knn model has no calibration


def test_baseline_distances_are_the_normalised_feature_distances(baseline):
    """Hand computation: the teacher's own pooled features of each photo vs the tile's, both L2-normalised."""
    import torch
    from sklearn.metrics import average_precision_score

    from xview_engine.localization.index import load_index
    from xview_engine.model.file import load_model
    from xview_engine.teachers.base import read_photo, to_tensor

    rows = pair_rows(baseline["knn_vf"])
    net = load_model(baseline["knn"], device="cpu").model
    photos = sorted({r["photo"] for r in rows})
    batch = to_tensor([read_photo(Path(p)) for p in photos], net.photo_px, net.photo_mean, net.photo_std)
    with torch.inference_mode():
        pooled = net.net.pooled(batch).double().numpy()
    feature = {p: f / np.linalg.norm(f) for p, f in zip(photos, pooled)}
    tiles = np.asarray(load_index(baseline["knn_index"]).arrays["features"], np.float64)
    expected = []
    for r in rows:
        t = tiles[int(r["tile"])]
        expected.append(np.linalg.norm(feature[r["photo"]] - t / np.linalg.norm(t)))
    distance = np.array([float(r["distance"]) for r in rows])
    np.testing.assert_allclose(distance, expected, atol=2e-5)
    labels = np.array([int(r["matched"]) for r in rows])
    report = json.loads((baseline["knn_vf"] / "verification.json").read_text())
    assert report["average_precision"] == pytest.approx(average_precision_score(labels, -distance), abs=1e-5)
