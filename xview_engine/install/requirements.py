"""What the engine needs from pip, and what this Python has of it, without importing any of it.

The pins are those of ``requirements.txt`` (a test holds them equal): the installer installs exactly
these, so every user runs the versions the tests ran. A dependency older than its minimum counts as
missing, so the dock offers to upgrade it. ``find_spec`` never runs the package: checking is fast
and works where torch would crash on import.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import re
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Requirement:
    """One pip distribution: its import name, the version installed, the oldest the engine accepts."""

    dist: str
    module: str
    pin: str
    minimum: str
    needed: bool = True  # False: optional (ONNX export, evaluation plots), reported but not required

    @property
    def spec(self) -> str:
        return f"{self.dist}=={self.pin}"


ENGINE_REQUIREMENTS: tuple[Requirement, ...] = (
    Requirement("torch", "torch", "2.14.1", "2.1"),
    Requirement("torchvision", "torchvision", "0.29.1", "0.16"),
    Requirement("rasterio", "rasterio", "1.4.4", "1.3"),
    Requirement("attrs", "attr", "26.1.0", "23.1"),
    Requirement("pyproj", "pyproj", "3.7.2", "3.4"),
    Requirement("shapely", "shapely", "2.1.2", "2.0"),
    Requirement("safetensors", "safetensors", "0.8.0", "0.4"),
    Requirement("pillow", "PIL", "9.4.0", "9.0"),
    Requirement("scipy", "scipy", "1.10.1", "1.9", needed=False),
    Requirement("matplotlib", "matplotlib", "3.6.3", "3.5", needed=False),
    Requirement("onnx", "onnx", "1.23.2", "1.14", needed=False),
    Requirement("onnxruntime", "onnxruntime", "1.32.0", "1.16", needed=False),
)
TORCH_FAMILY = ("torch", "torchvision")  # installed from the torch build's index (CPU or CUDA)


@dataclass(frozen=True)
class DependencyStatus:
    """A requirement as found in this Python: version and folder, or why it does not count."""

    requirement: Requirement
    installed: str | None
    location: str | None

    @property
    def state(self) -> str:
        """'ok', 'missing' or 'too old'."""
        if self.installed is None:
            return "missing"
        found = version_key(self.installed)  # () for "unknown": importable, not pip-installed: trusted
        return "too old" if found and found < version_key(self.requirement.minimum) else "ok"

    @property
    def ok(self) -> bool:
        return self.state == "ok"


def check_requirements(requirements: Sequence[Requirement] = ENGINE_REQUIREMENTS) -> tuple[DependencyStatus, ...]:
    """Each requirement's installed version and folder, as the next ``import`` would find them."""
    return tuple(_status(req) for req in requirements)


def blocking(statuses: Sequence[DependencyStatus]) -> tuple[DependencyStatus, ...]:
    """The needed requirements that are missing or too old: while any is left, the engine cannot run."""
    return tuple(s for s in statuses if s.requirement.needed and not s.ok)


def running_numpy() -> str | None:
    """The numpy this Python has loaded (or would load): the version an install must keep."""
    loaded = sys.modules.get("numpy")
    if loaded is not None and getattr(loaded, "__version__", None):
        return str(loaded.__version__)
    found = _status(Requirement("numpy", "numpy", "", "0"))
    return found.installed if found.installed not in (None, "unknown") else None


def version_key(version: str) -> tuple[int, ...]:
    """'2.14.1+cu130' -> (2, 14, 1): the release numbers, enough to compare against a minimum."""
    release = re.match(r"\d+(?:\.\d+)*", version.strip())
    return tuple(int(part) for part in release.group(0).split(".")) if release else ()


def _status(req: Requirement) -> DependencyStatus:
    try:
        spec = importlib.util.find_spec(req.module)
    except (ImportError, ValueError):
        spec = None
    if spec is None:
        return DependencyStatus(req, None, None)
    origin = spec.origin if spec.origin not in (None, "namespace") else None
    origin = origin or next(iter(spec.submodule_search_locations or ()), None)
    folder = Path(origin).parent if origin else None
    site_dir = folder.parent if folder is not None and spec.submodule_search_locations else folder
    return DependencyStatus(req, _version(req.dist, site_dir), str(folder) if folder else None)


def _version(dist: str, site_dir: Path | None) -> str | None:
    """The version of the distribution installed next to the module that imports (not any other copy)."""
    if site_dir is not None:
        for found in importlib.metadata.distributions(path=[str(site_dir)]):
            if _canonical(found.metadata["Name"] or "") == _canonical(dist):
                return found.version
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return "unknown"  # importable but not pip-installed (a source checkout): version cannot be told


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()
