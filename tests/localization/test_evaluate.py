"""`xview evaluate` on a hand-made index whose ranks, ties and distances are computed by hand."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest

from xview_engine.cli.main import main
from xview_engine.data.label_files import write_label_file
from xview_engine.errors import LabelFileError
from xview_engine.localization.evaluate import EvaluateParams, evaluate
from xview_engine.localization.index import load_index, write_index
from xview_engine.localization.metrics import geodesic_m
from xview_engine.model.manifest import BackboneSpec, HeadSpec, InputSpec, Manifest
from xview_engine.raster.grid import TileGrid

MEANS = np.array([[1.0, 0.0], [1.0, 0.0], [0.5, 0.5], [0.0, 1.0]])  # tiles 0 and 1 predict the same
PHOTOS = np.array([[0.0, 1.0], [1.0, 0.0], [0.0, 1.0], [0.0, 1.0], [1.0, 0.0]])
TRUE_TILE = [3, 1, 2, 0, None]  # the last photo was taken far outside the indexed area
# scores -|p - m_t|^2: q0 (-2,-2,-.5,0) truth 0 -> rank 1; q1 (0,0,-.5,-2) truth ties tile 0 -> 2;
# q2 truth -.5 -> 2; q3 truth -2 ties tile 1 -> 4 (ties count against the query)
RANKS = [1, 2, 2, 4]
BEST = [3, 0, 3, 3]  # argmax, first of equal scores


@pytest.fixture
def case(tmp_path):
    manifest = Manifest("distill", BackboneSpec("tiny_cnn"), InputSpec(16, 0.5), (HeadSpec("m", "mean", ("a", "b")),))
    grid = TileGrid("EPSG:32633", 500_000.0, 4_800_000.0, 1, 4, 16, 8, 0.5, 1.0, 1.0)
    write_index(tmp_path / "idx", grid, [(0, {"m": MEANS})], manifest)
    index = load_index(tmp_path / "idx")
    names = [f"q{i}.jpg" for i in range(len(PHOTOS))]
    write_label_file(tmp_path / "labels.npz", {"m": PHOTOS}, {"m": ("a", "b")}, {"m": "categorical"},
                     {"path": np.array(names)})
    with open(tmp_path / "pairs.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["path", "lat", "lon", "split"])
        for i, (name, tile) in enumerate(zip(names, TRUE_TILE)):
            lon, lat = index.lonlat[tile] if tile is not None else (0.0, 0.0)
            w.writerow([name, f"{lat:.9f}", f"{lon:.9f}", "test" if i != 1 else "train"])
    return tmp_path, index


def test_metrics_by_hand(case) -> None:
    folder, index = case
    report = evaluate(EvaluateParams(str(folder / "idx"), str(folder / "pairs.csv"), str(folder / "rep"),
                                     labels=str(folder / "labels.npz")))
    assert report["queries_total"] == 5 and report["queries_outside_area"] == 1 and report["candidates"] == 4
    m = report["metrics"]["m"]
    assert m == report["metrics"]["combined"]
    assert (m["top_1"], m["top_5"], m["top_10"], m["top_1pct"]) == (0.25, 1.0, 1.0, 0.25)
    assert (m["median_rank"], m["mean_rank"]) == (2.0, 2.25)
    share = dict(zip(m["cdf"]["percent"], m["cdf"]["share"]))
    assert (share[0.0], share[25.0], share[50.0], share[75.0], share[100.0]) == (0.25, 0.25, 0.75, 0.75, 1.0)
    truth = np.array([index.lonlat[t] for t in TRUE_TILE[:4]])
    best = index.lonlat[BEST]
    dist = geodesic_m(best[:, 0], best[:, 1], truth[:, 0], truth[:, 1])
    assert dist[0] == 0.0 and dist[1] == pytest.approx(4.0, rel=1e-3) and dist[3] == pytest.approx(12.0, rel=1e-3)
    assert m["median_distance_m"] == pytest.approx(np.median(dist), abs=1e-3)  # CSV keeps 9 decimals
    assert m["within_25m"] == 1.0
    assert report["random_ranking"] == {"top_1": 0.25, "top_1pct": 0.25, "median_rank": 2.5}
    rows = list(csv.DictReader(open(folder / "rep" / "queries.csv")))
    assert [r["rank_combined"] for r in rows] == ["1", "2", "2", "4", ""]
    assert [r["best_tile"] for r in rows[:4]] == [str(b) for b in BEST]
    assert (folder / "rep" / "cdf.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert json.loads((folder / "rep" / "metrics.json").read_text())["metrics"]["m"]["top_1"] == 0.25


def test_split_cli_and_refusals(case, capsys) -> None:
    folder, _ = case
    args = ["evaluate", "--index", str(folder / "idx"), "--photos", str(folder / "pairs.csv"),
            "--labels", str(folder / "labels.npz"), "--split", "test", "-o", str(folder / "rep")]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "3 photos ranked among 4 tiles (1 outside the area)" in out
    report = json.loads((folder / "rep" / "metrics.json").read_text())
    assert report["metrics"]["m"]["mean_rank"] == pytest.approx(7 / 3)  # ranks 1, 2, 4
    assert main(args) == 2
    assert "already exists; pass --overwrite" in capsys.readouterr().err
    assert main([*args, "--overwrite", "--split", "val"]) == 2
    assert "has no photo of split 'val'" in capsys.readouterr().err
    with pytest.raises(LabelFileError, match="--labels FILE, or --teachers SPEC"):
        evaluate(EvaluateParams(str(folder / "idx"), str(folder / "pairs.csv"), str(folder / "r2")))
