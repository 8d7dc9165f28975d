"""The Siamese localization method and verification: embeddings in the index, scores as one matrix
product, localize / evaluate / retrieve unchanged, `xview verify`, average precision by hand."""

from __future__ import annotations

import json

import numpy as np
import pytest
from siamese_fixtures import siamese_world  # noqa: F401  (fixture)

from xview_engine.localization.methods import method_for
from xview_engine.localization.siamese import similarity
from xview_engine.localization.verification import average_precision, embedding_distance, precision_recall


def test_average_precision_by_hand():
    # positives at ranks 1, 3, 5: AP = (1/1 + 2/3 + 3/5) / 3
    scores, labels = [0.9, 0.8, 0.7, 0.6, 0.5], [1, 0, 1, 0, 1]
    assert average_precision(scores, labels) == pytest.approx((1 + 2 / 3 + 3 / 5) / 3)
    # a tie is one threshold: (0.9: P 1/2, R 1/2), (0.5: P 2/3, R 1) -> 1/2 * 1/2 + 1/2 * 2/3 (sklearn's value)
    assert average_precision([0.9, 0.9, 0.5], [1, 0, 1]) == pytest.approx(0.5 * 0.5 + 0.5 * 2 / 3)
    assert average_precision([3, 2, 1], [1, 1, 0]) == 1.0
    precision, recall = precision_recall([0.9, 0.9, 0.5], [1, 0, 1])
    np.testing.assert_allclose(precision, [0.5, 2 / 3])
    np.testing.assert_allclose(recall, [0.5, 1.0])


def test_average_precision_matches_the_mean_precision_at_each_positive():
    rng = np.random.default_rng(4)
    for _ in range(20):
        scores, labels = rng.random(200), rng.random(200) < 0.1
        labels[0] = True
        order = np.argsort(-scores)
        hits = np.cumsum(labels[order])
        reference = np.mean([hits[k] / (k + 1) for k in range(200) if labels[order][k]])
        assert average_precision(scores, labels) == pytest.approx(reference)


def test_similarity_is_one_chunked_matrix_product():
    rng = np.random.default_rng(0)
    tiles = rng.normal(size=(1000, 8)).astype(np.float16)
    photos = rng.normal(size=(3, 8)).astype(np.float32)
    valid = rng.random(1000) > 0.2
    full = similarity(tiles, valid, photos, chunk=10**6)
    np.testing.assert_allclose(similarity(tiles, valid, photos, chunk=77), full)
    np.testing.assert_allclose(full[:, valid], photos @ tiles[valid].astype(np.float32).T, rtol=1e-6)
    assert np.isneginf(full[:, ~valid]).all()
    unit = np.array([[1.0, 0.0]]), np.array([[0.6, 0.8]])
    s = (unit[0] @ unit[1].T).item()
    assert embedding_distance(s) ** 2 == pytest.approx(np.sum((unit[0] - unit[1]) ** 2))  # s = 1 - d^2 / 2


@pytest.fixture(scope="module")
def world(siamese_world):  # noqa: F811
    return siamese_world


def test_index_holds_unit_embeddings_and_scores_by_cosine(world):
    from xview_engine.localization.index import load_index
    from xview_engine.localization.methods import PhotoOptions

    index = load_index(world["index"])
    assert index.method == "siamese" and index.header["embedding"]["dim"] == 8
    e = np.asarray(index.arrays["embedding"])[index.valid]
    np.testing.assert_allclose(np.linalg.norm(e, axis=1), 1.0, rtol=1e-5)
    method = method_for("siamese")
    queries = method.describe_photos(world["photos"][:3], PhotoOptions(model=str(world["model"]), device="cpu"))
    scores = method.score(index, queries).heads["combined"]
    q = queries.values["embedding"]
    np.testing.assert_allclose(scores[:, index.valid], q @ e.T, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(method.score_tile(index, 17, queries), scores[:, 17], rtol=1e-6)


def test_localize_evaluate_retrieve_run_unchanged(world, tmp_path, capsys):
    from xview_engine.cli.main import main

    photo = str(world["photos"][0])
    assert main(["localize", photo, "--index", str(world["index"]), "-o", str(tmp_path / "h.tif"), "--device",
                 "cpu"]) == 0  # the model comes from the index header
    assert (tmp_path / "h.tif").is_file() and "truth (exif)" in capsys.readouterr().out
    assert main(["evaluate", "--index", str(world["index"]), "--photos", str(world["pairs"]), "-o",
                 str(tmp_path / "ev"), "--device", "cpu"]) == 0
    metrics = json.loads((tmp_path / "ev" / "metrics.json").read_text())
    assert metrics["queries_total"] == 12 and 0 <= metrics["metrics"]["combined"]["top_1pct"] <= 1
    assert main(["retrieve", photo, "--index", str(world["index"]), "-o", str(tmp_path / "rt"), "--top-k", "3",
                 "--device", "cpu"]) == 0
    assert (tmp_path / "rt" / "retrieve.json").is_file()


def test_verify_one_photo_at_a_point(world, capsys):
    from xview_engine.cli.main import main
    from xview_engine.data.pairs import read_pairs

    pairs = read_pairs(world["pairs"])
    at = f"{pairs.columns['lon'][0]},{pairs.columns['lat'][0]}"
    base = [str(pairs.photos[0]), "--model", str(world["model"]), "--raster", str(world["raster"]), "--device", "cpu"]
    assert main(["verify", *base, "--at", at, "--json"]) == 0
    answer = json.loads(capsys.readouterr().out)
    assert answer["distance"] == pytest.approx(float(embedding_distance(answer["similarity"])))
    assert answer["p_same_place"] == pytest.approx(1 / (1 + np.exp(-(2.0 - 5.0 * answer["distance"]))))
    xy = f"{pairs.columns['x'][0]},{pairs.columns['y'][0]}"
    assert main(["verify", *base, "--xy", xy, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["distance"] == pytest.approx(answer["distance"], abs=1e-4)
    for bad in (["--at", "1,2"], ["--at", "x"], [], ["--at", at, "--xy", xy]):
        assert main(["verify", *base, *bad]) == 2
        err = capsys.readouterr().err
        assert err.startswith("xview: error: ") and err.count("\n") == 1


def test_verify_pairs_reports_average_precision(world, tmp_path, capsys):
    from xview_engine.cli.main import main

    out = tmp_path / "vr"
    args = ["verify", "--pairs", str(world["pairs"]), "--index", str(world["index"]), "-o", str(out),
            "--negatives", "20", "--min-distance-m", "50", "--device", "cpu"]
    assert main(args) == 0
    report = json.loads((out / "verification.json").read_text())
    assert report["matched_pairs"] == 12 and report["unmatched_pairs"] == 12 * 20
    assert report["random_ap"] == pytest.approx(1 / 21)
    import csv

    with open(out / "pairs.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    distance = np.array([float(r["distance"]) for r in rows])
    labels = np.array([int(r["matched"]) for r in rows])
    assert report["average_precision"] == pytest.approx(average_precision(-distance, labels), abs=1e-5)
    assert (out / "precision_recall.png").stat().st_size > 1000 and (out / "distances.png").stat().st_size > 1000
    assert main(args) == 2  # outputs exist: refused without --overwrite
    assert "exist" in capsys.readouterr().err


@pytest.mark.parametrize("runtime", ["onnx", "auto"])
def test_index_through_onnxruntime_holds_the_torch_embeddings(world, tmp_path, runtime):
    """`xview index --runtime onnx|auto` runs the exported aerial branch: the same embeddings as torch."""
    pytest.importorskip("onnxruntime")
    from xview_engine.cli.main import main
    from xview_engine.localization.index import load_index

    for name in ("torch", runtime):
        assert main(["index", str(world["raster"]), "--model", str(world["model"]), "-o", str(tmp_path / name),
                     "--runtime", name, "--device", "cpu"]) == 0
    onnx_index, torch_index = load_index(tmp_path / runtime), load_index(tmp_path / "torch")
    assert "runtime onnx" in onnx_index.header["model"]["runtime"]
    assert "runtime torch" in torch_index.header["model"]["runtime"]
    assert "so torch" not in onnx_index.header["model"]["runtime"]  # no fallback: the export ran
    np.testing.assert_array_equal(onnx_index.valid, torch_index.valid)
    np.testing.assert_allclose(onnx_index.arrays["embedding"], torch_index.arrays["embedding"], rtol=1e-4, atol=1e-5)


def test_an_index_of_the_onnx_export_says_photos_need_the_safetensors_file(world, tmp_path, capsys):
    pytest.importorskip("onnxruntime")
    from xview_engine.cli.main import main

    onnx = tmp_path / "siamese.onnx"
    assert main(["export-onnx", str(world["model"]), "-o", str(onnx)]) == 0
    assert main(["index", str(world["raster"]), "--model", str(onnx), "-o", str(tmp_path / "ix"), "--device",
                 "cpu"]) == 0
    capsys.readouterr()
    assert main(["localize", str(world["photos"][0]), "--index", str(tmp_path / "ix"), "-o", str(tmp_path / "h.tif"),
                 "--device", "cpu"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("xview: error: ") and "only the aerial branch" in err and err.count("\n") == 1
