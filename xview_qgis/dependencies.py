"""Which engine dependencies QGIS' Python has (at the pinned minimums), and the commands that install them.

Installing torch into QGIS is the users' top complaint, so the dock says up front what is missing and
offers the installer (``installer_panel``). The check is the engine's
(``xview_engine.install.requirements``): ``find_spec`` and package metadata, never an import, so the
plugin loads without torch. The commands shown are those the installer runs (a venv in the QGIS
profile, never ``pip install --user``, which PEP 668 refuses on Debian and Ubuntu).
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from dataclasses import dataclass

from xview_engine.errors import InstallError
from xview_engine.install.interpreter import find_python
from xview_engine.install.plan import make_plan
from xview_engine.install.requirements import ENGINE_REQUIREMENTS, Requirement, check_requirements

# Distributions the engine cannot run without (the optional ones are installed but not required).
ENGINE_DEPENDENCIES: tuple[str, ...] = tuple(req.dist for req in ENGINE_REQUIREMENTS if req.needed)


@dataclass(frozen=True)
class DependencyReport:
    """Result of a dependency check: what is there, what is missing or too old, and how to fix it."""

    present: tuple[str, ...]
    missing: tuple[str, ...]
    python: str
    commands: tuple[str, ...] = ()  # the installer's commands, to run by hand in a terminal

    @property
    def ok(self) -> bool:
        return not self.missing

    @property
    def pip_line(self) -> str:
        """The commands that install the engine into the profile folder ("" when nothing is missing)."""
        return "" if self.ok else " && ".join(self.commands)

    def summary(self) -> str:
        """What is found or missing, in words; the commands themselves are ``pip_line``."""
        if self.ok:
            return "Engine dependencies found: " + ", ".join(self.present) + "."
        return (
            "Missing engine dependencies: " + ", ".join(self.missing) + ". "
            "Press \"Install xview's engine\", or run this in a terminal and restart QGIS:"
        )

    def message(self) -> str:
        """One line for a message bar or a log: the summary followed by the commands."""
        return f"{self.summary()} {self.pip_line}".strip()


def check_dependencies(modules: Sequence[str] | None = None) -> DependencyReport:
    """Report which engine dependencies (or which of ``modules``) this Python has, without importing them."""
    wanted = [r for r in ENGINE_REQUIREMENTS if r.needed] if modules is None else [
        Requirement(name, name, "", "0") for name in modules]
    statuses = check_requirements(wanted)
    missing = tuple(s.requirement.dist for s in statuses if not s.ok)
    python = qgis_python_executable()
    commands: tuple[str, ...] = ()
    if missing:
        from xview_qgis.engine_folder import profile_engine_folder

        commands = tuple(make_plan(profile_engine_folder(), python).command_lines())
    return DependencyReport(tuple(s.requirement.dist for s in statuses if s.ok), missing, python, commands)


def qgis_python_executable() -> str:
    """The Python interpreter that QGIS embeds (``sys.executable`` is often QGIS itself)."""
    try:
        return str(find_python())
    except InstallError:
        return sys.executable
