"""Shared fixtures for the localization tests: a small synthetic world, a tiny model, its index."""

from __future__ import annotations

from pathlib import Path

import pytest

from xview_engine.data.label_files import read_label_file
from xview_engine.model.crossview import build_model
from xview_engine.model.file import save_model
from xview_engine.model.manifest import BackboneSpec, HeadSpec, InputSpec, Manifest
from xview_engine.synth.params import SynthParams
from xview_engine.synth.world import make_world

WORLD = SynthParams(seed=3, size_m=300, gsd=1.0, photos=20)
DISTRIBUTIONS = {"scene": "dirichlet", "object": "dirichlet", "count": "poisson"}


def world_model(labels: Path, path: Path, seed: int = 0) -> Path:
    """A tiny random model whose heads are named and labelled exactly like the world's label file."""
    lf = read_label_file(labels)
    heads = tuple(HeadSpec(h, DISTRIBUTIONS[h], lf.names[h]) for h in lf.heads)
    manifest = Manifest("distill", BackboneSpec("tiny_cnn", {"width": 4, "depth": 2}), InputSpec(16, 1.0), heads,
                        hidden=8)
    return save_model(build_model(manifest, seed=seed), manifest, path)


def tiny_teacher(labels: Path, path: Path) -> Path:
    """A small random synthetic teacher whose heads are those of the world's label file."""
    import torch

    from xview_engine.teachers.synthetic import (
        SyntheticHead,
        SyntheticTeacherNet,
        SyntheticTeacherSpec,
        save_synthetic_teacher,
    )

    lf = read_label_file(labels)
    heads = tuple(SyntheticHead(h, "counts" if h == "count" else "categorical", lf.names[h]) for h in lf.heads)
    spec = SyntheticTeacherSpec(height=16, width=32, channels=4, depth=2, hidden=8, heads=heads)
    torch.manual_seed(0)
    return save_synthetic_teacher(SyntheticTeacherNet(spec), spec, path)


@pytest.fixture(scope="session")
def world(tmp_path_factory) -> dict[str, Path]:
    """World files, a model and a built index (1296 tiles, 8 m stride).

    Built once per session: each test module importing this fixture gets its own copy of the
    definition, so the files live at a fixed place in the session's temporary folder and are reused.
    """
    from xview_engine.localization.build import IndexParams, build_index

    out = tmp_path_factory.getbasetemp() / "localize_world"
    model = out / "model.safetensors"
    if not (out / "index" / "index.json").is_file():
        out.mkdir(exist_ok=True)
        make_world(WORLD, out / "world")
        world_model(out / "world" / "labels.npz", model)
        build_index(IndexParams(raster=str(out / "world" / "overhead.tif"), model=str(model), out=str(out / "index"),
                                device="cpu"))
    return {"dir": out, "world": out / "world", "labels": out / "world" / "labels.npz",
            "pairs": out / "world" / "pairs.csv", "model": model, "index": out / "index",
            "raster": out / "world" / "overhead.tif"}
