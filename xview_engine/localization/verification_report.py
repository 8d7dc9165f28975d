"""The verification report folder: JSON, the pairs CSV, the PR curve, the distance histograms, the contact sheet.

``verification.verify_pairs`` computes; this module writes what it found, every file under a
temporary name first:

``verification.json``   average precision, random AP, mean distances, the paper's anchors, and which
                        pairs the contact sheet shows
``pairs.csv``           one row per pair: photo, tile, matched, distance, P(same place) (empty
                        without a calibration)
``precision_recall.png`` the precision-recall curve with the AP and the random level
``distances.png``       the histogram of matched vs unmatched pair distances (the paper's Fig. 6,
                        "effectiveness of training")
``contact_sheet.png``   the easiest matched pairs (smallest distance) and the hardest unmatched ones
                        (smallest distance: the closest to passing for a match), each photo beside its
                        aerial tile and its distance under it (``sheets.image_sheet``)
"""

from __future__ import annotations

import csv
import json
from contextlib import nullcontext
from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional

import numpy as np

from xview_engine.localization.sheets import COLUMNS, ChipSource, chip_rgb, image_sheet
from xview_engine.model.siamese import same_place_probability
from xview_engine.outputs import atomic_output

if TYPE_CHECKING:
    from xview_engine.localization.index import TileIndex
    from xview_engine.localization.verification import PairSample

REPORT_FILES = ("verification.json", "pairs.csv", "precision_recall.png", "distances.png", "contact_sheet.png")
SHEET_PAIRS = 8  # matched and unmatched pairs shown on the contact sheet, each


def sheet_pairs(distance: np.ndarray, matched: np.ndarray, k: int = SHEET_PAIRS) -> tuple[np.ndarray, np.ndarray]:
    """Positions of the ``k`` matched pairs of smallest distance (the easiest) and of the ``k`` unmatched
    pairs of smallest distance (the hardest), each by increasing distance, ties in pair order."""
    order = np.argsort(np.asarray(distance, np.float64), kind="stable")
    is_matched = np.asarray(matched, bool)[order]
    return order[is_matched][:k], order[~is_matched][:k]


def write_verification(paths: list[Path], report: dict[str, Any], photos: list[Path], index: TileIndex,
                       pairs: PairSample, distance: np.ndarray, precision: np.ndarray, recall: np.ndarray,
                       calibration: Optional[dict[str, float]], raster: Optional[str] = None) -> None:
    """All report files; ``pairs.photo`` are rows of ``photos``, ``pairs.tile`` tiles of ``index``."""
    json_path, csv_path, pr_path, hist_path, sheet_path = paths
    easy, hard = sheet_pairs(distance, pairs.label == 1)
    chips = ChipSource(index, raster)
    report["contact_sheet"] = {"matched_rows": easy.tolist(), "unmatched_rows": hard.tolist(),
                               "tiles_from": str(chips.path) if chips.available else None}
    with atomic_output(json_path) as tmp:
        tmp.write_text(json.dumps(report, indent=2), encoding="utf-8")
    with atomic_output(csv_path) as tmp, open(tmp, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["photo", "tile", "matched", "distance", "p_same_place"])
        p = same_place_probability(distance, calibration) if calibration else None
        for i in range(len(pairs)):
            writer.writerow([str(photos[pairs.photo[i]]), int(pairs.tile[i]), int(pairs.label[i]),
                             f"{distance[i]:.6f}", "" if p is None else f"{p[i]:.6f}"])
    plot_verification(pr_path, hist_path, report, pairs.label == 1, distance, precision, recall)
    write_pair_sheet(sheet_path, photos, index, pairs, distance, (easy, hard), chips)


def write_pair_sheet(path: Path, photos: list[Path], index: TileIndex, pairs: PairSample, distance: np.ndarray,
                     shown: tuple[np.ndarray, np.ndarray], chips: ChipSource) -> Path:
    """Two pairs per row, photo then tile: the matched pairs first, the unmatched ones from a new row;
    a tile is a grey cell when the raster is not there to cut it from."""
    cells: list[Any] = []
    with chips if chips.available else nullcontext() as source:
        for kind, rows in zip(("match", "non-match"), shown):
            for rank, i in enumerate(rows, start=1):
                tile = int(pairs.tile[i])
                chip = chip_rgb(source, index, tile) if source is not None else None
                cells += [(photos[pairs.photo[i]], f"{kind} #{rank} d {distance[i]:.3f}"),
                          (chip, f"tile {tile} {Path(photos[pairs.photo[i]]).stem[:12]}")]
            cells += [None] * (-len(cells) % COLUMNS)
    return image_sheet(cells, path)


def plot_verification(pr_path: Path, hist_path: Path, report: dict[str, Any], matched: np.ndarray,
                      distance: np.ndarray, precision: np.ndarray, recall: np.ndarray) -> None:
    """The precision-recall curve, and the paper's histogram of matched vs unmatched pair distances."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    fig = Figure(figsize=(5, 4.2), dpi=100)
    ax = fig.add_subplot(1, 1, 1)
    ax.plot(recall, precision, lw=2, label=f"AP {100 * report['average_precision']:.1f} %")
    ax.axhline(report["random_ap"], ls="--", c="grey", lw=1, label=f"random {100 * report['random_ap']:.1f} %")
    ax.set(xlim=(0, 1), ylim=(0, 1.01), xlabel="recall", ylabel="precision",
           title=f"Verification: {report['matched_pairs']} matched, {report['unmatched_pairs']} unmatched")
    ax.grid(alpha=0.3)
    ax.legend(loc="upper right")
    fig.tight_layout()
    with atomic_output(pr_path) as tmp:
        fig.savefig(tmp, format="png")
    fig = Figure(figsize=(5, 4.2), dpi=100)
    ax = fig.add_subplot(1, 1, 1)
    bins = np.linspace(0.0, 2.0, 41)
    ax.hist(distance[matched], bins=bins, density=True, alpha=0.6, label="matched")
    ax.hist(distance[~matched], bins=bins, density=True, alpha=0.6, label="unmatched")
    ax.set(xlabel="distance of the L2-normalised vectors", ylabel="density", title="Pair distances")
    ax.legend()
    fig.tight_layout()
    with atomic_output(hist_path) as tmp:
        fig.savefig(tmp, format="png")
