"""Label spaces: the ordered class names a head predicts a distribution over.

The real ones mirror the ground-level teachers of the seed: Places365 scenes (CSAIL's category list),
ImageNet-1k classes (torchvision's weight metadata) and COCO's 91-entry detection layout used by
torchvision's Faster R-CNN (with its ``__background__`` and ``N/A`` placeholders, so indices line up
with detector outputs). The lists ship in ``resources/labels`` so nothing is downloaded; a test
checks them against torchvision. Custom spaces come from any list of names.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from xview_engine.errors import LabelSpaceError, XviewError
from xview_engine.resources import resource_path


@dataclass(frozen=True)
class LabelSpace:
    name: str
    names: tuple[str, ...]

    def __len__(self) -> int:
        return len(self.names)

    def index(self, label: str) -> int:
        return index_of_label(self.names, label, f"label space '{self.name}'")

    def subset(self, labels: Sequence[str], name: str | None = None) -> LabelSpace:
        """A smaller space keeping the given classes (checked) in the given order."""
        for label in labels:
            self.index(label)
        return LabelSpace(name or f"{self.name}-subset", tuple(labels))


def index_of_label(
    names: Sequence[str], label: str, owner: str, error: type[XviewError] = LabelSpaceError
) -> int:
    """Position of ``label`` in ``names``; the error names ``owner`` and lists near matches for typos."""
    try:
        return list(names).index(label)
    except ValueError:
        near = [n for n in names if label.lower() in n.lower()][:8]
        hint = f"; similar: {', '.join(near)}" if near else ""
        raise error(f"{owner} has no class '{label}'{hint}") from None


def _read_lines(path: Path) -> list[str]:
    return [line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def places365_name(line: str) -> str:
    """'/a/airfield 0' -> 'airfield'; '/f/field/cultivated 150' -> 'field/cultivated'."""
    path = line.split()[0]
    return path[3:] if path[:1] == "/" and path[2:3] == "/" else path.lstrip("/")


@cache
def places365() -> LabelSpace:
    names = tuple(places365_name(line) for line in _read_lines(resource_path("labels", "categories_places365.txt")))
    return LabelSpace("places365", names)


@cache
def imagenet1k() -> LabelSpace:
    return LabelSpace("imagenet", tuple(_read_lines(resource_path("labels", "imagenet1k.txt"))))


@cache
def coco91() -> LabelSpace:
    return LabelSpace("coco", tuple(_read_lines(resource_path("labels", "coco91.txt"))))


BUILTIN_SPACES = {"places365": places365, "imagenet": imagenet1k, "coco": coco91}


def label_space(name: str) -> LabelSpace:
    """A built-in label space by name; the error lists the known names."""
    if name not in BUILTIN_SPACES:
        raise LabelSpaceError(f"unknown label space '{name}' (built in: {', '.join(BUILTIN_SPACES)})")
    return BUILTIN_SPACES[name]()


def custom_space(name: str, names: Sequence[str]) -> LabelSpace:
    """A label space from a list of names (blank and repeated names are refused)."""
    cleaned = tuple(str(n).strip() for n in names)
    if not cleaned or any(not n for n in cleaned):
        raise LabelSpaceError(f"label space '{name}' needs a non-empty list of non-blank names")
    repeated = sorted({n for n in cleaned if cleaned.count(n) > 1})
    if repeated:
        raise LabelSpaceError(f"label space '{name}' repeats names: {', '.join(repeated[:5])}")
    return LabelSpace(name, cleaned)


def custom_space_from_file(path: str | Path, name: str | None = None) -> LabelSpace:
    path = Path(path)
    if not path.is_file():
        raise LabelSpaceError(f"label list {path} does not exist (one class name per line)")
    return custom_space(name or path.stem, _read_lines(path))
