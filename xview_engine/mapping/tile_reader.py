"""The tile reader: strips of tiles read in a background thread, cut, filtered and normalised into batches.

A ``TileReader`` thread walks the grid row by row, reads each row of tiles with *one* source read
(longer rows in a few chunks, so memory does not grow with raster width; several rows in one read
where the source's codes are exact, ``RasterioSource.exact_codes``: with half-tile strides every
pixel row is in two grid rows), cuts the tiles, drops those with more than half no-data or outside
the mask, normalises them as the manifest says and packs them into batches. A source with
``read_window_codes`` (byte rasters) is read as uint8 and normalised by one table lookup per band
(the source's scaling and the manifest's mean/std folded into 256 float32 values), once per strip
into a reused buffer; the kept tiles of a strip are then copied as slices of a strided view of it
(one pass per run of neighbouring tiles), not one by one and not through a contiguous copy of the
view, into batch arrays handed back after the run (``recycle``). Up to ``QUEUE_BYTES`` of batches
wait read ahead; ``mapping.batches.predict_rows`` takes them. Readers side by side (a light model's
streams) share one queue and the rows still to read (``RowBlocks``), each on a twin of the source,
and run the model on their own batches (``runner``): they send each row's answers whole (``RowAnswers``).
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import queue
import sys
import threading
from typing import Callable, Optional

import numpy as np

from xview_engine.mapping.reader_items import Batch, RowAnswers, RowBlocks, RowDone, Span, TileFilter, scatter
from xview_engine.raster.grid import TileGrid
from xview_engine.raster.source import RasterSource

MIN_VALID_FRACTION = 0.5
STRIP_PIXELS = 2_000_000  # pixels per band in one strip read, at most (longer rows: a few reads)
READER_NICE = 10  # the reader's nice value beside a multi-threaded model pool
QUEUE_BYTES = 32 * 2**20  # batches read ahead, at most (at least 2): small tiles ride out a strip's read
MMAP_THRESHOLD = 4 * 2**20  # glibc: allocations this large are mapped, and unmapped when freed


class TileReader(threading.Thread):
    """Background producer of ``Batch`` and ``RowDone`` items, or with ``runner`` of ``RowAnswers`` (and a
    final None, or the exception); the items are ``mapping.reader_items``'."""

    def __init__(self, source: RasterSource, grid: TileGrid, mean: tuple[float, ...], std: tuple[float, ...],
                 batch_size: int, tile_filter: Optional[TileFilter] = None, queue_size: Optional[int] = None,
                 span: Optional[Span] = None, yields: bool = False,
                 runner: Optional[Callable[[np.ndarray], dict[str, np.ndarray]]] = None,
                 share: Optional[TileReader] = None, max_rows_per_read: Optional[int] = None):
        """``runner``: run the model on each batch here, in this thread, and send each row's answers whole
        (``RowAnswers``) instead of batches and ``RowDone``.
        ``share``: another reader whose queue, rows and spare batches this one shares (readers side by side,
        on twin sources).
        ``max_rows_per_read``: smaller blocks, so that readers side by side end together.
        """
        super().__init__(name="xview-tile-reader", daemon=True)
        self.yields = yields  # run at a lower priority: the model's thread pool goes first (``predict_rows``)
        self.runner = runner
        self.source, self.grid, self.batch_size, self.tile_filter = source, grid, batch_size, tile_filter
        self.span = span or (0, grid.rows, 0, grid.cols)
        self.mean = np.asarray(mean, np.float32)[:, None, None]
        self.std = np.asarray(std, np.float32)[:, None, None]
        self.table = _normalised_table(source, self.mean[:, :, 0], self.std[:, :, 0])
        if queue_size is None:
            batch_bytes = batch_size * len(self.mean) * grid.tile_px ** 2 * 4
            queue_size = int(np.clip(QUEUE_BYTES // batch_bytes, 2, 64))
        self.queue: queue.Queue = share.queue if share is not None else queue.Queue(maxsize=queue_size)
        self.stopped = threading.Event()
        self._filter_lock = share._filter_lock if share is not None else threading.Lock()
        self._tiles: Optional[np.ndarray] = None  # the batch being filled, (batch_size, C, H, W)
        # batches the model is done with (``recycle``), shared by readers side by side
        self._spare: queue.SimpleQueue = share._spare if share is not None else queue.SimpleQueue()
        self._where: list[tuple[int, np.ndarray]] = []  # (row, columns) of the tiles in it, run by run
        self._filled = 0  # tiles in it
        # with ``runner``: the answers of this reader's rows, each sent whole once all its tiles have one
        self._answers: dict[int, dict[str, np.ndarray]] = {}
        self._answered: dict[int, int] = {}  # row -> tiles answered
        self._expected: dict[int, int] = {}  # row (read) -> tiles sent to the model
        self._strip: Optional[np.ndarray] = None  # byte strips looked up into this float32 buffer, reused
        span = max(1, (STRIP_PIXELS // grid.tile_px - grid.tile_px) // grid.stride_px + 1)
        self.chunk_tiles = min(span, 1024)
        self.rows_per_read = min(_rows_per_read(source, grid, self.span, self.table is not None),
                                 max_rows_per_read or grid.rows)
        self.blocks = share.blocks if share is not None else RowBlocks(*self.span[:2], self.rows_per_read)

    def sibling(self, source: RasterSource) -> TileReader:
        """A reader like this one on another source (a twin of its own), sharing its queue and rows."""
        return TileReader(source, self.grid, tuple(self.mean.ravel()), tuple(self.std.ravel()), self.batch_size,
                          self.tile_filter, span=self.span, yields=self.yields, runner=self.runner, share=self)

    def start(self) -> None:
        _map_large_allocations()
        super().start()

    def run(self) -> None:
        if self.yields:
            _lower_this_threads_priority()
        try:
            while (rows := self.blocks.take()) is not None:
                for r, sent in zip(rows, self._read_rows(rows)):
                    if self.runner is None:
                        self._put(RowDone(r, sent))
                    else:
                        self._expected[r] = sent
                self._send_answered_rows()
            self._flush()
            self._send_answered_rows()
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

    def _wanted(self, row: int) -> np.ndarray:
        xs, y = self.grid.centres(row)
        if self.tile_filter is None:
            wanted = np.ones(self.grid.cols, bool)
        else:
            with self._filter_lock:  # a prepared GEOS geometry builds its index lazily: one reader at a time
                wanted = self.tile_filter(xs, y)
        wanted[:self.span[2]] = wanted[self.span[3]:] = False  # a block of columns (mapping.cluster)
        return wanted

    def _read_rows(self, rows: range) -> list[int]:
        """Tiles sent per row of ``rows``: one source read for them all where its bytes are exact, else row by row.

        With half-tile strides each pixel row is in two grid rows: one read of several rows decodes
        and looks up every pixel once instead of twice. Only where a window's codes are the raster's
        bytes whatever the window (``exact_codes``): elsewhere GDAL's resampler sees the window's edges.
        """
        wanted = [self._wanted(row) for row in rows]
        if len(rows) > 1:
            sent = self._read_block(rows, wanted)
            if sent is not None:
                return sent
        return [self._read_row(row, w) for row, w in zip(rows, wanted)]

    def _read_block(self, rows: range, wanted: list[np.ndarray]) -> Optional[list[int]]:
        """``_read_rows`` by one codes read, or None when the window has no native codes."""
        columns = np.flatnonzero(np.logical_or.reduce(wanted))
        if columns.size == 0:
            return [0] * len(rows)
        col0, col1 = int(columns[0]), int(columns[-1]) + 1
        read = self.source.read_window_codes(*self.grid.block(rows.start, rows.stop, col0, col1))  # type: ignore
        if read is None:
            return None
        codes, valid = read
        t, s = self.grid.tile_px, self.grid.stride_px
        keeps = [self._kept(w[col0:col1], None if valid is None else valid[i * s:i * s + t])
                 for i, w in enumerate(wanted)]
        if any(keep.size for keep in keeps):
            pixels = self._look_up(codes)
            if valid is not None and not valid.all():
                pixels[:, ~valid] = 0.0  # no-data reads as the mean colour, not as black
            for i, (row, keep) in enumerate(zip(rows, keeps)):
                if keep.size:
                    self._add(_tiles_view(pixels[:, i * s:i * s + t], t, s, col1 - col0), keep, row, col0)
        return [int(keep.size) for keep in keeps]

    def _read_row(self, row: int, wanted: np.ndarray) -> int:
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
        keep = self._kept(wanted, valid)
        if keep.size == 0:
            return 0
        if read is None:
            pixels -= self.mean
            pixels /= self.std
        else:
            pixels = self._look_up(pixels)
        if valid is not None and not valid.all():
            pixels[:, ~valid] = 0.0  # no-data reads as the mean colour, not as black
        self._add(_tiles_view(pixels, self.grid.tile_px, self.grid.stride_px, col1 - col0), keep, row, col0)
        return int(keep.size)

    def _kept(self, wanted: np.ndarray, valid: Optional[np.ndarray]) -> np.ndarray:
        """Columns (of a strip's tiles) wanted and, with a mask, at least ``MIN_VALID_FRACTION`` valid."""
        if valid is None:  # a source without nodata, wholly inside: every tile is whole
            return np.flatnonzero(wanted)
        t, s = self.grid.tile_px, self.grid.stride_px
        offsets = np.arange(wanted.size) * s
        column_counts = np.concatenate([[0], np.cumsum(valid.sum(axis=0))])
        fraction = (column_counts[offsets + t] - column_counts[offsets]) / (t * t)
        return np.flatnonzero(wanted & (fraction >= MIN_VALID_FRACTION))

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
                self._tiles = self._new_batch(tiles.shape[1:])
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

    def recycle(self, tiles: np.ndarray) -> None:
        """Hand back a full batch's array once the model has run on it: the next batch is copied into it.

        Fresh arrays for every batch cost a page fault per 4 kB on first touch (glibc gives freed
        blocks back to the kernel); on the shipped 48 px model that was half of the reader's copy time.
        """
        if len(tiles) == self.batch_size:
            self._spare.put(tiles)

    def _new_batch(self, tile_shape: tuple[int, ...]) -> np.ndarray:
        with contextlib.suppress(queue.Empty):
            while True:
                spare = self._spare.get_nowait()
                if spare.shape[1:] == tile_shape:
                    return spare
        return np.empty((self.batch_size, *tile_shape), np.float32)

    def _flush(self) -> None:
        if self._tiles is None or not self._filled:
            return
        n = self._filled
        rows = np.concatenate([np.full(cols.size, r) for r, cols in self._where])
        cols = np.concatenate([cols for _, cols in self._where])
        tiles = self._tiles if n == self.batch_size else self._tiles[:n].copy()
        self._tiles, self._where, self._filled = None, [], 0
        if self.runner is None:
            self._put(Batch(tiles, rows, cols))
            return
        outputs = self.runner(tiles)
        self.recycle(tiles)
        scatter(outputs, rows, cols, self._answers, self._answered, self.grid.cols)
        self._send_answered_rows()

    def _send_answered_rows(self) -> None:
        """The rows (of this reader's blocks, all read) whose every tile sent has its answer, as ``RowAnswers``."""
        for row in [r for r, sent in self._expected.items() if self._answered.get(r, 0) == sent]:
            self._answered.pop(row, None)
            self._put(RowAnswers(row, self._answers.pop(row, {}), self._expected.pop(row)))


def _lower_this_threads_priority() -> None:
    """Nice the calling thread (Linux: a thread's own nice value) by ``READER_NICE``.

    A model's intra-op pool waits at every operator for its slowest thread; the reader, taking a
    core from one of them for a few ms, held up both. Niced, it runs in the gaps the pool leaves
    (its threads sleep between operators and batches): ResNet-18 on two cores mapped 45-46 tiles/s
    against 40-42 at the same priority, in alternating runs.
    """
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            tid = threading.get_native_id()
            os.setpriority(os.PRIO_PROCESS, tid, min(19, os.getpriority(os.PRIO_PROCESS, tid) + READER_NICE))


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


def _rows_per_read(source: RasterSource, grid: TileGrid, span: Span, codes: bool) -> int:
    """Grid rows per source read: as many as ``STRIP_PIXELS`` hold where codes are exact, else one."""
    if not (codes and getattr(source, "exact_codes", False)) or grid.stride_px >= grid.tile_px:
        return 1
    cols = span[3] - span[2]
    width = (cols - 1) * grid.stride_px + grid.tile_px
    return max(1, (STRIP_PIXELS // width - grid.tile_px) // grid.stride_px + 1)


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
