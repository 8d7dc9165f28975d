"""The ``model`` fixture of the hostile model-file tests: a fresh tiny model file to damage."""

from __future__ import annotations

from pathlib import Path

import pytest
from mapping_fixtures import tiny_model


@pytest.fixture
def model(tmp_path) -> Path:
    """tiny_cnn width 4 depth 2, hidden 8, a 12-class Dirichlet head 'scene' and a Poisson head 'objects'."""
    return tiny_model(tmp_path / "m.safetensors", gsd_m=1.0)
