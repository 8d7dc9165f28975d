"""Ranking shared by every method: best tiles with ties in tile order, the posterior over tiles."""

from __future__ import annotations

import numpy as np
import pytest

from xview_engine.localization import ranking


def test_best_tiles_ties_in_tile_order_and_posterior() -> None:
    scores = np.array([[0.1, 0.9, 0.5, 0.9, np.nan, 0.5]])
    assert ranking.best_tiles(scores, 3).tolist() == [[1, 3, 2]]
    assert ranking.best_tiles(scores, 10).tolist() == [[1, 3, 2, 5, 0, 4]]
    post = ranking.posterior(np.array([[0.0, np.log(3.0), np.nan, -1000.0]]))
    assert post.sum() == pytest.approx(1.0) and post[0, :2] == pytest.approx([0.25, 0.75]) and post[0, 2] == 0


def test_top_percent_floors_by_hand() -> None:
    scores = np.array([5.0, np.nan, 1.0, 9.0, 3.0, 7.0, 3.0, -np.inf, 2.0, 8.0, 4.0, 6.0])  # 10 finite
    # best first: 9 8 7 6 5 4 3 3 2 1 -> best 10 % = 1 tile, 25 % = ceil(2.5) = 3 tiles, 70 % = 7 tiles
    assert ranking.top_percent_floors(scores, [10, 25, 70, 100]) == [9.0, 7.0, 3.0, 1.0]
    assert ranking.top_percent_floors(scores, [0.01]) == [9.0]  # never fewer than one tile
    assert np.isnan(ranking.top_percent_floors(np.array([np.nan]), [5])[0])
    with pytest.raises(ranking.ScoringError, match="percent 0"):
        ranking.top_percent_floors(scores, [0])


def test_heatmap_class_breaks_split_the_best_tiles(tmp_path) -> None:
    import rasterio
    from rasterio.transform import from_origin

    from xview_engine.localization.heatmap import heatmap_class_breaks

    values = np.arange(200, dtype=np.float32).reshape(10, 20) - 150.0  # -150 .. 49, one value each
    values[0, 0] = np.nan
    with rasterio.open(tmp_path / "h.tif", "w", driver="GTiff", width=20, height=10, count=1, dtype="float32",
                       crs="EPSG:32633", transform=from_origin(0, 0, 1, 1), nodata=float("nan")) as ds:
        ds.write(values, 1)
    breaks = heatmap_class_breaks(tmp_path / "h.tif", (1, 5, 10))
    finite = values[np.isfinite(values)]  # 199 values: best 1 % = 2 tiles, 5 % = 10, 10 % = 20
    assert [int((finite > b).sum()) for b in breaks] == [2, 10, 20]
    assert breaks == sorted(breaks, reverse=True) and breaks[0] == 47.5  # halfway: no tile sits on a break
