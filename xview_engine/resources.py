"""Where shipped resources (label lists, default models, styles) live.

The repository root is also the QGIS plugin folder, so `resources/` sits beside the engine package.
"""

from __future__ import annotations

from pathlib import Path

RESOURCES_DIR = Path(__file__).resolve().parent.parent / "resources"


def resource_path(*parts: str) -> Path:
    """Path of a shipped resource file, e.g. ``resource_path("labels", "imagenet1k.txt")``."""
    return RESOURCES_DIR.joinpath(*parts)

