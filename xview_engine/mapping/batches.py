"""Batches and model runs: strips of tiles read in a background thread, the model kept fed.

A ``TileReader`` thread walks the grid row by row, reads each row of tiles with *one* source read
(longer rows in a few chunks, so memory does not grow with raster width), cuts the tiles, drops
those with more than half no-data or outside the mask, normalises them as the manifest says and
packs them into batches. A source with ``read_window_codes`` (byte rasters) is read as uint8 and
normalised by one table lookup per band (the source's scaling and the manifest's mean/std folded
into 256 float32 values), once per strip into a reused buffer; the kept tiles of a strip are then
copied as slices of a strided view of it (one pass per run of neighbouring tiles), not one by one
and not through a contiguous copy of the view. The caller's
thread runs the model (torch or onnxruntime, ``model.device.thread_budget`` threads) on each batch
while the next strip is being read; GDAL, numpy's gathers and the runtimes release the GIL. ``predict_rows`` puts the
answers back in grid order and yields one row at a time, so memory stays flat however large the
raster is.
"""

from __future__ import annotations

import contextlib
import ctypes
import queue
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Callable, Optional

import numpy as np

from xview_engine.progress import CancelCheck, ProgressCallback, check_cancel
from xview_engine.raster.grid import TileGrid
from xview_engine.raster.source import RasterSource

Runner = Callable[[np.ndarray], "dict[str, np.ndarray]"]  # (B, C, H, W) float32 -> {head: (B, K)}
TileFilter = Callable[[np.ndarray, float], np.ndarray]  # tile centre xs, row y -> bool wanted
Span = tuple[int, int, int, int]  # rows row0:row1 x columns col0:col1 of the grid (a cluster block)
MIN_VALID_FRACTION = 0.5
STRIP_PIXELS = 2_000_000  # pixels per band in one strip read, at most (longer rows: a few reads)
MMAP_THRESHOLD = 4 * 2**20  # glibc: allocations this large are mapped, and unmapped when freed


@dataclass
class Batch:
    tiles: np.ndarray  # (n, C, H, W) float32, normalised
    rows: np.ndarray
    cols: np.ndarray


@dataclass
class RowDone:
    row: int
    sent: int  # tiles of this row handed to the model


class TileReader(threading.Thread):
    """Background producer of ``Batch`` and ``RowDone`` items (and a final None, or the exception)."""

    def __init__(self, source: RasterSource, grid: TileGrid, mean: tuple[float, ...], std: tuple[float, ...],
                 batch_size: int, tile_filter: Optional[TileFilter] = None, queue_size: int = 2,
                 span: Optional[Span] = None):
        super().__init__(name="xview-tile-reader", daemon=True)
        self.source, self.grid, self.batch_size, self.tile_filter = source, grid, batch_size, tile_filter
        self.span = span or (0, grid.rows, 0, grid.cols)
        self.mean = np.asarray(mean, np.float32)[:, None, None]
        self.std = np.asarray(std, np.float32)[:, None, None]
        self.table = _normalised_table(source, self.mean[:, :, 0], self.std[:, :, 0])
        self.queue: queue.Queue = queue.Queue(maxsize=queue_size)
        self.stopped = threading.Event()
        self._tiles: Optional[np.ndarray] = None  # the batch being filled, (batch_size, C, H, W)
        self._where: list[tuple[int, np.ndarray]] = []  # (row, columns) of the tiles in it, run by run
        self._filled = 0  # tiles in it
        self._strip: Optional[np.ndarray] = None  # byte strips looked up into this float32 buffer, reused
        span = max(1, (STRIP_PIXELS // grid.tile_px - grid.tile_px) // grid.stride_px + 1)
        self.chunk_tiles = min(span, 1024)

    def start(self) -> None:
        _map_large_allocations()
        super().start()

    def run(self) -> None:
        try:
            for row in range(self.span[0], self.span[1]):
                self._put(RowDone(row, self._read_row(row)))
            self._flush()
            self._put(None)
        except _Stopped:
            return
        except BaseException as exc:  # handed to the consumer, which re-raises it in its thread
            with contextlib.suppress(_Stopped):
                self._put(exc)

    def stop(self) -> None:
        self.stopped.set()

    def _put(self, item: object) -> None:
        while not self.stopped.is_set():
            try:
                self.queue.put(item, timeout=0.1)
                return
            except queue.Full:
                continue
        raise _Stopped

    def _read_row(self, row: int) -> int:
        xs, y = self.grid.centres(row)
        wanted = np.ones(self.grid.cols, bool) if self.tile_filter is None else self.tile_filter(xs, y)
        wanted[:self.span[2]] = wanted[self.span[3]:] = False  # a block of columns (mapping.cluster)
        if not wanted.any():
            return 0
        first, last = np.flatnonzero(wanted)[[0, -1]]
        sent = 0
        for col0 in range(first, last + 1, self.chunk_tiles):
            col1 = min(col0 + self.chunk_tiles, last + 1)
            sent += self._read_chunk(row, col0, col1, wanted[col0:col1])
        return sent

    def _read_chunk(self, row: int, col0: int, col1: int, wanted: np.ndarray) -> int:
        bounds, shape = self.grid.strip(row, col0, col1)
        read = self.source.read_window_codes(bounds, shape) if self.table is not None else None  # type: ignore
        pixels, valid = read if read is not None else self.source.read_window(bounds, shape)
        t, s = self.grid.tile_px, self.grid.stride_px
        offsets = np.arange(col1 - col0) * s
        if valid is None:  # a source without nodata, wholly inside: every tile is whole
            keep = np.flatnonzero(wanted)
        else:
            column_counts = np.concatenate([[0], np.cumsum(valid.sum(axis=0))])
            fraction = (column_counts[offsets + t] - column_counts[offsets]) / (t * t)
            keep = np.flatnonzero(wanted & (fraction >= MIN_VALID_FRACTION))
        if keep.size == 0:
            return 0
        if read is None:
            pixels -= self.mean
            pixels /= self.std
        else:
            pixels = self._look_up(pixels)
        if valid is not None and not valid.all():
            pixels[:, ~valid] = 0.0  # no-data reads as the mean colour, not as black
        self._add(_tiles_view(pixels, t, s, col1 - col0), keep, row, col0)
        return int(keep.size)

    def _look_up(self, codes: np.ndarray) -> np.ndarray:
        """Byte codes (C, H, W) -> normalised float32, one table lookup per band into a reused strip buffer.

        The strip is looked up once, not tile by tile: with half-tile strides every pixel is in two
        tiles of a strip, and a lookup (numpy widens the byte indices) costs more than the tile copy.
        """
        if self._strip is None or self._strip.shape[1:] != codes.shape[1:]:
            self._strip = np.empty(codes.shape, np.float32)
        for band, table in enumerate(self.table):  # type: ignore[arg-type]
            np.take(table, codes[band], out=self._strip[band], mode="clip")
        return self._strip

    def _add(self, tiles: np.ndarray, keep: np.ndarray, row: int, col0: int) -> None:
        """Copy the kept tiles (normalised float32) into batches now, so no strip waits for its batch to fill.

        Runs of neighbouring kept tiles (usually the whole strip) are copied as slices of the strided
        view, in one pass; ``np.take`` on that view would first make a contiguous copy of all of it.
        """
        done = 0
        while done < keep.size:
            if self._tiles is None:
                self._tiles = np.empty((self.batch_size, *tiles.shape[1:]), np.float32)
            filled = self._filled
            take = keep[done:done + self.batch_size - filled]
            dest = self._tiles[filled:filled + take.size]
            breaks = np.flatnonzero(np.diff(take) != 1) + 1
            for run, at in zip(np.split(take, breaks), np.concatenate([[0], breaks])):
                np.copyto(dest[at:at + run.size], tiles[run[0]:run[-1] + 1])
            self._where.append((row, col0 + take))
            self._filled += take.size
            done += take.size
            if self._filled == self.batch_size:
                self._flush()

    def _flush(self) -> None:
        if self._tiles is None or not self._filled:
            return
        n = self._filled
        rows = np.concatenate([np.full(cols.size, r) for r, cols in self._where])
        cols = np.concatenate([cols for _, cols in self._where])
        tiles = self._tiles if n == self.batch_size else self._tiles[:n].copy()
        self._tiles, self._where, self._filled = None, [], 0
        self._put(Batch(tiles, rows, cols))


def _map_large_allocations() -> None:
    """Have glibc serve strips and batches (MBs each, one per row or batch) by mmap, freed back at once.

    By default glibc raises its mmap threshold to the size of the largest block freed (up to 32 MB),
    so after the first strip every strip and batch came from the heap arenas of the reader and the
    model threads, which fragment and keep their pages: resident memory crept up over a run, the
    longer the raster the more. A fixed threshold (process-wide, harmless elsewhere) keeps it flat.
    """
    if not sys.platform.startswith("linux"):
        return
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").mallopt(-3, MMAP_THRESHOLD)  # -3: M_MMAP_THRESHOLD


def _normalised_table(source: RasterSource, mean: np.ndarray, std: np.ndarray) -> Optional[np.ndarray]:
    """(C, 256) float32 of normalised values per byte code, or None when the source has no byte reads."""
    table_of = getattr(source, "code_table", None)
    table = table_of() if table_of is not None and hasattr(source, "read_window_codes") else None
    if table is None:
        return None
    table -= mean  # the same float32 operations, in the same order, as on a float strip
    table /= std
    return table


def _tiles_view(strip: np.ndarray, tile_px: int, stride_px: int, n: int) -> np.ndarray:
    """(n, C, t, t) read-only view of a (C, t, W) strip: tile ``i`` is columns ``i * stride`` + [0, t)."""
    sc, sh, sw = strip.strides
    return np.lib.stride_tricks.as_strided(strip, (n, strip.shape[0], tile_px, tile_px),
                                           (stride_px * sw, sc, sh, sw), writeable=False)


class _Stopped(Exception):
    """The consumer went away; the reader ends quietly."""


def predict_rows(source: RasterSource, grid: TileGrid, runner: Runner, mean: tuple[float, ...],
                 std: tuple[float, ...], batch_size: int, tile_filter: Optional[TileFilter] = None,
                 progress: Optional[ProgressCallback] = None, cancel: Optional[CancelCheck] = None,
                 span: Optional[Span] = None) -> Iterator[tuple[int, dict[str, np.ndarray]]]:
    """Yield ``(row, {head: (cols, K) parameters})`` in row order; NaN where a tile was not run.

    ``span`` limits the run to a block of the grid (rows still come back ``grid.cols`` wide).
    """
    row0, row1, col0, col1 = span or (0, grid.rows, 0, grid.cols)
    reader = TileReader(source, grid, mean, std, batch_size, tile_filter, span=span)
    rows: dict[int, dict[str, np.ndarray]] = {}
    done_per_row: dict[int, int] = {}
    sent_per_row: dict[int, int] = {}
    next_row, done = row0, 0
    reader.start()
    try:
        while next_row < row1:
            check_cancel(cancel)
            item = reader.queue.get()
            if isinstance(item, BaseException):
                raise item
            if isinstance(item, Batch):
                _scatter(runner(item.tiles), item, rows, done_per_row, grid.cols)
                done += len(item.rows)
            elif isinstance(item, RowDone):
                sent_per_row[item.row] = item.sent
                done += col1 - col0 - item.sent
            while next_row in sent_per_row and done_per_row.get(next_row, 0) == sent_per_row[next_row]:
                sent_per_row.pop(next_row)
                done_per_row.pop(next_row, None)
                yield next_row, rows.pop(next_row, {})
                next_row += 1
            if progress is not None:
                progress(done, (row1 - row0) * (col1 - col0))
    finally:
        reader.stop()
        reader.join()


def _scatter(out: dict[str, np.ndarray], batch: Batch, rows: dict[int, dict[str, np.ndarray]],
             done_per_row: dict[int, int], cols: int) -> None:
    """Each head's (n, K) answers into their grid rows: one assignment per row of the batch (one or two)."""
    for r in np.unique(batch.rows):
        here = batch.rows == r
        target = rows.setdefault(int(r), {})
        for head, values in out.items():
            if head not in target:
                target[head] = np.full((cols, values.shape[1]), np.nan, np.float32)
            target[head][batch.cols[here]] = values[here]
        done_per_row[int(r)] = done_per_row.get(int(r), 0) + int(here.sum())
