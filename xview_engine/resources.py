"""Where shipped resources (label lists, default models, styles) and the user's caches live.

The repository root is also the QGIS plugin folder, so `resources/` sits beside the engine package.
"""

from __future__ import annotations

import os
from pathlib import Path

HOME_ENV = "XVIEW_HOME"

RESOURCES_DIR = Path(__file__).resolve().parent.parent / "resources"


def resource_path(*parts: str) -> Path:
    """Path of a shipped resource file, e.g. ``resource_path("labels", "imagenet1k.txt")``."""
    return RESOURCES_DIR.joinpath(*parts)


def cache_dir(name: str) -> Path:
    """A cache folder of the user's: ``$XVIEW_HOME/NAME``, ``$XDG_CACHE_HOME/xview/NAME`` or ``~/.cache/xview/NAME``.

    Nothing is created here; writers make the folder and treat a read-only home as "no cache".
    """
    if os.environ.get(HOME_ENV):
        return Path(os.environ[HOME_ENV]) / name
    base = Path(os.environ["XDG_CACHE_HOME"]) if os.environ.get("XDG_CACHE_HOME") else Path.home() / ".cache"
    return base / "xview" / name
