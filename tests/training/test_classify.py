"""Photo classifiers on features: our RBF decision function vs scikit-learn's, seeded ensembles, the
pickle-free file, metrics by hand, and `xview classify` / `xview filter` end to end."""

from __future__ import annotations

import csv
import json
import pickle
from pathlib import Path

import numpy as np
import pytest
from knn_fixtures import classifier, knn_world, world  # noqa: F401  (fixtures)
from sklearn.svm import SVC

from xview_engine.cli.main import main
from xview_engine.data.photo_features import read_photo_features, write_photo_features
from xview_engine.training.classify import binary_metrics
from xview_engine.training.svm import ClassifierError, SvmEnsemble, rbf_decision, stratified_bootstrap, train_ensemble


def two_clusters(n: int = 80, dim: int = 6, seed: int = 0, gap: float = 1.5) -> tuple[np.ndarray, list[str]]:
    rng = np.random.default_rng(seed)
    y = rng.random(n) < 0.6
    x = rng.normal(size=(n, dim)) * [1, 2, 1, 0.5, 3, 1] + 10.0
    x[:, 0] += np.where(y, gap, -gap)
    return x, ["usable" if v else "closeup" for v in y]


def test_decision_function_equals_scikit_learn() -> None:
    x, labels = two_clusters()
    y = np.array([v == "usable" for v in labels], int)
    svm = SVC(kernel="rbf", C=2.0, gamma=0.3).fit(x, y)
    queries = np.random.default_rng(5).normal(size=(30, 6)) * 2 + 10
    got = rbf_decision(queries, svm.support_vectors_, svm.dual_coef_[0], float(svm.intercept_[0]), 0.3)
    np.testing.assert_allclose(got, svm.decision_function(queries), rtol=1e-10, atol=1e-10)


def test_ensemble_member_is_the_svm_of_its_bootstrap() -> None:
    x, labels = two_clusters()
    ensemble = train_ensemble(x, labels, members=1, seed=3, c=1.0, balanced=False)
    z = (x - x.mean(0)) / x.std(0)
    y = np.array([v == "usable" for v in labels], int)
    rows = stratified_bootstrap(y, np.random.default_rng(3))
    gamma = 1.0 / (6 * z[rows].var())
    reference = SVC(kernel="rbf", C=1.0, gamma=gamma).fit(z[rows], y[rows])
    queries = x[::3] + 0.1
    expected = reference.decision_function((queries - x.mean(0)) / x.std(0))
    np.testing.assert_allclose(ensemble.decision(queries), expected, rtol=1e-9, atol=1e-9)
    assert ensemble.classes == ("closeup", "usable")


def test_same_seed_same_scores_other_seed_differs(tmp_path) -> None:
    x, labels = two_clusters()
    a, b = train_ensemble(x, labels, seed=1), train_ensemble(x, labels, seed=1)
    other = train_ensemble(x, labels, seed=2)
    assert len(a.members) == 10
    np.testing.assert_array_equal(a.decision(x), b.decision(x))
    assert not np.allclose(a.decision(x), other.decision(x))
    assert (a.votes(x) >= 0).all() and (a.votes(x) <= 1).all()
    # the file round-trips to the same scores; a pickle under the name is refused, never unpickled
    again = SvmEnsemble.load(a.save(tmp_path / "c.safetensors"))
    np.testing.assert_array_equal(again.decision(x), a.decision(x))
    assert again.classes == a.classes and again.meta["seed"] == 1
    (tmp_path / "p.safetensors").write_bytes(pickle.dumps({"not": "a classifier"}))
    with pytest.raises(ClassifierError, match="not a safetensors classifier"):
        SvmEnsemble.load(tmp_path / "p.safetensors")
    with pytest.raises(ClassifierError, match="6 features"):
        a.decision(x[:, :4])
    with pytest.raises(ClassifierError, match="exactly two classes"):
        train_ensemble(x[:3], ["a", "b", "c"])
    with pytest.raises(ClassifierError, match="--positive 'sky'"):
        train_ensemble(x, labels, positive="sky")
    flipped = train_ensemble(x, labels, seed=1, positive="closeup")
    assert flipped.classes == ("usable", "closeup")
    np.testing.assert_allclose(flipped.decision(x), -a.decision(x), atol=2e-3)  # libsvm stops at tol 1e-3


def test_binary_metrics_by_hand() -> None:
    truth = np.array([1, 1, 1, 0, 0, 0, 0, 1], bool)
    kept = np.array([1, 1, 0, 1, 0, 0, 0, 0], bool)
    m = binary_metrics(truth, kept)
    assert m["precision"] == pytest.approx(2 / 3) and m["recall"] == pytest.approx(2 / 4)
    assert m["accuracy"] == pytest.approx(5 / 8) and m["kept_share"] == pytest.approx(3 / 8)


def planted_collection(folder: Path) -> dict[str, Path]:
    """A pairs CSV of 80 (unread) photos, their planted features and train / held-out label CSVs."""
    x, labels = two_clusters(gap=3.0)
    folder.mkdir(exist_ok=True)
    names = [f"photos/{i:05d}.jpg" for i in range(len(labels))]
    with open(folder / "pairs.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["path", "lat", "lon", "split"])
        w.writerows([n, 43.5, 16.4 + i * 1e-5, "train" if i < 50 else "test"] for i, n in enumerate(names))
    write_photo_features(folder / "f.npz", [str((folder / n).resolve()) for n in names], x,
                         tuple(f"f{i}" for i in range(6)), {"model": None})
    for name, rows in (("train", range(50)), ("test", range(50, 80))):
        with open(folder / f"{name}.csv", "w", newline="") as fh:
            w = csv.writer(fh)
            w.writerow(["photo", "label"])
            w.writerows([names[i], labels[i]] for i in rows)
    return {"pairs": folder / "pairs.csv", "features": folder / "f.npz", "train": folder / "train.csv",
            "test": folder / "test.csv", "labels": labels}


def test_classify_and_filter_end_to_end(tmp_path, capsys) -> None:
    c = planted_collection(tmp_path / "w")
    model = tmp_path / "scene.safetensors"
    assert main(["classify", "train", str(c["features"]), str(c["train"]), "-o", str(model), "--seed", "4"]) == 0
    assert json.loads(capsys.readouterr().out)["classes"] == ["closeup", "usable"]
    assert main(["classify", "apply", str(model), str(c["features"]), "-o", str(tmp_path / "s.csv"),
                 "--labels", str(c["test"])]) == 0
    assert "held out: 30 photos" in capsys.readouterr().out
    with open(tmp_path / "s.csv", newline="") as fh:
        scores = list(csv.DictReader(fh))
    assert len(scores) == 80 and {r["label"] for r in scores} <= {"closeup", "usable"}
    kept = tmp_path / "kept.csv"
    assert main(["filter", str(c["pairs"]), "--classifier", str(model), "--features", str(c["features"]), "-o",
                 str(kept), "--labels", str(c["test"])]) == 0
    out = capsys.readouterr().out
    with open(kept, newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert all(Path(r["path"]).is_absolute() for r in rows)  # written elsewhere: the photos still resolve
    predicted = {r["photo"].split("/")[-1] for r in scores if r["label"] == "usable"}
    assert {r["path"].split("/")[-1] for r in rows} == predicted and rows[0].keys() == {"path", "lat", "lon", "split"}
    truth = [v == "usable" for v in c["labels"]]
    kept_rows = [int(Path(r["path"]).stem) for r in rows]
    assert np.mean([truth[i] for i in kept_rows]) > 0.9  # clusters 6 sd apart: nearly every kept photo is usable
    assert f"kept {len(rows)} of 80" in out and "precision" in out and "recall" in out


def test_bad_labels_csv_is_one_line(tmp_path, capsys) -> None:
    c = planted_collection(tmp_path / "w")
    cases = {"photo,class\nphotos/00001.jpg,usable\n": "lacks the column(s) label",
             "photo,label\nphotos/00001.jpg,\n": "row 2: column 'label' is empty",
             "photo,label\nphotos/99999.jpg,usable\nphotos/00001.jpg,closeup\n": "photo 'photos/99999.jpg' is not",
             "photo,label\nphotos/00001.jpg,a\nphotos/00002.jpg,b\nphotos/00003.jpg,c\n": "exactly two classes",
             "photo,label\n": "has no rows"}
    for n, (text, message) in enumerate(cases.items()):
        bad = tmp_path / "w" / f"bad{n}.csv"
        bad.write_text(text)
        assert main(["classify", "train", str(c["features"]), str(bad), "-o", str(tmp_path / "c.safetensors")]) == 2
        err = capsys.readouterr().err
        assert err.startswith("xview: error:") and message in err and len(err.strip().splitlines()) == 1, err
    assert not (tmp_path / "c.safetensors").exists()
    assert main(["classify", "train", str(tmp_path / "none.npz"), str(c["train"]), "-o", str(tmp_path / "c")]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_photo_features_from_a_knn_model_and_filter_computing_them(knn_world, tmp_path, capsys) -> None:  # noqa: F811
    feats = tmp_path / "pf.npz"
    assert main(["features", "--model", str(knn_world["knn"]), "--photos", str(knn_world["pairs"]), "-o", str(feats),
                 "--device", "cpu"]) == 0
    pf = read_photo_features(feats)
    assert pf.features.shape == (20, 1000) and pf.meta["model"] == str(Path(knn_world["knn"]).resolve())
    labels = tmp_path / "labels.csv"
    labels.write_text("photo,label\n" + "".join(f"{p},{'a' if i % 2 else 'b'}\n" for i, p in enumerate(pf.photos)))
    model = tmp_path / "c.safetensors"
    assert main(["classify", "train", str(feats), str(labels), "-o", str(model), "--members", "3"]) == 0
    # no --features: the filter describes the pairs' photos with the classifier's own feature model
    assert main(["filter", str(knn_world["pairs"]), "--classifier", str(model), "-o", str(tmp_path / "k.csv"),
                 "--device", "cpu", "--labels", str(labels)]) == 0
    assert "held out: 20 photos" in capsys.readouterr().out
    assert main(["features", "--model", str(knn_world["knn"]), "-o", str(tmp_path / "x.npz")]) == 2
    assert "--photos" in capsys.readouterr().err
