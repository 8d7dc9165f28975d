"""The engine's packages follow the data: no module imports one that sits above it in the flow.

Every ``xview_engine`` import in every engine module, at the top or inside a function, is read with
``ast`` and checked against the order below; the engine never imports Qt or qgis.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ENGINE = Path(__file__).resolve().parents[1] / "xview_engine"
# Lowest first. A module may import its own layer and any layer below it.
LAYERS = (
    ("__init__", "errors", "limits", "progress", "outputs", "resources", "cache"),
    ("weights",),
    ("install",),
    ("raster",),
    ("model",),
    ("data",),
    ("teachers",),
    ("mapping",),
    ("localization",),
    ("training",),
    ("synth",),
    ("demo",),
    ("cli", "__main__"),
)
RANK = {name: rank for rank, names in enumerate(LAYERS) for name in names}


def _layer(module: str) -> str:
    """'xview_engine.raster.grid' -> 'raster'; 'xview_engine' -> '__init__'."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def _imports(path: Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module == "xview_engine":  # `from xview_engine import __version__` is the package itself
                found += [(node.lineno, f"xview_engine.{a.name}") for a in node.names if not a.name.startswith("__")]
            else:
                found.append((node.lineno, node.module))
        elif isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names]
    return found


MODULES = sorted(ENGINE.rglob("*.py"))


def test_every_engine_package_has_a_layer():
    tops = {p.relative_to(ENGINE).parts[0].removesuffix(".py") for p in MODULES}
    assert tops <= set(RANK), sorted(tops - set(RANK))


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(ENGINE)))
def test_no_import_from_above(path: Path):
    own = _layer("xview_engine." + ".".join(path.relative_to(ENGINE).with_suffix("").parts))
    wrong = []
    for line, module in _imports(path):
        root = module.split(".")[0]
        if root in ("qgis", "PyQt5", "PyQt6", "PySide2", "PySide6"):
            wrong.append(f"line {line}: imports {module} (the engine never imports Qt or qgis)")
        elif root == "xview_engine" and RANK[_layer(module)] > RANK[own]:
            wrong.append(f"line {line}: {own} imports {module}, which sits above it")
    assert not wrong, "\n".join(wrong)
