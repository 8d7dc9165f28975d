"""Which engine dependencies QGIS' Python can import, and the exact pip line for those it cannot.

Installing torch into QGIS is the users' top complaint, so the dock says up front what is missing.
The check uses ``importlib.util.find_spec``: it never imports torch, so the plugin loads without it.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass

# Top-level modules the engine needs at run time, by pip distribution name.
ENGINE_DEPENDENCIES: tuple[str, ...] = ("torch", "rasterio", "safetensors")


@dataclass(frozen=True)
class DependencyReport:
    """Result of a dependency check: what imports, what does not, and how to fix it."""

    present: tuple[str, ...]
    missing: tuple[str, ...]
    python: str

    @property
    def ok(self) -> bool:
        return not self.missing

    @property
    def pip_line(self) -> str:
        """The command that installs the missing modules into this Python ("" when none is missing)."""
        if not self.missing:
            return ""
        return f'"{self.python}" -m pip install --user ' + " ".join(self.missing)

    def summary(self) -> str:
        """What is found or missing, in words; the pip line itself is ``pip_line``."""
        if self.ok:
            return "Engine dependencies found: " + ", ".join(self.present) + "."
        return (
            "Missing engine dependencies: " + ", ".join(self.missing) + ". "
            "Install them into QGIS' Python with this command, then restart QGIS:"
        )

    def message(self) -> str:
        """One line for a message bar or a log: the summary followed by the pip line."""
        return f"{self.summary()} {self.pip_line}".strip()


def check_dependencies(modules: Sequence[str] = ENGINE_DEPENDENCIES) -> DependencyReport:
    """Report which of ``modules`` can be imported, without importing any of them."""
    found = {name: _importable(name) for name in modules}
    return DependencyReport(
        present=tuple(name for name, ok in found.items() if ok),
        missing=tuple(name for name, ok in found.items() if not ok),
        python=qgis_python_executable(),
    )


def qgis_python_executable() -> str:
    """Best guess at the Python interpreter that QGIS embeds.

    Inside QGIS ``sys.executable`` is often the QGIS binary itself, not Python; then the interpreter
    is looked for in ``sys.exec_prefix`` (OSGeo4W, macOS bundles) before falling back to a bare name.
    """
    if os.path.basename(sys.executable).lower().startswith("python"):
        return sys.executable
    exe = "python.exe" if os.name == "nt" else "python3"
    for folder in (sys.exec_prefix, os.path.join(sys.exec_prefix, "bin")):
        candidate = os.path.join(folder, exe)
        if os.path.isfile(candidate):
            return candidate
    return exe


def _importable(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False
