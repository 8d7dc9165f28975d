"""Shared fixture for the off-the-shelf feature tests: a small random torchvision classifier checkpoint.

A seeded, randomly initialised ``mobilenet_v3_small`` saved as a plain state dict (what torchvision's
published ``.pth`` files are), so the whole path runs (file check, ``weights_only`` strict load,
conversion to a knn model) without downloading anything.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from localize_fixtures import world  # noqa: F401  (fixture)

from xview_engine.cli.main import main

ARCH = "mobilenet_v3_small"


def random_classifier(path: Path, seed: int = 0) -> Path:
    import torchvision

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        net = torchvision.models.get_model(ARCH, weights=None, num_classes=1000)
    torch.save(net.state_dict(), path)
    return path


@pytest.fixture(scope="session")
def classifier(tmp_path_factory) -> Path:
    path = tmp_path_factory.getbasetemp() / "imagenet_mnv3_random.pth"
    return path if path.is_file() else random_classifier(path)


@pytest.fixture(scope="session")
def knn_world(world, classifier, tmp_path_factory):  # noqa: F811
    """A knn model whose references are the world's train photos (k=1), and its index of the world."""
    out = tmp_path_factory.getbasetemp() / "knn_world"
    model, index = out / "knn.safetensors", out / "index"
    if (index / "index.json").is_file():
        return {**world, "knn": model, "knn_index": index, "out": out}
    out.mkdir(exist_ok=True)
    assert main(["features", "--teachers", f"imagenet:mobilenet_v3_small={classifier}", "-o", str(model),
                 "--tile-px", "16", "--gsd", "1", "--pairs", str(world["pairs"]), "--raster", str(world["raster"]),
                 "--k", "1", "--device", "cpu"]) == 0
    assert main(["index", str(world["raster"]), "--model", str(model), "-o", str(index), "--device", "cpu",
                 "--stride-m", "8"]) == 0
    return {**world, "knn": model, "knn_index": index, "out": out}
