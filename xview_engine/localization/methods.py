"""The localization method seam: one registry entry per model kind (the manifest's ``kind``).

A method says three things, and nothing outside it branches on the kind:

* what an index stores per tile (``index_arrays``) and how the model's outputs for a row of tiles
  become those arrays (``tile_arrays``): likelihood tables for distillation, embeddings for the
  twin and Siamese networks;
* how query photos become what is scored (``describe_photos``): label distributions from a label
  file or the teachers, or the photos' own embeddings from the model's ground branch;
* how photos are scored against every tile (``score``, higher is better) and against one tile
  (``score_tile``, the column retrieval ranks photos by), plus what extra a candidate carries
  (``Scores.extras``, e.g. the best heading of a twin match) and which extras are headings
  (``Scores.headings``), so evaluation measures heading errors without knowing the method.

Optional members, looked up with ``getattr`` (by ``localization.photo_search``,
``localization.verification`` and the plugin's "What's here"): a method whose model carries its own
photo collection offers ``reference_queries(options)`` (the kNN method's reference photos, described
by their aerial tiles), one whose score stands for a distance offers ``score_to_distance(scores)``,
and one that answers "was this photo taken here?" offers ``verify(photo, model, source, x, y,
device)`` (the Siamese method: embedding distance and P(same place) for the tile centred at (x, y)).
A method that describes a photo and a tile in one feature space offers ``verification_queries(photos,
options)``, the photos' vectors under the name of the index array holding the tiles' vectors; a
pair's distance is that of the two L2-normalised vectors (the Siamese embedding, or a classifier's
own features of photo and tile: the paper's off-the-shelf baseline).

``method_for(kind)`` imports the built-in method of that kind on first use, so a new method is one
module that calls ``register_method`` and one line in ``BUILTIN``.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional, Protocol

import numpy as np

from xview_engine.errors import XviewError
from xview_engine.model.manifest import Manifest
from xview_engine.progress import CancelCheck, ProgressCallback

if TYPE_CHECKING:
    from xview_engine.localization.index import TileIndex
    from xview_engine.localization.photos import Queries

BUILTIN = {"distill": "xview_engine.localization.distill",  # kind -> module that registers it
           "siamese": "xview_engine.localization.siamese",
           "knn": "xview_engine.localization.knn",
           "twin": "xview_engine.localization.twin"}
METHODS: dict[str, LocalizationMethod] = {}


class MethodError(XviewError):
    """No localization method for a model kind."""


@dataclass(frozen=True)
class ArraySpec:
    """One per-tile array of an index: ``{name}.npy`` with shape (T, *shape), ``fill`` where no tile ran."""

    name: str
    shape: tuple[int, ...]
    dtype: str
    fill: float = 0.0

    @property
    def file(self) -> str:
        return f"{self.name}.npy"


@dataclass(frozen=True)
class PhotoOptions:
    """How the photos are described: a label file or teachers (distillation), the model (embeddings)."""

    labels: Optional[str] = None
    teachers: Optional[str] = None
    model: Optional[str] = None
    device: str = "auto"
    use_exif: bool = True  # truth positions from EXIF GPS (evaluation takes them from the pairs CSV)
    fov_deg: Optional[float] = None  # the photos' horizontal field of view (twin: None = 360, panoramas)
    use_time: bool = True  # a time-aware model scores each photo at its time (False: marginalised over the year)


@dataclass
class Scores:
    """(P, T) scores per head and ``'combined'`` (higher is better); extras (P, T) per candidate.

    ``headings`` names the extras that are headings (degrees clockwise from true north, NaN where
    none) with the width in degrees of the bins they come in (a twin index's azimuth columns).
    """

    heads: dict[str, np.ndarray]
    extras: dict[str, np.ndarray] = field(default_factory=dict)
    headings: dict[str, float] = field(default_factory=dict)


class LocalizationMethod(Protocol):
    kind: str
    description: str

    def index_arrays(self, manifest: Manifest, dtype: str) -> list[ArraySpec]:
        """The per-tile arrays an index of this model holds."""

    def index_header(self, manifest: Manifest, dtype: str) -> dict[str, Any]:
        """Method-specific entries of ``index.json`` (e.g. what each array means)."""

    def tile_arrays(self, manifest: Manifest, outputs: Mapping[str, np.ndarray],
                    dtype: str) -> Optional[tuple[np.ndarray, dict[str, np.ndarray]]]:
        """Model outputs for a row of tiles -> (tiles that ran (n,) bool, {array: values of those tiles})."""

    def describe_photos(self, photos: Sequence[str | Path], options: PhotoOptions,
                        progress: Optional[ProgressCallback] = None,
                        cancel: Optional[CancelCheck] = None) -> Queries:
        """The query photos as this method scores them, with their true positions when known."""

    def score(self, index: TileIndex, queries: Queries, heads: Sequence[str] = (),
              weights: Optional[Mapping[str, float]] = None, keep_heads: bool = True,
              progress: Optional[ProgressCallback] = None, cancel: Optional[CancelCheck] = None) -> Scores:
        """Every photo against every tile; tiles that never ran score -inf."""

    def score_tile(self, index: TileIndex, tile: int, queries: Queries, heads: Sequence[str] = (),
                   weights: Optional[Mapping[str, float]] = None) -> np.ndarray:
        """(P,) combined score of every photo against one tile."""


def finite_rows(outputs: Mapping[str, np.ndarray], name: str) -> Optional[tuple[np.ndarray, np.ndarray]]:
    """For one-output methods: (tiles that ran (n,) bool, their rows of output ``name``); None without it."""
    block = outputs.get(name)
    if block is None:
        return None
    ok = np.isfinite(block).reshape(len(block), -1).all(axis=1)
    return ok, block[ok]


def register_method(method: LocalizationMethod) -> LocalizationMethod:
    METHODS[method.kind] = method
    return method


def method_for(kind: str) -> LocalizationMethod:
    """The method for models of ``kind``; a clear error for a kind no method handles."""
    if kind not in METHODS and kind in BUILTIN:
        importlib.import_module(BUILTIN[kind])
    if kind not in METHODS:
        known = sorted(set(METHODS) | set(BUILTIN))
        raise MethodError(f"no localization method for models of kind '{kind}' (known: {', '.join(known)})")
    return METHODS[kind]
