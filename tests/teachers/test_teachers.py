"""Teachers: the real architectures with random weights saved in the real file layouts."""

from __future__ import annotations

import io

import numpy as np
import pytest
import torch
import torchvision
from PIL import Image
from weights_fixtures import closed_port_url, loopback, online, registered  # noqa: F401

from xview_engine.errors import TeacherError, WeightsError
from xview_engine.teachers import TeacherSet, load_teachers, parse_spec
from xview_engine.teachers.base import to_tensor
from xview_engine.teachers.coco_counts import build_detector
from xview_engine.teachers.synthetic import (
    SyntheticHead,
    SyntheticTeacherNet,
    SyntheticTeacherSpec,
    save_synthetic_teacher,
)
from xview_engine.weights import cached_path


@pytest.fixture(scope="module")
def photos(tmp_path_factory):
    folder = tmp_path_factory.mktemp("photos")
    rng = np.random.default_rng(0)
    paths = []
    for i in range(3):
        path = folder / f"p{i}.jpg"
        Image.fromarray(rng.integers(0, 256, (60 + 10 * i, 120, 3), dtype=np.uint8)).save(path)
        paths.append(path)
    return paths


def test_places365_csail_checkpoint(tmp_path, photos):
    torch.manual_seed(0)
    net = torchvision.models.resnet18(weights=None, num_classes=365).eval()
    state = {f"module.{k}": v for k, v in net.state_dict().items()}
    path = tmp_path / "resnet18_places365.pth.tar"
    torch.save({"epoch": 90, "arch": "resnet18", "state_dict": state, "best_prec1": 54.7}, path)
    teachers = load_teachers(f"places365:resnet18={path}")
    out = teachers.label_photos(photos)["places365"]
    assert out.shape == (3, 365) and np.allclose(out.sum(1), 1, atol=1e-5)
    images = [np.asarray(Image.open(p).convert("RGB")) for p in photos]
    with torch.no_grad():
        expected = torch.softmax(net(to_tensor(images, (224, 224))), -1).numpy()
    assert np.allclose(out, expected, atol=1e-5)
    assert "airfield" in teachers.labels["places365"]


def test_imagenet_torchvision_pth(tmp_path, photos):
    torch.manual_seed(1)
    path = tmp_path / "resnet18-f37072fd.pth"
    torch.save(torchvision.models.resnet18(weights=None).state_dict(), path)
    out = load_teachers(f"imagenet:resnet18={path}").label_photos(photos[:2])
    assert out["imagenet"].shape == (2, 1000) and np.allclose(out["imagenet"].sum(1), 1, atol=1e-5)


def test_coco_counts_match_detections_above_threshold(tmp_path, photos):
    torch.manual_seed(2)
    net = build_detector("fasterrcnn_mobilenet_v3_large_320_fpn").eval()
    with torch.no_grad():  # make car (3) and boat (9) likely so that detections exist
        net.roi_heads.box_predictor.cls_score.bias[3] += 6.0
        net.roi_heads.box_predictor.cls_score.bias[9] += 4.5
    path = tmp_path / "frcnn.pth"
    torch.save(net.state_dict(), path)
    teachers = load_teachers(f"coco:fasterrcnn_mobilenet_v3_large_320_fpn={path}", coco_threshold=0.3)
    out = teachers.label_photos(photos)["coco"]
    images = [torch.from_numpy(np.array(Image.open(p).convert("RGB"))).permute(2, 0, 1).float() / 255 for p in photos]
    with torch.no_grad():
        detections = net(images)
    expected = np.zeros((3, 91), np.float32)
    for row, det in enumerate(detections):
        for label, score in zip(det["labels"].tolist(), det["scores"].tolist()):
            if score >= 0.3:
                expected[row, label] += 1
    assert expected.sum() > 0
    assert np.array_equal(out, expected)
    assert teachers.kinds == {"coco": "counts"} and teachers.labels["coco"][3] == "car"


def test_wrong_architecture_names_the_mismatch(tmp_path):
    path = tmp_path / "r18.pth"
    torch.save(torchvision.models.resnet18(weights=None).state_dict(), path)
    with pytest.raises(TeacherError, match="do not fit the architecture.*missing tensors: layer1.2"):
        load_teachers(f"imagenet:resnet34={path}")  # deeper: tensors missing


@pytest.mark.parametrize(
    ("spec", "match"),
    [
        ("places365:resnet18=/nowhere/r18.pth.tar", r"r18\.pth\.tar does not exist.*places2\.csail\.mit\.edu"),
        ("imagenet=/nowhere/resnet50.pth", r"resnet50\.pth does not exist.*download\.pytorch\.org"),
        ("coco:fasterrcnn=/nowhere/frcnn.pth", r"frcnn\.pth does not exist.*FasterRCNN"),
        ("synthetic=/nowhere/t.safetensors", r"t\.safetensors does not exist.*xview train teacher"),
        ("yolo=/x.pth", "unknown teacher family 'yolo'.*places365"),
        ("places365:vgg16=/x", "does not exist|unknown Places365"),
        ("places365=", "no weight file after '='"),
        ("synthetic", "synthetic teacher has no published weights.*synthetic=PATH"),
        ("imagenet:efficientnet_b0", "no published weights xview knows.*imagenet:resnet50.*efficientnet_b0=PATH"),
        ("", "no teacher given"),
    ],
)
def test_spec_errors(spec, match):
    with pytest.raises(TeacherError, match=match):
        load_teachers(spec)


def _state_bytes(state) -> bytes:
    buffer = io.BytesIO()
    torch.save(state, buffer)
    return buffer.getvalue()


def test_a_published_name_uses_the_cached_file_without_network(tmp_path, photos, monkeypatch):
    torch.manual_seed(4)
    net = torchvision.models.mobilenet_v3_small(weights=None).eval()
    data = _state_bytes(net.state_dict())
    entry = registered(monkeypatch, "imagenet:mobilenet_v3_small", data, url=closed_port_url())
    cached = cached_path(entry)
    cached.parent.mkdir(parents=True, exist_ok=True)
    cached.write_bytes(data)  # placed by hand, as the offline message says; downloads are off in tests
    by_name = load_teachers("imagenet:mobilenet_v3_small").label_photos(photos)["imagenet"]
    by_path = load_teachers(f"imagenet:mobilenet_v3_small={cached}").label_photos(photos)["imagenet"]
    assert by_name.shape == (3, 1000) and np.array_equal(by_name, by_path)
    assert parse_spec("imagenet:mobilenet_v3_small") == [("imagenet", "mobilenet_v3_small", str(cached))]


def test_a_published_csail_checkpoint_is_downloaded_for_the_default_arch(photos, loopback, online, monkeypatch):  # noqa: F811
    torch.manual_seed(5)
    net = torchvision.models.resnet18(weights=None, num_classes=365).eval()
    data = _state_bytes({"epoch": 90, "arch": "resnet18", "best_prec1": 54.7,
                         "state_dict": {f"module.{k}": v for k, v in net.state_dict().items()}})
    registered(monkeypatch, "places365:resnet18", data, loopback)
    out = load_teachers("places365").label_photos(photos[:1])["places365"]  # places365 = places365:resnet18
    images = [np.asarray(Image.open(photos[0]).convert("RGB"))]
    with torch.no_grad():
        expected = torch.softmax(net(to_tensor(images, (224, 224))), -1).numpy()
    assert np.allclose(out, expected, atol=1e-5)
    assert [name for name, _ in loopback.requests] == ["test_places365_resnet18.pth"]


def test_a_missing_published_file_offline_names_url_digest_and_place():
    url = r"http://places2\.csail\.mit\.edu/models_places365/resnet50_places365\.pth\.tar"
    place = r"place it at .*weights/resnet50_places365\.pth\.tar"
    with pytest.raises(WeightsError, match=rf"download {url} \(SHA-256 46529c86.*\) and {place}"):
        load_teachers("places365:resnet50")


def test_pickled_object_refused(tmp_path):
    path = tmp_path / "whole_model.pth.tar"
    torch.save(torchvision.models.resnet18(weights=None, num_classes=365), path)
    with pytest.raises(TeacherError, match="loaded safely"):
        load_teachers(f"places365={path}")


def test_parse_spec():
    assert parse_spec("places365:resnet50=/a.pth.tar, synthetic=t.safetensors") == [
        ("places365", "resnet50", "/a.pth.tar"),
        ("synthetic", None, "t.safetensors"),
    ]


def _synthetic_file(tmp_path):
    spec = SyntheticTeacherSpec(
        height=16, width=32, channels=4, depth=2, hidden=8,
        heads=(SyntheticHead("scene", "categorical", ("beach", "forest")), SyntheticHead("count", "counts", ("car",))),
    )
    torch.manual_seed(3)
    path = tmp_path / "teacher.safetensors"
    save_synthetic_teacher(SyntheticTeacherNet(spec), spec, path)
    return path


def test_synthetic_teacher_heads_and_cache(tmp_path, photos, monkeypatch):
    teachers = load_teachers(f"synthetic={_synthetic_file(tmp_path)}")
    assert teachers.heads == ("scene", "count") and teachers.kinds["count"] == "counts"
    first = teachers.label_photos(photos, cache_dir=tmp_path / "cache")
    assert np.allclose(first["scene"].sum(1), 1, atol=1e-5) and (first["count"] >= 0).all()
    for teacher in teachers.teachers:
        monkeypatch.setattr(teacher, "predict", lambda images: pytest.fail("cache not used"))
    again = teachers.label_photos(photos, cache_dir=tmp_path / "cache")
    assert all(np.array_equal(first[h], again[h]) for h in first)


def test_synthetic_teacher_refuses_other_files(tmp_path):
    path = tmp_path / "bad.safetensors"
    path.write_bytes(b"\x80\x04not a safetensors file")
    with pytest.raises(TeacherError, match="not a safetensors teacher file"):
        load_teachers(f"synthetic={path}")


def test_one_head_one_teacher(tmp_path):
    path = _synthetic_file(tmp_path)
    teachers = load_teachers(f"synthetic={path}").teachers
    with pytest.raises(TeacherError, match="same head scene"):
        TeacherSet([teachers[0], teachers[0]])
