"""Reference index: every tile's predicted distributions, computed once, reused by every query.

An index is a folder of raw ``.npy`` arrays plus ``index.json``:

``index.json``   format, version, the method (the model's kind), the model manifest and file
                 identity, the raster identity (path, size, mtime, CRS, transform, hash of a few
                 pixel windows), the tile grid, the method's own entries and the valid-tile count
``tiles.npy``    bool (T,): tile ran (at least half valid pixels, inside the mask); T = rows x cols,
                 tile ``i`` is grid row ``i // cols``, column ``i % cols``
``xy.npy``       float64 (T, 2): tile centres in the grid CRS (the source CRS, or the UTM work CRS
                 of a geographic source)
``lonlat.npy``   float64 (T, 2): the same centres in WGS84 longitude/latitude
``NAME.npy``     the method's per-tile arrays (``LocalizationMethod.index_arrays``); for distillation
                 ``headN.weights.npy`` (T, K) float32 or float16 and ``headN.const.npy`` float64 (T,),
                 the linear form of head N's log-likelihood (``localization.likelihood``)

An index is scored only by the method that built it (``check_method``); one written before the
header named its method is distillation.

Arrays are opened memory-mapped, so a million-tile index loads in milliseconds and is paged in as
scoring walks it. The folder is written under a temporary name and renamed when complete. Loading
checks the format; ``check_index`` refuses an index whose raster changed since it was built (stale)
or that was built with another model than the one given (mismatched), each with what to do.
"""

from __future__ import annotations

import contextlib
import dataclasses
import errno
import functools
import json
import os
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

import numpy as np

from xview_engine import __version__
from xview_engine.cache import file_sha256
from xview_engine.errors import IndexFileError, OutputError
from xview_engine.localization.methods import ArraySpec, LocalizationMethod, MethodError, method_for
from xview_engine.model.manifest import Manifest
from xview_engine.outputs import part_prefix
from xview_engine.progress import CancelCheck, check_cancel
from xview_engine.raster.grid import TileGrid
from xview_engine.raster.identity import raster_identity

FORMAT = "xview-index"
VERSION = 1
HEADER = "index.json"
DTYPES = ("float32", "float16")


@dataclass
class TileIndex:
    """A loaded index; arrays are read-only memory maps."""

    path: Path
    header: dict[str, Any]
    manifest: Manifest
    grid: TileGrid
    valid: np.ndarray
    xy: np.ndarray
    lonlat: np.ndarray
    method: str
    arrays: dict[str, np.ndarray]

    @property
    def scorer(self) -> LocalizationMethod:
        """The registered method that built this index, and the only one that can score it."""
        return method_for(self.method)

    @functools.cached_property
    def grid_north_deg(self) -> np.ndarray:
        """(T,) degrees clockwise from true north to grid north at each tile centre (NaN where no tile ran).

        What turns a heading measured on the grid (a twin model's polar column 0 is the tile's top,
        grid north) into one from true north; computed on first use, not stored in the folder.
        """
        from xview_engine.raster.crs import grid_convergence_deg

        out = np.full(self.n_tiles, np.nan)
        ran = np.flatnonzero(self.valid)
        out[ran] = grid_convergence_deg(self.grid.crs, self.xy[ran, 0], self.xy[ran, 1])
        return out

    @property
    def n_tiles(self) -> int:
        return int(self.valid.shape[0])

    @property
    def n_valid(self) -> int:
        return int(self.header["valid_tiles"])

    def tile_at(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Index of the tile whose centre is nearest each grid-CRS point; -1 outside the grid or unrun."""
        sx, sy = self.grid.stride_xy
        col = np.rint((np.asarray(x, np.float64) - self.grid.x0) / sx).astype(np.int64)
        row = np.rint((self.grid.y0 - np.asarray(y, np.float64)) / sy).astype(np.int64)
        inside = (col >= 0) & (col < self.grid.cols) & (row >= 0) & (row < self.grid.rows)
        tile = np.where(inside, row * self.grid.cols + col, -1)
        ok = inside & self.valid[np.clip(tile, 0, self.n_tiles - 1)]
        return np.where(ok, tile, -1)


def write_index(path: str | os.PathLike, grid: TileGrid, rows: Iterable[tuple[int, dict[str, np.ndarray]]],
                manifest: Manifest, raster: Optional[dict[str, Any]] = None, model: Optional[dict[str, Any]] = None,
                dtype: str = "float32", overwrite: bool = False, extra: Optional[dict[str, Any]] = None,
                cancel: Optional[CancelCheck] = None) -> Path:
    """Stream ``(row, {head: (cols, K) parameters})`` (NaN = tile not run) into an index folder at ``path``.

    ``rows`` is what ``xview_engine.mapping.batches.predict_rows`` yields; rows may be missing heads or
    absent altogether (no tile ran there).
    """
    if dtype not in DTYPES:
        raise IndexFileError(f"index dtype '{dtype}' is not supported (choose from {', '.join(DTYPES)})")
    target = Path(path)
    check_index_target(target, overwrite)
    method = method_for(manifest.kind)
    specs = method.index_arrays(manifest, dtype)
    needs = _index_bytes(grid, specs)
    try:
        with _temporary_folder(target) as tmp:
            arrays = _open_arrays(tmp, grid, specs)
            for row, outputs in rows:
                check_cancel(cancel)
                _store_row(arrays, grid, method, manifest, row, outputs, dtype)
            valid = _finish_arrays(arrays, grid)
            if not valid.any():
                raise IndexFileError(f"no tile of the area has enough valid pixels (at least half, inside the mask), "
                                     f"so {target} would be empty; choose another extent or check the nodata value")
            header = _header(grid, manifest, method, raster, model, dtype, int(valid.sum()), extra)
            (tmp / HEADER).write_text(json.dumps(header, indent=1), encoding="utf-8")
            del arrays
            _replace_folder(tmp, target)
    except OSError as exc:
        if exc.errno not in NO_SPACE:
            raise
        raise OutputError(f"no space left on the device of {target.parent} for index {target} (needs about "
                          f"{needs / 1e6:,.1f} MB): free some space or write the index elsewhere") from None
    return target


NO_SPACE = (errno.ENOSPC, errno.EFBIG, errno.EDQUOT)  # disk full, file-size limit, quota


def _index_bytes(grid: TileGrid, specs: list[ArraySpec]) -> int:
    """Disk an index of this grid takes: tiles.npy, xy.npy, lonlat.npy and the method's arrays."""
    per_tile = 1 + 16 + 16 + sum(np.dtype(s.dtype).itemsize * int(np.prod(s.shape)) for s in specs)
    return grid.count * per_tile


def check_index_target(target: Path, overwrite: bool) -> None:
    """Refuse, before any work, an existing output unless overwrite (and then only an index folder)."""
    if not target.parent.exists():
        raise OutputError(f"output folder {target.parent} does not exist; create it or choose another path")
    if target.exists() and not overwrite:
        raise OutputError(f"output {target} already exists; pass --overwrite to replace it")
    if target.exists() and not (target.is_dir() and (target / HEADER).is_file()):
        raise OutputError(f"{target} exists and is not an xview index folder; it will not be replaced")


@contextlib.contextmanager
def _temporary_folder(target: Path) -> Iterator[Path]:
    tmp = Path(tempfile.mkdtemp(prefix=part_prefix(target), suffix=".part", dir=target.parent))
    try:
        yield tmp
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _replace_folder(tmp: Path, target: Path) -> None:
    """Rename the finished folder onto the target; an old index is moved aside first, then deleted."""
    old = None
    if target.exists():
        old = target.with_name(f".{target.name}.old-{os.getpid()}")
        os.replace(target, old)
    os.replace(tmp, target)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def _open_arrays(folder: Path, grid: TileGrid, specs: list[ArraySpec]) -> dict[str, np.ndarray]:
    n = grid.count
    arrays = {"valid": _preallocated_memmap(folder / "tiles.npy", bool, (n,)),
              "xy": _preallocated_memmap(folder / "xy.npy", np.float64, (n, 2))}
    arrays["valid"][:] = False
    for spec in specs:
        arrays[spec.name] = _preallocated_memmap(folder / spec.file, spec.dtype, (n, *spec.shape))
        arrays[spec.name][:] = spec.fill
    return arrays


def _preallocated_memmap(path: Path, dtype: Any, shape: tuple[int, ...]) -> np.memmap:
    """A writable ``.npy`` memory map whose disk blocks are reserved before anything is written to it.

    ``open_memmap`` makes a sparse file: on a full disk the first store into an unbacked page kills
    the process with SIGBUS. Reserving the blocks first turns a full disk into an ``OSError`` here.
    """
    array = np.lib.format.open_memmap(path, "w+", dtype, shape)
    with open(path, "r+b") as fh:
        size = os.fstat(fh.fileno()).st_size
        if size:
            os.posix_fallocate(fh.fileno(), 0, size)
    return array


def _store_row(arrays: dict[str, np.ndarray], grid: TileGrid, method: LocalizationMethod, manifest: Manifest,
               row: int, outputs: dict[str, np.ndarray], dtype: str) -> None:
    stored = method.tile_arrays(manifest, outputs, dtype)
    if stored is None or not stored[0].any():
        return
    ok, values = stored
    at = row * grid.cols + np.flatnonzero(ok)
    arrays["valid"][at] = True
    for name, block in values.items():
        arrays[name][at] = block


def _finish_arrays(arrays: dict[str, np.ndarray], grid: TileGrid) -> np.ndarray:
    from xview_engine.raster.crs import to_lonlat

    rows, cols = np.divmod(np.arange(grid.count), grid.cols)
    sx, sy = grid.stride_xy
    xy = arrays["xy"]
    xy[:, 0] = grid.x0 + cols * sx
    xy[:, 1] = grid.y0 - rows * sy
    lon, lat = to_lonlat(grid.crs, xy[:, 0].tolist(), xy[:, 1].tolist()) if grid.count else ([], [])
    np.save(Path(xy.filename).with_name("lonlat.npy"), np.column_stack([lon, lat]).astype(np.float64))
    for array in arrays.values():
        array.flush()
    return np.asarray(arrays["valid"])


def _header(grid: TileGrid, manifest: Manifest, method: LocalizationMethod, raster: Optional[dict[str, Any]],
            model: Optional[dict[str, Any]], dtype: str, valid: int, extra: Optional[dict[str, Any]]) -> dict[str, Any]:
    return {"format": FORMAT, "version": VERSION, "xview_version": __version__, "method": method.kind,
            "dtype": dtype, "tiles": grid.count, "valid_tiles": valid, "grid": dataclasses.asdict(grid),
            **method.index_header(manifest, dtype), "manifest": manifest.to_dict(), "model": model or {},
            "raster": raster or {}, **(extra or {})}


def load_index(path: str | os.PathLike) -> TileIndex:
    """Open an index folder memory-mapped; every way it can be wrong gets its own message."""
    folder = Path(path)
    header = _read_header(folder)
    try:
        manifest = Manifest.from_dict(header["manifest"])
        grid = TileGrid(**header["grid"])
        valid = _load(folder, "tiles.npy", (grid.count,))
        kind = header.get("method", "distill")
        specs = method_for(kind).index_arrays(manifest, header["dtype"])
    except MethodError as exc:
        raise IndexFileError(f"index {folder}: {exc}; this xview cannot score it") from None
    except (KeyError, TypeError) as exc:
        raise IndexFileError(f"index {folder}: {HEADER} is incomplete ({exc}); rebuild it with 'xview index'") from None
    xy, lonlat = _load(folder, "xy.npy", (grid.count, 2)), _load(folder, "lonlat.npy", (grid.count, 2))
    arrays = {s.name: _load(folder, s.file, (grid.count, *s.shape)) for s in specs}
    return TileIndex(folder, header, manifest, grid, valid, xy, lonlat, kind, arrays)


def _read_header(folder: Path) -> dict[str, Any]:
    if not (folder / HEADER).is_file():
        what = "does not exist" if not folder.exists() else f"is not an xview index folder (no {HEADER})"
        raise IndexFileError(f"index {folder} {what}; build one with 'xview index RASTER --model M -o {folder}'")
    try:
        header = json.loads((folder / HEADER).read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise IndexFileError(f"index {folder}: {HEADER} is not valid JSON ({exc}); rebuild the index") from None
    if not isinstance(header, dict) or header.get("format") != FORMAT:
        raise IndexFileError(f"index {folder}: {HEADER} is not an xview index header")
    if header.get("version") != VERSION:
        raise IndexFileError(f"index {folder} has format version {header.get('version')!r}; this xview reads "
                             f"version {VERSION}: rebuild it with 'xview index'")
    return header


def _load(folder: Path, name: str, shape: tuple[int, ...]) -> np.ndarray:
    try:
        with open(folder / name, "rb") as f:  # np.load calls anything that is not .npy "pickled data"
            if f.read(6) != b"\x93NUMPY":
                raise ValueError("empty" if f.tell() == 0 else "not a .npy array")
        array = np.load(folder / name, mmap_mode="r", allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise IndexFileError(f"index {folder}: {name} is missing or damaged ({exc}); rebuild the index") from None
    if tuple(array.shape) != shape:
        raise IndexFileError(f"index {folder}: {name} has shape {tuple(array.shape)}, expected {shape}; "
                             "the index is damaged or was partly replaced: rebuild it")
    return array


def check_index(index: TileIndex, raster: Optional[str | os.PathLike] = None,
                model: Optional[str | os.PathLike] = None) -> None:
    """Refuse a stale index (its raster changed) or a mismatched one (another raster or model than given).

    With ``raster=None`` the raster recorded in the index is checked when it still exists there.
    """
    recorded = index.header.get("raster") or {}
    where = raster if raster is not None else recorded.get("path")
    if where and Path(where).is_file() and recorded.get("content_hash"):
        _check_raster(index, recorded, raster_identity(where), given=raster is not None)
    if model is not None:
        _check_model(index, Path(model))


def check_method(index: TileIndex, kind: str, model: Optional[str | os.PathLike] = None) -> None:
    """Refuse to score an index with another method than the one that built it, naming its model."""
    if kind != index.method:
        built_by = (index.header.get("model") or {}).get("path", "an unrecorded model")
        given = f" {model}" if model else ""
        raise IndexFileError(f"index {index.path} was built by a '{index.method}' model ({built_by}); the "
                             f"'{kind}' model{given} cannot score it: build an index with that model "
                             "('xview index RASTER --model M -o INDEX')")


def _check_raster(index: TileIndex, recorded: dict[str, Any], now: dict[str, Any], given: bool) -> None:
    keys = ("width", "height", "count", "crs", "transform", "content_hash", "bytes")
    changed = [k for k in keys if recorded.get(k) != now.get(k)]
    if not changed:
        return
    if given and recorded.get("path") != now["path"]:
        raise IndexFileError(f"index {index.path} was built from {recorded.get('path')}, not from {now['path']} "
                             f"(they differ in {', '.join(changed)}); use the matching raster or rebuild the index")
    raise IndexFileError(f"index {index.path} is stale: {now['path']} changed since the index was built "
                         f"({', '.join(changed)} differ); rebuild it with 'xview index ... --overwrite'")


def _check_model(index: TileIndex, model: Path) -> None:
    from xview_engine.model.runtime import read_model_manifest

    recorded = index.header.get("model") or {}
    manifest = read_model_manifest(model)
    check_method(index, manifest.kind, model)
    if manifest.to_dict() != index.manifest.to_dict():
        raise IndexFileError(f"index {index.path} was built with another model ({recorded.get('path', '?')}) "
                             f"than {model}; rebuild the index with this model or drop --model")
    if recorded.get("sha256") and model.is_file() and file_sha256(model) != recorded["sha256"]:
        raise IndexFileError(f"index {index.path} was built with different weights than {model} (same manifest, "
                             "other file content); rebuild the index with 'xview index ... --overwrite'")
