"""Blocks: the grid cut into tasks, and the file each finished block is kept in.

A block is a rectangle of tiles: whole rows of the grid (``rows_per_block`` x all columns, about
``block_tiles`` tiles), or, when one row alone has more tiles than that (a very wide raster), one
row cut into column ranges. Blocks are numbered in row-major order, which is the order every
reduction over them follows, so a run's result does not depend on which block finished first.

A block's file (``block-NNNNNN.npz``, plain ``.npz`` read without pickle) holds, per head of the
model, the (rows, cols, K) float32 parameters (NaN where a tile did not run), each row's class
value sums (float64, K) and counts of tiles run (what the map's default classes need: the map's
means are these sums reduced, never the parameters read twice), and the key of the run it belongs
to. It is written to a temporary name and renamed (``outputs.atomic_output``): a block is in the
folder complete or not at all, so it is never half-counted; written twice (a retried task), the
second rename replaces identical bytes.
"""

from __future__ import annotations

import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import numpy as np

from xview_engine.mapping.products import class_values
from xview_engine.model.manifest import Manifest
from xview_engine.outputs import atomic_output
from xview_engine.raster.grid import TileGrid

Rows = Iterator[tuple[int, "dict[str, np.ndarray]"]]  # (row, {head: (cols, K)}) as predict_rows yields


@dataclass(frozen=True)
class Block:
    """Tiles ``row0:row1`` x ``col0:col1`` of the grid, number ``index`` in row-major order."""

    index: int
    row0: int
    row1: int
    col0: int
    col1: int

    @property
    def span(self) -> tuple[int, int, int, int]:
        return self.row0, self.row1, self.col0, self.col1

    @property
    def count(self) -> int:
        return (self.row1 - self.row0) * (self.col1 - self.col0)

    @property
    def file_name(self) -> str:
        return f"block-{self.index:06d}.npz"


def layout(grid: TileGrid, block_tiles: int) -> tuple[Block, ...]:
    """The grid's blocks of about ``block_tiles`` tiles: whole rows, or column ranges of one row when wider."""
    width = min(grid.cols, max(1, block_tiles))
    rows_per_block = max(1, block_tiles // width)
    blocks = []
    for row0 in range(0, grid.rows, rows_per_block):
        row1 = min(row0 + rows_per_block, grid.rows)
        for col0 in range(0, grid.cols, width):
            blocks.append(Block(len(blocks), row0, row1, col0, min(col0 + width, grid.cols)))
    return tuple(blocks)


def collect_block(manifest: Manifest, block: Block, rows: Rows) -> dict[str, np.ndarray]:
    """The arrays of a block's file from ``predict_rows`` over its span: every output the model gives.

    Outputs are what the runtime returns (a manifest's heads, or a method's own arrays such as an
    embedding); the class value sums are kept for the manifest's heads, the ones a map can show.
    """
    n_rows, n_cols = block.row1 - block.row0, block.col1 - block.col0
    heads = {head.name: head for head in manifest.heads}
    arrays: dict[str, np.ndarray] = {}
    for head in manifest.heads:
        arrays[f"sums.{head.name}"] = np.zeros((n_rows, head.num_classes), np.float64)
        arrays[f"runs.{head.name}"] = np.zeros(n_rows, np.int64)
    for row, outputs in rows:
        at = row - block.row0
        for name, full_row in outputs.items():
            values = full_row[block.col0:block.col1]
            if f"params.{name}" not in arrays:
                arrays[f"params.{name}"] = np.full((n_rows, n_cols, values.shape[1]), np.nan, np.float32)
            arrays[f"params.{name}"][at] = values
            valid = ~np.isnan(values).any(axis=1)
            if name in heads and valid.any():  # as mapping.map sums a row: its valid tiles' class values, float64
                per_time = values[valid].reshape(-1, heads[name].num_params)  # S times side by side: all summed
                arrays[f"sums.{name}"][at] = class_values(heads[name], per_time).sum(0, dtype=np.float64)
                arrays[f"runs.{name}"][at] = int(valid.sum())
    return arrays


def write_block(folder: Path, block: Block, key: str, arrays: dict[str, np.ndarray]) -> Path:
    """Write a block's file atomically (temporary name, then rename) with the run's key inside."""
    target = folder / block.file_name
    with atomic_output(target) as tmp:
        with open(tmp, "wb") as fh:
            np.savez(fh, key=np.frombuffer(key.encode("ascii"), np.uint8), **arrays)
    return target


def block_ok(folder: Path, block: Block, key: str) -> bool:
    """Whether the block's file is there, of this run (its key) and whole: every array read back, of its shape."""
    n_rows, n_cols = block.row1 - block.row0, block.col1 - block.col0
    try:
        with np.load(folder / block.file_name, allow_pickle=False) as data:
            if bytes(data["key"]).decode("ascii") != key:
                return False
            for name in data.files:  # reading each member checks its CRC: a torn file fails here
                array = data[name]
                if name.startswith("params.") and array.shape[:2] != (n_rows, n_cols):
                    return False
            return True
    except (OSError, KeyError, ValueError, UnicodeDecodeError, zipfile.BadZipFile, EOFError):
        return False


class BlockSet:
    """The finished blocks of a run, read back in grid order: rows, one head's rows as bytes, class sums."""

    def __init__(self, folder: Path, grid: TileGrid, blocks: tuple[Block, ...], manifest: Manifest):
        self.folder, self.grid, self.blocks, self.manifest = folder, grid, blocks, manifest

    def rows(self, names: Optional[tuple[str, ...]] = None) -> Rows:
        """``(row, {output: (cols, D)})`` for every grid row in order, as ``predict_rows`` yields them.

        A row where no tile ran is ``{}``, as there; ``names`` limits the outputs read.
        """
        by_band: dict[int, list[Block]] = {}
        for block in self.blocks:
            by_band.setdefault(block.row0, []).append(block)
        for row0, band in sorted(by_band.items()):
            band.sort(key=lambda b: b.col0)
            parts = [self._params(block, names) for block in band]
            widths = {name: part[name].shape[2] for part in parts for name in part}
            for at in range(band[0].row1 - row0):
                row = {name: np.concatenate([part[name][at] if name in part else
                                             np.full((b.col1 - b.col0, width), np.nan, np.float32)
                                             for part, b in zip(parts, band)]) for name, width in widths.items()}
                ran = any(not np.isnan(values).all() for values in row.values())
                yield row0 + at, row if ran else {}

    def class_sums(self, head: str) -> tuple[np.ndarray, int]:
        """(K,) float64 class value sums over the map, row after row in grid order, and the tiles run."""
        sums = np.zeros(self.manifest.head(head).num_classes, np.float64)
        runs = 0
        for block in self.blocks:
            with np.load(self.folder / block.file_name, allow_pickle=False) as data:
                if f"sums.{head}" not in data.files:
                    continue
                row_sums, row_runs = data[f"sums.{head}"], data[f"runs.{head}"]
            for at in range(row_sums.shape[0]):
                if row_runs[at]:
                    sums += row_sums[at]
                    runs += int(row_runs[at])
        return sums, runs

    def store(self, head: str, steps: int = 1) -> RowStore:
        """One head's rows as the byte stream ``mapping.map`` parks a single-process run's rows in (``steps`` times)."""
        return RowStore(self, head, steps)

    def _params(self, block: Block, names: Optional[tuple[str, ...]]) -> dict[str, np.ndarray]:
        with np.load(self.folder / block.file_name, allow_pickle=False) as data:
            stored = [n.removeprefix("params.") for n in data.files if n.startswith("params.")]
            return {name: data[f"params.{name}"] for name in stored if names is None or name in names}


class RowStore:
    """A read-only file-like view (``seek(0)``, ``read(row_bytes)``) of one head's rows, in grid order.

    ``mapping.map`` writes its products from the temporary file a single-process run parks each row
    of (cols, K) float32 in; the cluster run hands it the block files through this view instead, so
    both write their products with the same code and no copy of the parameters is made.
    """

    def __init__(self, blocks: BlockSet, head: str, steps: int = 1):
        self.blocks, self.head, self.steps = blocks, head, steps
        self._rows: Optional[Rows] = None

    def seek(self, offset: int) -> int:
        if offset != 0:
            raise ValueError("a RowStore is read from the start only")
        self._rows = self.blocks.rows((self.head,))
        return 0

    def read(self, size: int) -> bytes:
        if self._rows is None:
            self.seek(0)
        _, outputs = next(self._rows)  # type: ignore[arg-type]
        cols, width = self.blocks.grid.cols, self.blocks.manifest.head(self.head).num_params * self.steps
        values = outputs.get(self.head, np.full((cols, width), np.nan, np.float32))
        data = np.ascontiguousarray(values, np.float32).tobytes()
        if len(data) != size:
            raise ValueError(f"a row of head {self.head} is {len(data)} bytes, not {size}")
        return data
