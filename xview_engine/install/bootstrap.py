"""The plugin-owned engine folder and the one call that puts it on ``sys.path``.

The folder lives in the QGIS profile (``<profile>/python/xview-engine/py3.11``), never in the
system Python, one per Python version (compiled wheels fit one version only). The plugin's
``classFactory`` calls ``bootstrap`` at every QGIS start, before anything imports the engine or
torch, and again right after an install, so a fresh install is used without restarting QGIS.
"""

from __future__ import annotations

import importlib
import site
import sys
from pathlib import Path

ENGINE_FOLDER = Path("python", "xview-engine")


def engine_folder(profile_dir: str | Path, version: tuple[int, int] | None = None) -> Path:
    """Where the engine's dependencies go for a QGIS profile folder and a Python version."""
    major, minor = version or sys.version_info[:2]
    return Path(profile_dir, ENGINE_FOLDER, f"py{major}.{minor}")


def bootstrap(profile_dir: str | Path) -> Path | None:
    """Put the profile's engine folder (its site-packages) first on ``sys.path``; returns it, else None.

    First, so the pinned versions win over older copies in the system's site-packages. ``.pth``
    files in it are honoured (``site.addsitedir``), as for any site folder. Calling it twice is harmless.
    """
    from xview_engine.install.plan import site_dir

    folder = engine_folder(profile_dir)
    if not folder.is_dir():
        return None
    folder = site_dir(folder)
    entry = str(folder)
    if entry not in sys.path:
        site.addsitedir(entry)  # appends the folder and what its .pth files name
    sys.path.remove(entry)
    sys.path.insert(0, entry)
    importlib.invalidate_caches()  # a folder made after start-up: the finders forget what they missed
    return folder
