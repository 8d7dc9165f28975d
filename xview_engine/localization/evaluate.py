"""The evaluation tool: localize many photos of known position and report the seed's metrics.

``evaluate(EvaluateParams)`` is `xview evaluate` minus argument parsing. The pairs CSV says which
photos and where they were taken; their label distributions come from a label file or the
teachers. Every photo is scored against every tile (photos in batches, one matrix product per head
and batch), the true tile (nearest tile centre to the photo's position) is ranked per head and for
the combination, and the report folder gets ``metrics.json`` (top-1/5/10, top-1 %, the full CDF,
median and mean rank, accuracy within 25 m ... 1 km, plus what a random ranking would score),
``queries.csv`` (one row per photo) and ``cdf.png`` (one curve per head and the combination).
Photos whose position lies outside the indexed tiles are listed but not ranked.

When the method's scores carry headings (``Scores.headings``, e.g. the twin network's best azimuth)
and the pairs CSV has each photo's true heading, ``metrics.json`` also gets ``heading``: per heading
extra, the error of the heading found *at the true tile* (orientation given the place, as DSM
reports it): median and mean error with wrap-around, share within +-10 % of the FOV, share in the
exact azimuth bin. Nothing here knows which method gave them.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

import numpy as np

from xview_engine.errors import LabelFileError, OutputError
from xview_engine.localization import metrics
from xview_engine.localization.index import TileIndex, check_index, load_index
from xview_engine.localization.localize import score_queries, truth_tiles
from xview_engine.localization.methods import PhotoOptions
from xview_engine.localization.photos import Queries
from xview_engine.localization.ranking import COMBINED
from xview_engine.outputs import atomic_output, check_outputs_free
from xview_engine.progress import CancelCheck, ProgressCallback, check_cancel

REPORT_FILES = ("metrics.json", "queries.csv", "cdf.png")
BATCH = 256


@dataclass(frozen=True)
class EvaluateParams:
    index: str
    photos: str  # pairs CSV: path, lat, lon[, split]
    out_dir: str
    labels: Optional[str] = None
    teachers: Optional[str] = None
    split: Optional[str] = None  # e.g. 'test': only the pairs of that split
    heads: tuple[str, ...] = ()
    weights: Mapping[str, float] = field(default_factory=dict)
    device: str = "auto"
    overwrite: bool = False
    fov_deg: Optional[float] = None  # the photos' field of view; None: the pairs CSV's fov column, else 360
    use_time: bool = True  # a time-aware index: each photo at its time (pairs CSV, labels); False: marginalised


@dataclass
class Evaluation:
    """Ranks (Q,) per head and combined, the best tile per head, and which queries were in the area.

    ``headings[name]`` (Q,) is each heading extra at the query's true tile (NaN outside the area),
    ``heading_bins[name]`` its bin width in degrees.
    """

    ranks: dict[str, np.ndarray]
    best: dict[str, np.ndarray]
    truth_tile: np.ndarray
    inside: np.ndarray
    headings: dict[str, np.ndarray] = field(default_factory=dict)
    heading_bins: dict[str, float] = field(default_factory=dict)


def rank_queries(index: TileIndex, queries: Queries, heads: Sequence[str] = (),
                 weights: Optional[Mapping[str, float]] = None, progress: Optional[ProgressCallback] = None,
                 cancel: Optional[CancelCheck] = None, batch: int = BATCH) -> Evaluation:
    """Score photos in batches and rank each one's true tile; memory stays at batch x tiles per head."""
    tiles = truth_tiles(index, queries.truth_lonlat)
    inside = tiles >= 0
    n = len(tiles)
    ev = Evaluation({}, {}, tiles, inside)
    for start in range(0, n, batch):
        check_cancel(cancel)
        part = slice(start, min(start + batch, n))
        scores = score_queries(index, queries.subset(np.arange(part.start, part.stop)), heads, weights,
                               cancel=cancel)
        rows, at = np.arange(part.stop - part.start), np.maximum(tiles[part], 0)
        for head, s in scores.heads.items():
            ev.ranks.setdefault(head, np.zeros(n, np.int64))[part] = metrics.count_at_least(s, s[rows, at])
            ev.best.setdefault(head, np.zeros(n, np.int64))[part] = np.argmax(np.where(np.isnan(s), -np.inf, s), 1)
        for name, bin_deg in scores.headings.items():
            found = np.where(inside[part], scores.extras[name][rows, at], np.nan)
            ev.headings.setdefault(name, np.full(n, np.nan))[part] = found
            ev.heading_bins[name] = float(bin_deg)
        if progress is not None:
            progress(part.stop, n)
    return ev


def summarize(index: TileIndex, ev: Evaluation, truth_lonlat: np.ndarray) -> dict[str, Any]:
    """metrics.summarize per head and for the combination, over the queries inside the area."""
    out: dict[str, Any] = {}
    for head, ranks in ev.ranks.items():
        best = ev.best[head][ev.inside]
        dist = metrics.geodesic_m(index.lonlat[best, 0], index.lonlat[best, 1], truth_lonlat[ev.inside, 0],
                                  truth_lonlat[ev.inside, 1])
        out[head] = metrics.summarize(ranks[ev.inside], index.n_valid, dist)
    return out


def summarize_headings(ev: Evaluation, truth_heading: np.ndarray, fov_deg: float) -> dict[str, Any]:
    """Per heading extra of the method, its errors at the true tiles against the known true headings."""
    return {name: metrics.heading_summary(metrics.heading_error_deg(found, truth_heading), fov_deg,
                                          ev.heading_bins[name])
            for name, found in ev.headings.items() if np.isfinite(truth_heading[ev.inside]).any()}


def evaluate(params: EvaluateParams, progress: Optional[ProgressCallback] = None,
             cancel: Optional[CancelCheck] = None) -> dict[str, Any]:
    """See the module docstring; returns the content of metrics.json."""
    out_dir = Path(params.out_dir)
    paths = report_paths(out_dir, REPORT_FILES, params.overwrite)
    index = load_index(params.index)
    check_index(index)
    queries, fov = queries_and_fov(params, index)
    ev = rank_queries(index, queries, params.heads, params.weights, progress, cancel)
    if not ev.inside.any():
        raise LabelFileError(f"none of the {len(queries)} photos of {params.photos} lies inside the indexed tiles "
                             f"of {params.index}; check that they show the same area")
    report = {"index": str(params.index), "photos": str(params.photos), "split": params.split,
              "labels": params.labels or params.teachers, "weights": dict(params.weights),
              "queries_total": len(queries), "queries_outside_area": int((~ev.inside).sum()),
              "candidates": index.n_valid, "rank_convention": "1-based; ties count against the query",
              "random_ranking": metrics.random_ranking_expectation(index.n_valid),
              "metrics": summarize(index, ev, queries.truth_lonlat)}
    headings = summarize_headings(ev, queries.truth_heading, fov)
    if headings:
        report["heading"] = headings
    out_dir.mkdir(exist_ok=True)
    write_report(paths, report, queries, ev, index)
    return report


def report_paths(out_dir: Path, names: Sequence[str], overwrite: bool) -> list[Path]:
    """The report files in ``out_dir`` (made later), refused when they exist or the folder cannot be made."""
    if not out_dir.parent.exists():
        raise OutputError(f"cannot create {out_dir}: its parent folder {out_dir.parent} does not exist")
    paths = [out_dir / name for name in names]
    if out_dir.exists():
        check_outputs_free(paths, overwrite)
    return paths


Describe = Callable[[Sequence[Path], PhotoOptions], Queries]


def evaluation_queries(params: EvaluateParams, index: TileIndex, describe: Optional[Describe] = None) -> Queries:
    """The pairs' photos (of the split) with their distributions; positions come from the pairs CSV."""
    return queries_and_fov(params, index, describe)[0]


def queries_and_fov(params: EvaluateParams, index: TileIndex,
                    describe: Optional[Describe] = None) -> tuple[Queries, float]:
    """The evaluation queries (true positions and headings from the pairs CSV) and their field of view;
    ``describe`` (default: the index method's ``describe_photos``) turns the photos into queries."""
    from xview_engine.data.pairs import read_pairs

    pairs = read_pairs(params.photos)
    rows = np.flatnonzero(pairs.split_mask(params.split)) if params.split else np.arange(len(pairs))
    if rows.size == 0:
        raise LabelFileError(f"pairs CSV {params.photos} has no photo of split '{params.split}'")
    photos = [pairs.photos[i] for i in rows]
    fov = params.fov_deg or pairs_fov(pairs.columns["fov"][rows], params.photos)
    options = PhotoOptions(labels=params.labels, teachers=params.teachers,
                           model=(index.header.get("model") or {}).get("path"), device=params.device, use_exif=False,
                           fov_deg=fov, use_time=params.use_time)
    queries = (describe or index.scorer.describe_photos)(photos, options)
    if params.use_time and "time" in pairs.columns:  # the pairs' times, as their positions, where they give one
        from xview_engine.data.photo_time import photo_times

        known = photo_times(photos, [str(t) for t in pairs.columns["time"][rows]], use_exif=False)
        queries.times = [k if k is not None else (queries.times[i] if queries.times else None)
                         for i, k in enumerate(known)]
    queries.truth_lonlat = np.column_stack([pairs.columns["lon"][rows], pairs.columns["lat"][rows]])
    queries.truth_source = ["pairs"] * len(rows)
    queries.truth_heading = pairs.columns["heading"][rows].astype(np.float64)
    return queries, fov or 360.0


def pairs_fov(fov: np.ndarray, path: str) -> Optional[float]:
    """The one field of view of the pairs' photos (their fov column), None when the column is empty."""
    known = np.unique(fov[np.isfinite(fov)])
    if known.size > 1:
        raise LabelFileError(f"pairs CSV {path} mixes fields of view {sorted(known.tolist())}; evaluate each in "
                             "its own run (--split, or one CSV per FOV) or give --fov")
    return float(known[0]) if known.size else None


def write_report(paths: list[Path], report: dict[str, Any], queries: Queries, ev: Evaluation,
                 index: TileIndex) -> None:
    json_path, csv_path, png_path = paths
    with atomic_output(json_path) as tmp:
        tmp.write_text(json.dumps(report, indent=2), encoding="utf-8")
    with atomic_output(csv_path) as tmp:
        write_queries_csv(tmp, queries, ev, index)
    with atomic_output(png_path) as tmp:
        plot_cdf(tmp, report["metrics"], index.n_valid)


def write_queries_csv(path: Path, queries: Queries, ev: Evaluation, index: TileIndex) -> None:
    heads, angles = list(ev.ranks), list(ev.headings)
    best = ev.best[COMBINED]
    dist = metrics.geodesic_m(index.lonlat[best, 0], index.lonlat[best, 1], queries.truth_lonlat[:, 0],
                              queries.truth_lonlat[:, 1])
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["photo", "lon", "lat", "true_tile", *[f"rank_{h}" for h in heads], "best_percent_combined",
                         "best_tile", "best_lon", "best_lat", "best_distance_m",
                         *(["true_heading"] if angles else []),
                         *[f"{a}{end}" for a in angles for end in ("", "_error")]])
        for q, photo in enumerate(queries.photos):
            inside = bool(ev.inside[q])
            ranks = [int(ev.ranks[h][q]) if inside else "" for h in heads]
            pct = f"{100.0 * ev.ranks[COMBINED][q] / index.n_valid:.4f}" if inside else ""
            lon, lat = queries.truth_lonlat[q]
            truth = queries.truth_heading[q]
            found = [(ev.headings[a][q], metrics.heading_error_deg(ev.headings[a][q], truth)) for a in angles]
            writer.writerow([str(photo), f"{lon:.7f}", f"{lat:.7f}", int(ev.truth_tile[q]) if inside else "", *ranks,
                             pct, int(best[q]), f"{index.lonlat[best[q], 0]:.7f}", f"{index.lonlat[best[q], 1]:.7f}",
                             f"{dist[q]:.1f}", *([_number(truth)] if angles else []),
                             *[_number(v) for pair in found for v in pair]])


def _number(value: float) -> str:
    return f"{value:.2f}" if np.isfinite(value) else ""


def plot_cdf(path: Path, per_head: Mapping[str, Mapping[str, Any]], n_candidates: int) -> None:
    """The seed's Fig. 5: share of queries localized within the best x % of tiles, one curve per head."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4.5), dpi=100)
    try:
        for head, m in per_head.items():
            ax.plot(m["cdf"]["percent"], m["cdf"]["share"], lw=2.2 if head == COMBINED else 1.3,
                    label=f"{head} (top-1% {100 * m['top_1pct']:.1f}%)")
        ax.plot([0, 100], [0, 1], ls="--", c="grey", lw=1, label="random ranking")
        ax.set(xlim=(0, 100), ylim=(0, 1.01), xlabel="best x % of tiles", ylabel="share of queries localized",
               title=f"Localization CDF over {n_candidates:,} tiles")
        ax.grid(alpha=0.3)
        ax.legend(loc="lower right", fontsize=8)
        fig.tight_layout()
        fig.savefig(path, format="png")
    finally:
        plt.close(fig)
