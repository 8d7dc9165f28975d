"""Raster sources: read any window of a raster at any ground resolution, as [0, 1] pixels plus a mask.

``RasterSource`` is the interface the rest of the pipeline sees. It is deliberately small and free
of rasterio types (plain tuples, strings, numpy arrays) because the QGIS plugin implements it again
on top of a QGIS data provider, so that any layer QGIS can draw (XYZ, WMS, VRT) can be mapped.

``RasterioSource`` is the implementation for files GDAL can open (GeoTIFF, VRT, COG, ...). It picks
the bands the model wants (by colour interpretation or explicitly; a palette raster as the RGB it
draws as, ``raster.palette``), turns nodata, NaN and alpha into a mask, scales bytes by 1/255 and
other types by a per-band 2-98 % percentile stretch measured once
on a decimated read, and hides geometry problems behind a GDAL warped view: a geographic raster is
served in a metric CRS (the caller picks it, normally the UTM zone of the extent) and a rotated or
south-up raster in a north-up grid of its own CRS.

Byte rasters also offer ``read_window_codes`` for windows at native resolution (pixel-aligned,
one source pixel per output pixel, within ``NATIVE_TOLERANCE_PX`` over the window, where GDAL's
float32 read gives the bytes themselves): the window as raw uint8 codes, plus ``code_table``
mapping each code to what ``read_window`` returns, so codes looked up in the table are exactly
``read_window``'s pixels, at a quarter of the memory and without the resampler or the float
passes; the tile reader folds the model's mean/std into the table. (Resampled windows are not
offered: GDAL's float32 resampling of a multi-band read is not rounded to bytes.) A raster
without nodata, alpha or mask skips the mask read (every pixel inside it is valid; the mask is
then ``None``); there ``exact_codes`` is True: one read of a large window gives the bytes of
every smaller one inside it, so the tile reader reads several grid rows at once.
"""

from __future__ import annotations

import copy
import math
import warnings
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np
import rasterio
from rasterio.enums import ColorInterp, MaskFlags, Resampling
from rasterio.vrt import WarpedVRT
from rasterio.windows import Window, from_bounds

from xview_engine.errors import SourceError
from xview_engine.raster import crs as geo
from xview_engine.raster.bands import BandChoice, choose_bands
from xview_engine.raster.palette import is_expanded, open_as_rgb

Bounds = tuple[float, float, float, float]  # xmin, ymin, xmax, ymax in the source CRS
_STATS_PX = 1024  # longest side of the decimated read used for the stretch and the emptiness check
_EPS = 1e-6
NATIVE_TOLERANCE_PX = 1e-4  # window offset and size off whole pixels by less: GDAL reads the pixels as they are
READ_CACHE_BYTES = 64 * 2**20  # GDAL block cache while a grid is read: a few rows of blocks, not the raster
MIN_READ_CACHE_BYTES = 16 * 2**20  # ``block_cache_for``: never less


@runtime_checkable
class RasterSource(Protocol):
    """What the mapping pipeline needs from a raster; implemented by rasterio here, by QGIS in the plugin.

    ``crs`` is a WKT string (or 'EPSG:n') of a *projected* CRS, ``bounds`` the valid area in it.
    ``read_window`` returns ``(pixels, valid)``: float32 (C, H, W) scaled to [0, 1] in the band
    order of the model, and a bool (H, W) mask, True where the source has data. Pixels of
    ``bounds`` outside the raster come back invalid; both arrays are fresh (the caller modifies them
    in place). ``info`` is plain metadata for products.json
    (file, bands used, scaling, reprojection), said to the user as is.
    """

    crs: str
    bounds: Bounds
    info: dict[str, Any]

    def read_window(self, bounds: Bounds, out_shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]: ...


def bounded_block_cache(nbytes: int = READ_CACHE_BYTES) -> rasterio.Env:
    """A GDAL environment whose block cache holds at most ``nbytes`` (restored on exit).

    GDAL's default cache is 5 % of RAM and keeps every decoded block it has read until it is full, so
    reading a whole raster once (the stretch's decimated read, then the strips) made a run's memory
    grow with the raster up to that size. Strips move down the raster, so only the last rows of
    blocks are read again, and they are the most recently used: a small cache costs next to no extra
    decoding. The limit is process-wide
    while it is set; leave writes of large outputs outside it (an evicted, half-written compressed
    block is written again at the end of the file).
    """
    return rasterio.Env(GDAL_CACHEMAX=nbytes)


def block_cache_for(path: str | Path, footprint_m: float) -> int:
    """A block cache for reading strips of ``footprint_m`` high tiles from a file: a few rows of its blocks.

    ``READ_CACHE_BYTES`` holds a whole 4096^2 byte raster, and strips moving down it kept every block
    they had read until that cap: a run's peak grew with the raster up to it. Strips need the rows of
    blocks under one tile (the footprint in the raster's own units, taken as metres) and the row above
    them, which the next strip shares: that, plus one row, at least ``MIN_READ_CACHE_BYTES``.
    """
    with rasterio.Env(), _open(path) as ds:
        if ds.crs is None or ds.crs.is_geographic or not ds.block_shapes:
            return READ_CACHE_BYTES
        block_rows, block_cols = ds.block_shapes[0]
        row_bytes = math.ceil(ds.width / block_cols) * block_cols * block_rows * sum(
            np.dtype(t).itemsize for t in ds.dtypes)
        rows = math.ceil(footprint_m / abs(ds.res[1]) / block_rows) + 2
    return int(min(READ_CACHE_BYTES, max(MIN_READ_CACHE_BYTES, rows * row_bytes)))


def raster_crs_and_bounds(path: str | Path) -> tuple[str, Bounds]:
    """A raster's own CRS (WKT) and bounds, checked for georeferencing; cheap, reads no pixels."""
    with rasterio.Env(), _open(path) as ds:
        _check_georeferenced(ds, path)
        return ds.crs.to_wkt(), tuple(ds.bounds)


class RasterioSource:
    """A GDAL raster as a ``RasterSource``; see the module docstring. Close it (or use ``with``)."""

    def __init__(self, path: str | Path, n_bands: int, band_names: tuple[str, ...] = (),
                 bands: tuple[int, ...] | None = None, work_crs: str | None = None):
        with rasterio.Env():  # GDAL warnings go to Python logging, not straight to stderr
            self._setup(path, n_bands, band_names, bands, work_crs)

    def _setup(self, path: str | Path, n_bands: int, band_names: tuple[str, ...],
               bands: tuple[int, ...] | None, work_crs: str | None) -> None:
        self.path = Path(path)
        self._work_crs = work_crs
        self._file = _open(path)
        palette = is_expanded(self._file)
        _check_georeferenced(self._file, path)
        self._ds, reprojected = _north_up_view(self._file, work_crs)
        self.choice: BandChoice = choose_bands(self._file, n_bands, band_names, bands, str(self.path))
        self.crs = self._ds.crs.to_wkt()
        self.bounds: Bounds = tuple(self._ds.bounds)
        self._bytes = all(self._ds.dtypes[i - 1] == "uint8" for i in self.choice.indexes)
        self._all_valid = self._ds.nodata is None and all(
            self._ds.mask_flag_enums[i - 1] == [MaskFlags.all_valid] for i in range(1, self._ds.count + 1))
        # the codes of any window are the file's bytes: no resampler, no warper, no mask to weigh edges
        self.exact_codes = self._bytes and self._all_valid and self._ds is self._file
        lo, hi, scaling = self._measure_scaling()
        self._lo, self._inv_range = lo.astype(np.float32), (1.0 / (hi - lo)).astype(np.float32)
        self.info = {
            "file": str(self.path),
            "source_crs": geo.crs_label(self._file.crs),
            "bands": list(self.choice.indexes),
            "band_note": ("colour table expanded to red, green, blue, alpha; " if palette else "") + self.choice.note,
            "scaling": scaling,
            "reprojected_to": reprojected,
        }

    def __enter__(self) -> RasterioSource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def twin(self) -> RasterioSource:
        """The same view of the same file on handles of its own, for a second thread reading beside this one.

        A GDAL dataset handle is not safe to read from two threads at once; bands, scaling and CRS are
        copied, not measured again. Close it too.
        """
        other = copy.copy(self)
        with rasterio.Env():
            other._file = _open(self.path)
            try:
                other._ds = _north_up_view(other._file, self._work_crs)[0]
            except BaseException:
                other._file.close()
                raise
        return other

    def close(self) -> None:
        if self._ds is not self._file:
            self._ds.close()
        self._file.close()

    def read_window(self, bounds: Bounds, out_shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
        """Pixels of ``bounds`` resampled to ``out_shape`` (average when shrinking, bilinear when enlarging)."""
        data, mask = self._read_padded(bounds, out_shape, self._read, np.float32)
        return data, np.ones(out_shape, bool) if mask is None else mask

    def read_window_codes(self, bounds: Bounds,
                          out_shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray | None] | None:
        """``read_window`` as uint8 codes (C, H, W) and a mask (None: all valid), or None.

        None unless every band is bytes and the window is at native resolution (see the module
        docstring); then ``code_table()[band][codes]`` equals ``read_window``'s pixels.
        """
        if not self._bytes:
            return None
        return self._read_padded(bounds, out_shape, self._native_codes, np.uint8)

    def code_table(self) -> np.ndarray | None:
        """(C, 256) float32: band ``c``'s code ``v`` as ``read_window`` scales it (same float32 operations)."""
        if not self._bytes:
            return None
        table = np.repeat(np.arange(256, dtype=np.float32)[None, :], len(self.choice.indexes), axis=0)
        table -= self._lo[:, None]
        table *= self._inv_range[:, None]
        return np.clip(table, 0.0, 1.0, out=table)

    def _read_padded(self, bounds: Bounds, out_shape: tuple[int, int], reader: Any,
                     dtype: type) -> Any:
        """The part of ``bounds`` inside the raster read by ``reader``, padded with invalid zeros to ``out_shape``."""
        h, w = out_shape
        n = len(self.choice.indexes)
        inner = _inside_pixels(bounds, out_shape, self.bounds)
        if inner is None:
            return np.zeros((n, h, w), dtype), np.zeros((h, w), bool)
        r0, r1, c0, c1 = inner
        xmin, _, xmax, ymax = bounds
        px_w, px_h = (xmax - xmin) / w, (bounds[3] - bounds[1]) / h
        sub = (xmin + c0 * px_w, ymax - r1 * px_h, xmin + c1 * px_w, ymax - r0 * px_h)
        read = reader(sub, (r1 - r0, c1 - c0), px_w > abs(self._ds.res[0]) * (1 + _EPS))
        if read is None:
            return None
        data, mask = read
        if (r0, r1, c0, c1) == (0, h, 0, w):  # wholly inside (the common case): no second strip-sized array
            return data, mask
        pixels = np.zeros((n, h, w), dtype)
        valid = np.zeros((h, w), bool)
        pixels[:, r0:r1, c0:c1] = data
        valid[r0:r1, c0:c1] = True if mask is None else mask
        return pixels, valid

    def _native_codes(self, sub: Bounds, shape: tuple[int, int],
                      shrinking: bool) -> tuple[np.ndarray, np.ndarray | None] | None:
        window = from_bounds(*sub, transform=self._ds.transform)
        ends = (window.col_off, window.row_off, window.col_off + window.width, window.row_off + window.height)
        aligned = all(abs(v - round(v)) < NATIVE_TOLERANCE_PX for v in ends)
        if not aligned or (round(window.height), round(window.width)) != tuple(shape):
            return None
        # Whole pixels: a fractional window, however close, sends GDAL through its resampler (3x slower).
        # Not with nodata: there GDAL's resampler leaves out no-data neighbours and differs from the bytes
        # at a few edge pixels, and the codes must stay ``read_window``'s pixels.
        whole = Window(round(window.col_off), round(window.row_off), shape[1], shape[0]) if self._all_valid else None
        return self._gdal_read(sub, shape, shrinking, np.uint8, whole)

    def _gdal_read(self, sub: Bounds, shape: tuple[int, int], shrinking: bool, dtype: type = np.uint8,
                   window: Window | None = None) -> tuple[np.ndarray, np.ndarray | None]:
        """Bands resampled by GDAL into ``dtype``, and the mask (None when the raster has none)."""
        window = window or from_bounds(*sub, transform=self._ds.transform)
        resampling = Resampling.average if shrinking else Resampling.bilinear
        try:
            with rasterio.Env():  # per call: reads run in the reader thread, and Env is thread-local
                data = self._ds.read(list(self.choice.indexes), window=window,
                                     out_shape=(len(self.choice.indexes), *shape),
                                     resampling=resampling, out_dtype=dtype)
                if self._all_valid:
                    return data, None
                # nearest: GDAL scales non-byte alpha masks to 0..1, so only 'any' is a safe test
                mask = self._ds.dataset_mask(window=window, out_shape=shape, resampling=Resampling.nearest) > 0
        except rasterio.errors.RasterioError as exc:
            raise _read_error(self.path, exc) from None
        return data, mask

    def _read(self, sub: Bounds, shape: tuple[int, int], shrinking: bool) -> tuple[np.ndarray, np.ndarray | None]:
        data, mask = self._gdal_read(sub, shape, shrinking, np.float32)
        finite = None if self._bytes else np.isfinite(data).all(axis=0)  # bytes are always finite
        data -= self._lo[:, None, None]  # in place, float32: a strip is the largest array of a run
        data *= self._inv_range[:, None, None]
        np.clip(data, 0.0, 1.0, out=data)
        if finite is None:
            return data, mask
        data[:, ~finite] = 0.0
        return data, finite if mask is None else mask & finite

    def _measure_scaling(self) -> tuple[np.ndarray, np.ndarray, str]:
        """Byte rasters: /255. Others: per-band 2-98 % percentiles of the valid pixels of a decimated read."""
        n = len(self.choice.indexes)
        if self._bytes and self._all_valid and self._ds.dtypes[0] == "uint8":
            # every pixel is valid and the scale is fixed: the decimated read (every block of the raster
            # decoded, 0.4 s for 4096^2 px) would find nothing to say
            return np.zeros(n), np.full(n, 255.0), "bytes / 255"
        scale = min(1.0, _STATS_PX / max(self._ds.width, self._ds.height))
        shape = (max(1, round(self._ds.height * scale)), max(1, round(self._ds.width * scale)))
        try:
            mask = self._ds.dataset_mask(out_shape=shape, resampling=Resampling.nearest) > 0
            data = self._ds.read(list(self.choice.indexes), out_shape=(n, *shape), resampling=Resampling.nearest,
                                 out_dtype=np.float64)
        except rasterio.errors.RasterioError as exc:
            raise _read_error(self.path, exc) from None
        mask &= np.isfinite(data).all(axis=0)
        if not mask.any():
            raise SourceError(f"{self.path} has no valid pixel (every pixel is nodata, NaN or transparent)")
        if self._ds.dtypes[0] == "uint8":
            return np.zeros(n), np.full(n, 255.0), "bytes / 255"
        lo = np.array([np.percentile(band[mask], 2) for band in data])
        hi = np.array([np.percentile(band[mask], 98) for band in data])
        hi = np.where(hi > lo, hi, lo + 1.0)
        ranges = ", ".join(f"band {i}: {a:g}..{b:g}" for i, a, b in zip(self.choice.indexes, lo, hi))
        return lo, hi, f"per-band 2-98 % percentile stretch ({ranges})"


def _read_error(path: Path, exc: Exception) -> SourceError:
    detail = f"{exc.__cause__ or exc}".strip()
    return SourceError(f"cannot read the pixels of {path} ({detail}); the file is damaged or truncated "
                       "(check it with 'gdalinfo -checksum', re-download or re-export it)")


def _open(path: str | Path) -> rasterio.io.DatasetReader:
    path = Path(path)
    if not path.exists():
        raise SourceError(f"raster {path} does not exist")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", rasterio.errors.NotGeoreferencedWarning)
            return open_as_rgb(rasterio.open(path))
    except rasterio.errors.RasterioIOError as exc:
        raise SourceError(
            f"{path} cannot be opened as a raster ({exc}); is it a GeoTIFF/VRT/COG GDAL can read?"
        ) from None


def _check_georeferenced(ds: rasterio.io.DatasetReader, path: str | Path) -> None:
    missing = [what for what, absent in (("coordinate reference system", ds.crs is None),
                                         ("geotransform", ds.transform.is_identity)) if absent]
    if missing:
        raise SourceError(
            f"{path} has no {' and no '.join(missing)}, so it cannot be placed on the ground; georeference "
            "it first (QGIS Georeferencer, or gdal_translate -a_srs EPSG:... -a_ullr ulx uly lrx lry)"
        )


def _north_up_view(ds: rasterio.io.DatasetReader, work_crs: str | None) -> tuple[Any, str | None]:
    """The dataset itself, or a warped view when it is geographic, rotated/south-up, or ``work_crs`` differs."""
    t = ds.transform
    north_up = t.b == 0 and t.d == 0 and t.a > 0 and t.e < 0
    target = geo.as_crs(work_crs) if work_crs else ds.crs
    if ds.crs.is_geographic and not work_crs:
        raise SourceError(f"{ds.name} is in a geographic CRS; the caller must choose a metric work CRS")
    if north_up and target == ds.crs:
        return ds, None
    # without nodata or alpha the warp's empty corners would read as black data: add an alpha mask
    needs_alpha = ds.nodata is None and ColorInterp.alpha not in ds.colorinterp
    vrt = WarpedVRT(ds, crs=target, resampling=Resampling.bilinear, add_alpha=needs_alpha)
    why = "geographic source" if ds.crs.is_geographic else ("rotated/south-up geotransform" if not north_up else "")
    return vrt, f"{geo.crs_label(target)} ({why or 'requested'}, GDAL warp, bilinear)"


def _inside_pixels(bounds: Bounds, out_shape: tuple[int, int], inside: Bounds) -> tuple[int, int, int, int] | None:
    """Rows r0:r1, cols c0:c1 of the output grid over ``bounds`` that lie wholly within ``inside``."""
    h, w = out_shape
    xmin, ymin, xmax, ymax = bounds
    px_w, px_h = (xmax - xmin) / w, (ymax - ymin) / h
    c0 = max(0, math.ceil((inside[0] - xmin) / px_w - _EPS))
    c1 = min(w, math.floor((inside[2] - xmin) / px_w + _EPS))
    r0 = max(0, math.ceil((ymax - inside[3]) / px_h - _EPS))
    r1 = min(h, math.floor((ymax - inside[1]) / px_h + _EPS))
    if c1 <= c0 or r1 <= r0:
        return None
    return r0, r1, c0, c1


