"""What the tile readers hand over, and how answers find their grid rows: plain data shared by
``mapping.tile_reader`` (the reader threads) and ``mapping.batches`` (the model runs and the rows).

A reader sends batches of normalised tiles (``Batch``) and a ``RowDone`` per row read or, running
the model itself, each row's answers whole (``RowAnswers``); readers side by side take their rows from one
``RowBlocks``. ``scatter`` puts a batch's answers into their rows.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Callable, Optional

import numpy as np

TileFilter = Callable[[np.ndarray, float], np.ndarray]  # tile centre xs, row y -> bool wanted
Span = tuple[int, int, int, int]  # rows row0:row1 x columns col0:col1 of the grid (a cluster block)


@dataclass
class Batch:
    tiles: np.ndarray  # (n, C, H, W) float32, normalised
    rows: np.ndarray
    cols: np.ndarray


@dataclass
class RowAnswers:
    """A whole grid row's answers, put together by the reader that read it and ran the model on it."""

    row: int
    outputs: dict[str, np.ndarray]  # {head: (cols, K)}, NaN where no tile was run
    sent: int  # tiles of the row the model ran on


class RowBlocks:
    """The grid rows still to read, handed out a read's worth at a time to the readers that share them.

    Readers side by side (``runner``) take the next block as each finishes one, so rows finish
    nearly in order and the answers waiting for an earlier row stay a few blocks' worth.
    """

    def __init__(self, start: int, stop: int, step: int):
        self.next, self.stop, self.step = start, stop, step
        self.lock = threading.Lock()

    def take(self) -> Optional[range]:
        with self.lock:
            if self.next >= self.stop:
                return None
            rows = range(self.next, min(self.next + self.step, self.stop))
            self.next = rows.stop
            return rows


@dataclass
class RowDone:
    row: int
    sent: int  # tiles of this row handed to the model


def scatter(out: dict[str, np.ndarray], tile_rows: np.ndarray, tile_cols: np.ndarray,
            rows: dict[int, dict[str, np.ndarray]], done_per_row: dict[int, int], cols: int) -> None:
    """Each head's (n, K) answers, of the tiles at ``tile_rows``, ``tile_cols``, into their grid rows: one
    assignment per run of a row in the batch (one or two)."""
    starts = np.concatenate([[0], np.flatnonzero(tile_rows[1:] != tile_rows[:-1]) + 1, [len(tile_rows)]])
    for a, b in zip(starts[:-1].tolist(), starts[1:].tolist()):
        r = int(tile_rows[a])
        target = rows.setdefault(r, {})
        for head, values in out.items():
            if head not in target:
                target[head] = np.full((cols, values.shape[1]), np.nan, np.float32)
            target[head][tile_cols[a:b]] = values[a:b]
        done_per_row[r] = done_per_row.get(r, 0) + (b - a)
