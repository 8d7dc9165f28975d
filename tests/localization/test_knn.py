"""kNN-averaged localization (Workman & Jacobs 4.3): hand-made cases, then end to end on a synthetic world."""

from __future__ import annotations

import json

import numpy as np
import pytest
import rasterio
import torch
from knn_fixtures import classifier, knn_world, world  # noqa: F401  (fixtures)
from scipy.spatial.distance import cdist

from xview_engine.cli.main import main
from xview_engine.data.pairs import read_pairs
from xview_engine.errors import LabelFileError
from xview_engine.localization.index import load_index
from xview_engine.localization.knn import euclidean_scores, knn_average
from xview_engine.model.file import load_model, read_manifest


def test_knn_average_by_hand() -> None:
    # reference photos on a line at 0, 1, 2, 10; their tiles' features are (10 r, -r)
    ref_photos = np.array([[0.0], [1.0], [2.0], [10.0]])
    ref_tiles = np.array([[0.0, 0.0], [10.0, -1.0], [20.0, -2.0], [100.0, -10.0]])
    query = knn_average(np.array([[1.2], [9.0]]), ref_photos, ref_tiles, k=2)
    # 1.2: nearest are 1 and 2 -> mean of their tiles; 9.0: nearest are 10 and 2
    np.testing.assert_allclose(query, [[15.0, -1.5], [60.0, -6.0]])
    # k larger than the reference set averages all of it
    np.testing.assert_allclose(knn_average(np.array([[0.0]]), ref_photos, ref_tiles, k=30), [[32.5, -3.25]])
    with pytest.raises(LabelFileError, match="no reference photos"):
        knn_average(np.array([[0.0]]), np.zeros((0, 1)), np.zeros((0, 2)), k=3)


def test_euclidean_scores_match_scipy() -> None:
    rng = np.random.default_rng(0)
    q, f = rng.normal(size=(4, 7)), rng.normal(size=(50, 7))
    got = euclidean_scores(q, f.astype(np.float32), -np.square(f.astype(np.float32).astype(np.float64)).sum(1))
    np.testing.assert_allclose(got, -cdist(q, f.astype(np.float32), "sqeuclidean"), rtol=1e-5, atol=1e-5)


def test_knn_model_holds_the_checkpoint_and_references(knn_world, classifier) -> None:  # noqa: F811
    manifest = read_manifest(knn_world["knn"])
    assert manifest.kind == "knn" and manifest.backbone.options["layer"] == "fc8"
    assert manifest.heads[0].num_classes == 1000
    net = load_model(knn_world["knn"]).model
    state = torch.load(classifier, weights_only=True)
    for key, value in state.items():
        assert torch.equal(net.net.state_dict()[key], value), key
    pairs = read_pairs(knn_world["pairs"])
    references = int(manifest.backbone.options["references"])
    assert 0 < references <= int(pairs.split_mask("train").sum())
    assert net.reference_photos.shape == net.reference_tiles.shape == (references, 1000)


def test_self_reference_with_k1_finds_every_train_photo_first(knn_world, tmp_path) -> None:  # noqa: F811
    """k=1 and the query among the references: the query becomes its own tile's features, distance 0."""
    report = tmp_path / "ev"
    assert main(["evaluate", "--index", str(knn_world["knn_index"]), "--photos", str(knn_world["pairs"]),
                 "--split", "train", "-o", str(report), "--device", "cpu"]) == 0
    metrics = json.loads((report / "metrics.json").read_text())["metrics"]["combined"]
    index = load_index(knn_world["knn_index"])
    assert index.method == "knn" and index.n_valid == index.n_tiles
    # the reference tiles come from the same 8 m grid (half a 16 m tile, the default stride) as the index
    assert metrics["queries"] > 5 and metrics["top_1"] == 1.0 and metrics["median_rank"] == 1.0
    assert (report / "cdf.png").is_file()


def test_localize_through_the_seam(knn_world, tmp_path, capsys) -> None:  # noqa: F811
    photo = knn_world["world"] / "photos" / "00004.jpg"
    heatmap = tmp_path / "heat.tif"
    assert main(["localize", str(photo), "--index", str(knn_world["knn_index"]), "--model", str(knn_world["knn"]),
                 "-o", str(heatmap), "--device", "cpu", "--json"]) == 0
    [result] = json.loads(capsys.readouterr().out)
    scores = [c["score"] for c in result["candidates"]]
    assert scores == sorted(scores, reverse=True) and all(s <= 0 for s in scores)
    with rasterio.open(heatmap) as ds:
        assert (ds.width, ds.height) == (load_index(knn_world["knn_index"]).grid.cols,
                                         load_index(knn_world["knn_index"]).grid.rows)


def test_bad_inputs_are_one_line(knn_world, tmp_path, capsys) -> None:  # noqa: F811
    photo = knn_world["world"] / "photos" / "00004.jpg"
    # without --model the photos are described by the model the index recorded
    assert main(["localize", str(photo), "--index", str(knn_world["knn_index"]), "-o", str(tmp_path / "h.tif"),
                 "--device", "cpu"]) == 0
    capsys.readouterr()
    assert main(["features", "--teachers", f"imagenet=/nowhere/{tmp_path.name}.pth", "-o",
                 str(tmp_path / "m.safetensors")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("xview: error:") and "never downloads" in err and len(err.strip().splitlines()) == 1
    assert main(["features", "--teachers", "coco=/x.pth", "-o", str(tmp_path / "m.safetensors")]) == 2
    assert "one classifier" in capsys.readouterr().err
    assert not (tmp_path / "m.safetensors").exists()


def test_penultimate_layer(classifier, tmp_path) -> None:  # noqa: F811
    from xview_engine.training.knn import FeatureModelParams, make_feature_model

    path = make_feature_model(FeatureModelParams(teachers=f"imagenet:mobilenet_v3_small={classifier}",
                                                 out=str(tmp_path / "p.safetensors"), layer="penultimate",
                                                 tile_px=32, gsd_m=1.0))
    loaded = load_model(path)
    assert loaded.manifest.heads[0].num_classes == 1024  # mobilenet_v3_small: Linear(1024, 1000) last
    x = torch.randn(2, 3, 32, 32)
    net = loaded.model
    with torch.inference_mode():
        got = net(x)["features"]
        inner = net.net.classifier[:3](torch.flatten(net.net.avgpool(net.net.features(x)), 1))
    torch.testing.assert_close(got, inner)


def test_synthetic_teacher_as_the_feature_network(tmp_path) -> None:
    """The synthetic world's teacher kept as features: fc8 is its heads' raw outputs side by side,
    penultimate the pooled features they share; photos are normalised like the teacher's."""
    from xview_engine.localization.knn import photo_features
    from xview_engine.resources import resource_path
    from xview_engine.teachers.synthetic import photo_batch, read_synthetic_teacher
    from xview_engine.training.knn import FeatureModelParams, make_feature_model

    teacher_file = resource_path("models", "xview-synthetic-teacher.safetensors")
    teacher, spec = read_synthetic_teacher(teacher_file)
    fc8 = load_model(make_feature_model(FeatureModelParams(teachers=f"synthetic={teacher_file}",
                                                           out=str(tmp_path / "s.safetensors"), tile_px=32,
                                                           gsd_m=2.0)))
    assert fc8.manifest.heads[0].labels[0] == f"{spec.heads[0].name}:{spec.heads[0].labels[0]}"
    photo = tmp_path / "p.png"
    from PIL import Image
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 255, (40, 160, 3), dtype=np.uint8)).save(photo)
    got = photo_features(fc8.model, [photo])
    with torch.inference_mode():
        raw = teacher(photo_batch([np.asarray(Image.open(photo).convert("RGB"))], spec))
    np.testing.assert_allclose(got, torch.cat([raw[h.name] for h in spec.heads], 1).numpy(), rtol=1e-5, atol=1e-5)
    pen = load_model(make_feature_model(FeatureModelParams(teachers=f"synthetic={teacher_file}", layer="penultimate",
                                                           out=str(tmp_path / "p.safetensors"), tile_px=32,
                                                           gsd_m=2.0)))
    assert pen.manifest.heads[0].num_classes == teacher.pooled_width
