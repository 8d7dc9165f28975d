"""The engine install: a folder the plugin owns, filled by pip, renamed into place when it succeeded.

The folder is a venv made with ``--system-site-packages --without-pip`` by QGIS' own Python: the
system's pip runs inside it, so PEP 668 (Debian's "externally-managed-environment", which refuses
``pip install --user``) does not apply, no ensurepip is needed, and pip sees QGIS' numpy, GDAL and
friends as installed: nothing QGIS already has is downloaded again unless a pin asks for another
version. The constraints file pins every version (``requirements.ENGINE_REQUIREMENTS``) and numpy to
the version QGIS runs (GDAL's and QGIS' bindings are built against it). This is how ``make setup``
makes the test venv. Where no venv can be made, ``pip install --target`` is the fallback (PEP 668
does not block it either); ``--target`` ignores what is installed, so numpy is removed from it
afterwards: the folder never shadows QGIS' own numpy.

Cancel or failure removes the staging folder, so nothing half-installed is ever on ``sys.path``;
running again installs afresh and replaces the old folder (repair and upgrade are the same thing).
Only the venv's ``site-packages`` is used (put on QGIS' ``sys.path``), never its interpreter, so the
renamed venv needs no fixing.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from xview_engine.install.requirements import ENGINE_REQUIREMENTS, TORCH_FAMILY, Requirement, running_numpy

METHODS = ("venv", "target")
INSTALL_RECORD = "xview-install.json"  # written into the folder: what was installed, for the report
LOG_NAME = "install.log"  # the last install's full pip log, beside the folder
CONSTRAINTS_NAME = "constraints.txt"
PIP_OPTIONS = ("--no-input", "--progress-bar", "off", "--disable-pip-version-check", "--no-warn-script-location")


@dataclass(frozen=True)
class InstallPlan:
    """Everything the install does, as plain data: shown to the user, then run."""

    python: str  # QGIS' interpreter: makes the venv (or runs pip --target)
    folder: str  # the final folder; a sibling staging folder is filled first
    requirements: tuple[str, ...]  # "name==version"
    numpy: str | None = None  # the running numpy version, pinned (and kept out of a --target folder)
    build: str = "cpu"
    torch_index: str | None = None  # extra index for the torch build (None: the configured indexes only)
    method: str = "venv"
    windows: bool = os.name == "nt"

    @property
    def root(self) -> Path:
        return Path(self.folder).parent

    @property
    def log_path(self) -> Path:
        return self.root / LOG_NAME

    @property
    def constraints_path(self) -> Path:
        return self.root / CONSTRAINTS_NAME

    @property
    def constraints(self) -> tuple[str, ...]:
        return (*self.requirements, *([f"numpy=={self.numpy}"] if self.numpy else []))

    def venv_command(self, folder: str | Path) -> list[str]:
        """Make the venv: QGIS' packages visible, no pip of its own (the system's runs in it)."""
        return [self.python, "-m", "venv", "--without-pip", "--system-site-packages", str(folder)]

    def pip_command(self, folder: str | Path) -> list[str]:
        """The pip command line installing into ``folder`` (a venv, or a --target folder)."""
        if self.method == "venv":
            cmd = [str(venv_python(folder, self.windows)), "-m", "pip", "install"]
        else:
            cmd = [self.python, "-m", "pip", "install", "--target", str(folder)]
        cmd += [*PIP_OPTIONS, "-c", str(self.constraints_path)]
        if self.torch_index and any(spec.split("==")[0] in TORCH_FAMILY for spec in self.requirements):
            cmd += ["--extra-index-url", self.torch_index]
        return cmd + list(self.requirements)

    def command_lines(self) -> list[str]:
        """The commands as lines to read, or to run by hand in a terminal (into the final folder)."""
        commands = [self.venv_command(self.folder)] if self.method == "venv" else []
        return [" ".join(quote(part) for part in cmd) for cmd in (*commands, self.pip_command(self.folder))]


def make_plan(folder: str | Path, python: str | Path, build: str = "cpu", torch_index: str | None = None,
              requirements: Sequence[Requirement] = ENGINE_REQUIREMENTS, numpy: str | None = None,
              method: str = "venv") -> InstallPlan:
    """The plan for ``requirements`` into ``folder`` with ``python``; numpy defaults to the running one."""
    if method not in METHODS:
        raise ValueError(f"unknown install method {method!r} (choose from {', '.join(METHODS)})")
    return InstallPlan(str(python), str(folder), tuple(req.spec for req in requirements),
                       numpy if numpy is not None else running_numpy(), build, torch_index, method)


def venv_python(folder: str | Path, windows: bool = os.name == "nt") -> Path:
    return Path(folder, "Scripts", "python.exe") if windows else Path(folder, "bin", "python")


def site_dir(folder: str | Path) -> Path:
    """The folder to put on ``sys.path``: the venv's site-packages (from the record), or the folder itself."""
    relative = read_record(folder).get("site_packages")
    if relative is not None:
        return Path(folder, relative)
    found = sorted(Path(folder).glob("lib/python*/site-packages")) + sorted(Path(folder).glob("Lib/site-packages"))
    return found[0] if found else Path(folder)


def read_record(folder: str | Path) -> dict:
    """The install record of a folder ({} when there is none or it is unreadable)."""
    try:
        return json.loads(Path(folder, INSTALL_RECORD).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def record(plan: InstallPlan, site_packages: str) -> dict:
    """What the folder holds, for the report and for ``site_dir``."""
    import time

    return {"build": plan.build, "method": plan.method, "site_packages": site_packages,
            "requirements": list(plan.requirements), "numpy_kept": plan.numpy, "python": plan.python,
            "python_version": sys.version.split()[0], "installed": time.strftime("%Y-%m-%dT%H:%M:%S%z")}


def folder_size(folder: str | Path) -> int:
    """Bytes under a folder (the report and the make target say how big the install is)."""
    return sum(p.stat().st_size for p in Path(folder).rglob("*") if p.is_file() and not p.is_symlink())


def quote(part: str) -> str:
    return f'"{part}"' if any(c in part for c in " \t'\"&|;<>()") else part
