"""Small time-aware models for the tests of time conditioning (engine and plugin; not a test module)."""

from __future__ import annotations

from pathlib import Path

from xview_engine.model.crossview import build_model
from xview_engine.model.file import save_model
from xview_engine.model.manifest import BackboneSpec, HeadSpec, InputSpec, Manifest

SNOW = ("snow", "no snow")


def time_manifest(gsd_m: float = 2.0, tile_px: int = 16, features: tuple[str, ...] = ("month", "hour")) -> Manifest:
    """A tiny distillation manifest whose heads take the time: a Dirichlet snow head and Poisson counts."""
    return Manifest(
        kind="distill",
        backbone=BackboneSpec("tiny_cnn", {"width": 4, "depth": 2}),
        input=InputSpec(tile_px=tile_px, gsd_m=gsd_m),
        heads=(HeadSpec("snow", "dirichlet", SNOW), HeadSpec("cars", "poisson", ("car", "bus"))),
        hidden=8,
        training={"note": "untrained, for tests"},
        time_features=features,
    )


def tiny_time_model(folder: Path, gsd_m: float = 2.0, tile_px: int = 16, name: str = "time.safetensors",
                    features: tuple[str, ...] = ("month", "hour"), seed: int = 0) -> Path:
    """The manifest above with seeded random weights, saved as a real model file."""
    manifest = time_manifest(gsd_m, tile_px, features)
    return save_model(build_model(manifest, seed=seed), manifest, Path(folder) / name)
