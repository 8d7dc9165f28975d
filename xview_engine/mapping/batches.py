"""Model runs over the tile reader's batches: the model kept fed, the answers back in grid order.

``mapping.tile_reader.TileReader`` reads, cuts and normalises the tiles in a background thread. The
caller's thread runs the model (torch or onnxruntime, ``model.device.thread_budget`` threads) on
each batch while the next strip is being read; on a GPU several readers side by side feed it
(``model.device.reader_budget``), each on its own handle of the source (``RasterioSource.twin``),
taking blocks of rows in turn. A light model runs ``streams`` batches at once, one thread each
(``model.device.stream_budget``), in ``streams`` such readers, each running the model on its own
batches (a source without twins: one reader hands its batches to ``streams`` worker threads).
GDAL, numpy's gathers and the runtimes release the GIL. ``predict_rows`` puts the answers back in
grid order and yields one row at a time, so memory stays flat however large the raster is.
"""

from __future__ import annotations

import collections
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Callable, Optional

import numpy as np

from xview_engine.mapping.reader_items import Batch, RowAnswers, RowDone, Span, TileFilter, scatter
from xview_engine.mapping.tile_reader import TileReader
from xview_engine.progress import CancelCheck, ProgressCallback, check_cancel
from xview_engine.raster.grid import TileGrid
from xview_engine.raster.source import RasterSource

BLOCKS_PER_READER = 8  # readers side by side: the last block, read by one of them alone, is a small share
Runner = Callable[[np.ndarray], "dict[str, np.ndarray]"]  # (B, C, H, W) float32 -> {head: (B, K)}


def predict_rows(source: RasterSource, grid: TileGrid, runner: Runner, mean: tuple[float, ...],
                 std: tuple[float, ...], batch_size: int, tile_filter: Optional[TileFilter] = None,
                 progress: Optional[ProgressCallback] = None, cancel: Optional[CancelCheck] = None,
                 span: Optional[Span] = None, streams: int = 1, readers: int = 1,
                 reader_yields: bool = False) -> Iterator[tuple[int, dict[str, np.ndarray]]]:
    """Yield ``(row, {head: (cols, K) parameters})`` in row order; NaN where a tile was not run.

    ``span`` limits the run to a block of the grid (rows still come back ``grid.cols`` wide).
    ``runner`` must not keep or return views of the tiles it is given: their array is reused.
    ``streams`` > 1 runs that many batches at once, in as many readers or worker threads
    (``ModelRuntime.streams``; ``runner`` must then be thread-safe); answers still come back in row
    order. ``readers`` > 1: that many readers side by side feed the model here (a GPU's,
    ``ModelRuntime.readers``). ``reader_yields``: the reader runs niced, behind a model pool of
    several threads on the CPU (``ModelRuntime.reader_yields``).
    """
    row0, row1, col0, col1 = span or (0, grid.rows, 0, grid.cols)
    twins = hasattr(source, "twin")
    in_readers = streams > 1 and twins  # each reader runs the model on its own batches
    count = max(1, min(streams if in_readers else readers if twins else 1, row1 - row0))  # a reader has rows
    reading = _Readers(source, count, TileReader(
        source, grid, mean, std, batch_size, tile_filter, span=span, yields=reader_yields,
        runner=runner if in_readers else None,
        max_rows_per_read=-(-(row1 - row0) // (BLOCKS_PER_READER * count)) if count > 1 else None))
    runs = _ModelRuns(runner, 1 if in_readers else streams, reading.queue.maxsize > 2)
    rows: dict[int, dict[str, np.ndarray]] = {}
    done_per_row: dict[int, int] = {}
    sent_per_row: dict[int, int] = {}
    next_row, done = row0, 0
    try:
        reading.start()
        while next_row < row1:
            check_cancel(cancel)
            item = reading.queue.get()
            if isinstance(item, BaseException):
                raise item
            if isinstance(item, RowAnswers):  # a row whole, from a reader that ran the model itself
                rows[item.row], sent_per_row[item.row] = item.outputs, item.sent
                done_per_row[item.row] = item.sent
                done += col1 - col0
            finished = runs.submit(item) if isinstance(item, Batch) else runs.drain() if item is None else []
            for batch, out in finished:
                scatter(out, batch.rows, batch.cols, rows, done_per_row, grid.cols)
                done += len(batch.rows)
                reading.first.recycle(batch.tiles)
            if isinstance(item, RowDone):
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
        reading.stop()
        runs.close()


class _Readers:
    """The first reader and ``count - 1`` more on twins of the source, sharing its queue, rows and batches.

    A light model's streams run in the readers themselves: that beat one reader feeding a pool of
    model threads (three busy threads on two cores, every batch handed across): the shipped tiny
    CNN mapped 28 561 tiles on two idle cores in 1.03 s against 1.08-1.13 s (medians of seven
    alternating runs); with another process spinning on one core, 1.04x the time. Such readers send
    each row's answers whole (``RowAnswers``): 169 items instead of 1 062 for this thread to take,
    2-9 % less time again (five pairs of fresh processes). A GPU's model
    runs here, fed by several readers (one reads about 2 300 tiles of 224 px a second on a core).
    ``stop`` ends and joins every reader before it closes the twins: a raster closed under a
    reading thread crashes the process.
    """

    def __init__(self, source: RasterSource, count: int, first: TileReader):
        self.source, self.count, self.first = source, count, first
        self.queue = first.queue
        self.all: list[TileReader] = [first]
        self.twins: list[RasterSource] = []

    def start(self) -> None:
        for _ in range(self.count - 1):
            self.twins.append(self.source.twin())  # type: ignore[attr-defined]
            self.all.append(self.first.sibling(self.twins[-1]))
        for reader in self.all:
            reader.start()

    def stop(self) -> None:
        for reader in self.all:
            reader.stop()
        for reader in self.all:
            if reader.ident is not None:  # started (an interrupt can land inside ``start``)
                reader.join()
        for twin in self.twins:
            twin.close()  # type: ignore[attr-defined]


class _ModelRuns:
    """The model on each batch: here, or ``streams`` batches at once in worker threads, oldest answer first."""

    def __init__(self, runner: Runner, streams: int, small_batches: bool = True):
        self.runner = runner
        self.pool = ThreadPoolExecutor(streams, thread_name_prefix="xview-model") if streams > 1 else None
        # small batches (read ahead several, ``QUEUE_BYTES``): one more waits in the pool for each worker,
        # so none idles while answers are taken; large ones: no more in memory than the workers run
        self.limit = 2 * streams if small_batches else streams
        self.running: collections.deque = collections.deque()  # (batch, future), in submission order

    def submit(self, batch: Batch) -> list[tuple[Batch, dict[str, np.ndarray]]]:
        """Start ``batch``; the batches finished meanwhile (waiting for the oldest while all streams are busy)."""
        if self.pool is None:
            return [(batch, self.runner(batch.tiles))]
        self.running.append((batch, self.pool.submit(self.runner, batch.tiles)))
        finished = []
        while self.running and (len(self.running) > self.limit or self.running[0][1].done()):
            old, future = self.running.popleft()
            finished.append((old, future.result()))
        return finished

    def drain(self) -> list[tuple[Batch, dict[str, np.ndarray]]]:
        finished = [(batch, future.result()) for batch, future in self.running]
        self.running.clear()
        return finished

    def close(self) -> None:
        if self.pool is not None:
            self.pool.shutdown(wait=True, cancel_futures=True)
