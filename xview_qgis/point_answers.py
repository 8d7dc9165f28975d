"""The engine's answers at one point, in words: shared by the dock's "What's here" and the Processing log.

No maths and no widgets (``qgis_process`` imports this): the verification answer of
``localization.verification.verify_point`` (embedding distance, P(same place)) and the photo hits
of ``localization.photo_search`` (rank, feature distance or score) as one line each.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any


def verdict_line(answer: dict[str, Any]) -> str:
    """'was P taken here? embedding distance d, P(same place) p (F m tile)'."""
    p = answer.get("p_same_place")
    chance = "no P(same place): the model carries no calibration" if p is None else f"P(same place) {p:.2f}"
    return (f"was {Path(answer['photo']).name} taken here? embedding distance {answer['distance']:.3f}, {chance} "
            f"({answer['footprint_m']:g} m tile)")


def hit_line(hit: dict[str, Any]) -> str:
    """'#1 photo.jpg: feature distance 0.12' (or its score, for a method whose score is no distance)."""
    distance = hit.get("distance")
    value = f"feature distance {distance:.3f}" if distance is not None else f"score {hit['score']:.4g}"
    return f"#{hit['rank']} {Path(hit['photo']).name}: {value}"
