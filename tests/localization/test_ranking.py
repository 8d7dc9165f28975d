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
