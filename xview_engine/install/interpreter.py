"""The Python interpreter that QGIS embeds, found from ``sys.executable`` and friends.

Inside QGIS ``sys.executable`` is rarely Python: it is ``qgis`` or ``qgis-bin.exe`` (the desktop),
``qgis_process`` (batch), or, when QGIS was started from a shell, a pyenv shim that is not even the
same Python. pip must run under the very interpreter QGIS embeds (same version, same ABI), so the
candidates are tried in order: the executable itself when it is a real Python of this version, then
``sys._base_executable``, then the usual places under ``sys.prefix`` / ``sys.exec_prefix`` (Linux and
macOS ``bin/python3.X``, Windows ``python.exe``, OSGeo4W ``apps/Python3X/python.exe``).

PEP 668: a Python whose standard library folder holds ``EXTERNALLY-MANAGED`` (Debian, Ubuntu,
Fedora) refuses ``pip install`` and ``--user``; ``--target`` into a folder of our own still works.
"""

from __future__ import annotations

import os
import sys
import sysconfig
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from xview_engine.errors import InstallError


@dataclass(frozen=True)
class PythonInfo:
    """What the running interpreter says about itself (a value, so tests can fake a layout)."""

    executable: str
    base_executable: str
    prefix: str
    exec_prefix: str
    version: tuple[int, int]
    windows: bool

    @classmethod
    def running(cls) -> PythonInfo:
        return cls(sys.executable or "", getattr(sys, "_base_executable", "") or "", sys.prefix, sys.exec_prefix,
                   sys.version_info[:2], os.name == "nt")


def candidates(info: PythonInfo) -> list[Path]:
    """Every place the interpreter may be, most trusted first (duplicates removed)."""
    major, minor = info.version
    if info.windows:
        names = ("python.exe", f"python{major}.exe")
        subdirs = ("", "Scripts", "bin", f"apps/Python{major}{minor}", f"apps/Python{major}{minor}/bin")
    else:
        names = (f"python{major}.{minor}", f"python{major}", "python")
        subdirs = ("bin", "")
    found: list[Path] = [Path(p) for p in (info.executable, info.base_executable) if p]
    for root in dict.fromkeys((info.prefix, info.exec_prefix)):
        found += [Path(root, sub, name) for sub in subdirs for name in names]
    return list(dict.fromkeys(found))


def find_python(info: PythonInfo | None = None) -> Path:
    """The interpreter file for pip: the first candidate that is a file named like Python of this version.

    A name check, not a run: starting a candidate would start QGIS itself when it is ``qgis``. A pyenv
    shim is a script (not a binary), so a candidate from the prefix wins over it.
    """
    info = info or PythonInfo.running()
    for path in candidates(info):
        if path.is_file() and _looks_like_python(path, info) and not _is_shim(path):
            return path
    tried = ", ".join(str(p) for p in candidates(info)[:6])
    raise InstallError(f"cannot find the Python interpreter of this QGIS (Python {info.version[0]}.{info.version[1]}, "
                       f"prefix {info.prefix}); tried {tried}; install the engine's packages by hand with that Python")


def externally_managed(stdlib: str | None = None) -> bool:
    """PEP 668: does this Python's standard library folder hold an ``EXTERNALLY-MANAGED`` marker?"""
    folder = stdlib if stdlib is not None else sysconfig.get_paths()["stdlib"]
    return Path(folder, "EXTERNALLY-MANAGED").is_file()


def _looks_like_python(path: Path, info: PythonInfo) -> bool:
    name = path.name.lower().removesuffix(".exe")
    major, minor = info.version
    return name in ("python", f"python{major}", f"python{major}.{minor}", f"python{major}{minor}")


def _is_shim(path: Path, markers: Sequence[bytes] = (b"pyenv", b"asdf", b"exec ")) -> bool:
    """A small text script that re-dispatches to some other Python (pyenv, asdf): never QGIS' own."""
    try:
        head = path.read_bytes()[:512]
    except OSError:
        return True
    return head.startswith(b"#!") and any(marker in head for marker in markers)
