"""EXIF GPS position, heading and time of photos: write (synthetic photos) and read (any JPEG).

Tags follow the EXIF 2.3 GPS IFD: GPSLatitude/GPSLongitude as degrees-minutes-seconds rationals
with N/S and E/W refs (WGS84), GPSImgDirection (true north, ref ``T``) for the heading. When the
photo was taken is the Exif IFD's DateTimeOriginal (``YYYY:MM:DD HH:MM:SS``, local time) with
OffsetTimeOriginal (``+01:00``) when present, else local time as given. The reader is also what
localisation uses to know where and when a real photo was taken, when it says so; GPS or time
tags that give no usable value are a warning, never an exception.
"""

from __future__ import annotations

import math
import os
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from fractions import Fraction
from typing import Any, Optional

from PIL import Image

from xview_engine.data.images import DECODE_ERRORS, open_image
from xview_engine.errors import XviewWarning

GPS_IFD = 0x8825
EXIF_IFD, DATE_TIME_ORIGINAL, OFFSET_TIME_ORIGINAL = 0x8769, 0x9003, 0x9011
IMAGE_DESCRIPTION, SOFTWARE = 0x010E, 0x0131
GPS_VERSION, LAT_REF, LAT, LON_REF, LON, DATUM = 0, 1, 2, 3, 4, 18
DIR_REF, DIRECTION = 16, 17


@dataclass(frozen=True)
class GeoTag:
    lat: float
    lon: float
    heading: Optional[float] = None  # degrees clockwise from true north


def _dms(value: float) -> tuple[Fraction, Fraction, Fraction]:
    value = abs(value)
    deg = int(value)
    minutes = int((value - deg) * 60)
    seconds = round(((value - deg) * 60 - minutes) * 60 * 10000)
    return Fraction(deg), Fraction(minutes), Fraction(seconds, 10000)


def make_exif(tag: GeoTag, description: str = "", taken: Optional[datetime] = None) -> Image.Exif:
    """An ``Image.Exif`` carrying the position, the heading, a description and when it was taken."""
    exif = Image.Exif()
    exif[IMAGE_DESCRIPTION] = description
    exif[SOFTWARE] = "xview synth"
    gps = {
        GPS_VERSION: b"\x02\x03\x00\x00",
        LAT_REF: "N" if tag.lat >= 0 else "S",
        LAT: _dms(tag.lat),
        LON_REF: "E" if tag.lon >= 0 else "W",
        LON: _dms(tag.lon),
        DATUM: "WGS-84",
    }
    if tag.heading is not None:
        gps[DIR_REF] = "T"
        gps[DIRECTION] = Fraction(round((tag.heading % 360) * 100), 100)
    exif[GPS_IFD] = gps
    if taken is not None:
        stamp = {DATE_TIME_ORIGINAL: taken.strftime("%Y:%m:%d %H:%M:%S")}
        offset = taken.strftime("%z")
        if offset:
            stamp[OFFSET_TIME_ORIGINAL] = f"{offset[:3]}:{offset[3:]}"
        exif[EXIF_IFD] = stamp
    return exif


class _NoGps(Exception):
    """Why a photo's GPS tags give no usable position (internal: becomes a warning)."""


def _number(value: object, what: str) -> float:
    if getattr(value, "denominator", 1) == 0:
        raise _NoGps(f"{what} has a zero denominator")
    try:
        number = float(value)  # an IFDRational with a zero denominator is NaN
    except (TypeError, ValueError, ZeroDivisionError):
        raise _NoGps(f"{what} {value!r} is not a number") from None
    if not math.isfinite(number):
        raise _NoGps(f"{what} has a zero denominator or is not finite")
    return number


def _reference(gps: Mapping[int, Any], tag: int, allowed: str, what: str) -> str:
    ref = gps.get(tag)
    if isinstance(ref, bytes):
        ref = ref.decode("ascii", "replace")
    ref = str(ref).strip(" \x00").upper() if ref is not None else ""
    if ref not in tuple(allowed):
        shown = f"'{ref}'" if ref else "missing"
        raise _NoGps(f"{what} reference is {shown}, not {' or '.join(allowed)}")
    return ref


def _degrees(gps: Mapping[int, Any], tag: int, ref_tag: int, allowed: str, limit: float, what: str) -> float:
    """Degrees from an EXIF degrees-minutes-seconds triple and its N/S or E/W reference."""
    dms = gps.get(tag)
    if dms is None:
        raise _NoGps(f"{what} is missing")
    values = tuple(dms) if isinstance(dms, (tuple, list)) else (dms,)
    if len(values) != 3:
        raise _NoGps(f"{what} has {len(values)} value(s) instead of 3 (degrees, minutes, seconds)")
    d, m, s = (_number(v, what) for v in values)
    if min(d, m, s) < 0 or m > 60 or s > 60:
        raise _NoGps(f"{what} {d:g} deg {m:g}' {s:g}\" is not degrees, minutes and seconds")
    value = d + m / 60 + s / 3600
    if value > limit:
        raise _NoGps(f"{what} {value:g} is outside [-{limit:g}, {limit:g}]")
    return -value if _reference(gps, ref_tag, allowed, what) in "SW" else value


def _geotag(gps: Mapping[int, Any]) -> GeoTag:
    lat = _degrees(gps, LAT, LAT_REF, "NS", 90.0, "latitude")
    lon = _degrees(gps, LON, LON_REF, "EW", 180.0, "longitude")
    try:
        heading = _number(gps[DIRECTION], "heading") % 360 if DIRECTION in gps else None
    except _NoGps:
        heading = None  # the position stands without it
    return GeoTag(lat, lon, heading)


def read_geotag(path: str | os.PathLike) -> Optional[GeoTag]:
    """Position and heading from a photo's EXIF, or None when it has none or none usable.

    Unusable GPS (latitude 200, a zero denominator, one value instead of three, a missing N/S or E/W
    reference) is an ``XviewWarning`` "no usable GPS in PHOTO (why)" and None: the photo is still
    localized, its truth unknown. A heading from magnetic north (ref ``M``; the declination is not
    known here) is dropped with a warning, the position kept: headings are compared from true north.
    A file that is not an image, or a decompression bomb, is an error.
    """
    with open_image(path) as im:
        try:
            gps = im.getexif().get_ifd(GPS_IFD)
        except (*DECODE_ERRORS, KeyError, TypeError) as exc:
            warnings.warn(f"no usable GPS in {path} (its EXIF cannot be read: {exc}); its true position is "
                          "unknown", XviewWarning, stacklevel=2)
            return None
    if LAT not in gps and LON not in gps:
        return None
    try:
        tag = _geotag(gps)
    except _NoGps as why:
        warnings.warn(f"no usable GPS in {path} ({why}); its true position is unknown", XviewWarning, stacklevel=2)
        return None
    if tag.heading is not None and str(gps.get(DIR_REF, "T")).strip().upper().startswith("M"):
        warnings.warn(f"the heading in {path} is from magnetic north (GPSImgDirectionRef M); xview compares headings "
                      "from true north, so it is not used (the position is)", XviewWarning, stacklevel=2)
        return GeoTag(tag.lat, tag.lon, None)
    return tag


def _text(value: object) -> str:
    if isinstance(value, bytes):
        value = value.decode("ascii", "replace")
    return str(value).strip(" \x00") if value is not None else ""


def _taken(exif_ifd: Mapping[int, Any]) -> datetime:
    """DateTimeOriginal (+ OffsetTimeOriginal) as a datetime; ``ValueError`` says why not."""
    stamp = _text(exif_ifd.get(DATE_TIME_ORIGINAL))
    try:
        when = datetime.strptime(stamp, "%Y:%m:%d %H:%M:%S")
    except ValueError:
        raise ValueError(f"DateTimeOriginal '{stamp}' is not YYYY:MM:DD HH:MM:SS") from None
    offset = _text(exif_ifd.get(OFFSET_TIME_ORIGINAL))
    if offset:
        sign, hh, _, mm = offset[:1], offset[1:3], offset[3:4], offset[4:6]
        if sign not in "+-" or not (hh.isdigit() and mm.isdigit()) or int(hh) > 14 or int(mm) > 59:
            raise ValueError(f"OffsetTimeOriginal '{offset}' is not +HH:MM")
        delta = timedelta(hours=int(hh), minutes=int(mm))
        when = when.replace(tzinfo=timezone(delta if sign == "+" else -delta))
    return when


def read_taken_time(path: str | os.PathLike) -> Optional[datetime]:
    """When the photo was taken (EXIF DateTimeOriginal, local time, with its offset when given), or None.

    A photo without the tag is None; an unusable one (``0000:00:00 00:00:00``, a month 13, a bad
    offset) is an ``XviewWarning`` "no usable time in PHOTO (why)" and None, as for GPS.
    """
    with open_image(path) as im:
        try:
            exif_ifd = im.getexif().get_ifd(EXIF_IFD)
        except (*DECODE_ERRORS, KeyError, TypeError) as exc:
            warnings.warn(f"no usable time in {path} (its EXIF cannot be read: {exc})", XviewWarning, stacklevel=2)
            return None
    if DATE_TIME_ORIGINAL not in exif_ifd:
        return None
    try:
        return _taken(exif_ifd)
    except ValueError as why:
        warnings.warn(f"no usable time in {path} ({why}); its time is unknown", XviewWarning, stacklevel=2)
        return None
