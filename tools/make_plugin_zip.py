"""Build the installable QGIS plugin zip: ``python tools/make_plugin_zip.py -o dist/xview.zip``.

The zip holds one top folder ``xview/`` with the root ``__init__.py``, ``metadata.txt``, the
``xview_engine``, ``xview_qgis`` and ``resources`` folders and ``LICENSE`` if present; tests, caches,
virtual environments and build outputs stay out. Entries are sorted and carry a fixed timestamp, so
the same tree always gives the same bytes. The zip is written to a temporary name and renamed when
complete.
"""

from __future__ import annotations

import argparse
import sys
import zipfile
from collections.abc import Iterator, Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as a script from a checkout without `pip install -e .`
    sys.path.insert(0, str(ROOT))

from xview_engine.outputs import atomic_output  # noqa: E402

PLUGIN_FOLDER = "xview"
TOP_FILES = ("__init__.py", "metadata.txt", "LICENSE")
TOP_DIRS = ("xview_engine", "xview_qgis", "resources")
REQUIRED = ("__init__.py", "metadata.txt", "xview_engine", "xview_qgis", "resources")
EXCLUDED_DIRS = frozenset(
    {"__pycache__", "tests", ".venv", "dist", "build", "demo_out", "bench_out", ".pytest_cache", ".ruff_cache"}
)
EXCLUDED_SUFFIXES = (".pyc", ".pyo", ".part")
ZIP_TIMESTAMP = (1980, 1, 1, 0, 0, 0)


class PluginZipError(Exception):
    """The plugin tree is incomplete or the output cannot be written."""


def plugin_files(root: Path = ROOT) -> list[tuple[Path, str]]:
    """``(source file, name in the zip)`` for every file the plugin ships, sorted by zip name."""
    missing = [name for name in REQUIRED if not (root / name).exists()]
    if missing:
        raise PluginZipError(f"{root} is not the xview plugin folder: missing {', '.join(missing)}")
    sources = [root / name for name in TOP_FILES if (root / name).is_file()]
    for name in TOP_DIRS:
        sources.extend(_walk(root / name))
    entries = [(path, f"{PLUGIN_FOLDER}/{path.relative_to(root).as_posix()}") for path in sources]
    return sorted(entries, key=lambda entry: entry[1])


def build_zip(output: Path, root: Path = ROOT) -> Path:
    """Write the plugin zip to ``output`` (atomically) and return its path."""
    entries = plugin_files(root)
    output.parent.mkdir(parents=True, exist_ok=True)
    members: list[tuple[str, Path | None]] = [(name, path) for path, name in entries]
    members += [(folder, None) for folder in _folders([name for _, name in entries])]
    with atomic_output(output) as tmp:
        with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as archive:
            for name, path in sorted(members, key=lambda member: member[0]):
                if path is None:
                    archive.writestr(_info(name, 0o040755), b"")
                else:
                    archive.writestr(_info(name, 0o100644), path.read_bytes())
        tmp.chmod(0o644)
    return output


def _walk(folder: Path) -> Iterator[Path]:
    for path in sorted(folder.iterdir()):
        if path.name.startswith(".") or path.name.endswith(".egg-info"):
            continue
        if path.is_dir():
            if path.name not in EXCLUDED_DIRS:
                yield from _walk(path)
        elif path.is_file() and not path.name.endswith(EXCLUDED_SUFFIXES):
            yield path


def _folders(names: Sequence[str]) -> list[str]:
    """Every parent folder of the given zip names, as ``a/b/`` entries, sorted."""
    folders = {"/".join(name.split("/")[:depth]) + "/" for name in names for depth in range(1, name.count("/") + 1)}
    return sorted(folders)


def _info(name: str, mode: int) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name, date_time=ZIP_TIMESTAMP)
    info.external_attr = mode << 16
    info.create_system = 3  # unix, so the permission bits are honoured
    info.compress_type = zipfile.ZIP_STORED if name.endswith("/") else zipfile.ZIP_DEFLATED
    return info


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="make_plugin_zip", description=__doc__.splitlines()[0])
    parser.add_argument("-o", "--output", type=Path, default=ROOT / "dist" / "xview.zip", help="zip to write")
    args = parser.parse_args(argv)
    try:
        path = build_zip(args.output)
    except (PluginZipError, OSError) as exc:
        print(f"make_plugin_zip: error: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {path} ({path.stat().st_size // 1024} KiB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
