"""EXIF GPS position and heading of photos: write (synthetic photos) and read (any JPEG).

Tags follow the EXIF 2.3 GPS IFD: GPSLatitude/GPSLongitude as degrees-minutes-seconds rationals
with N/S and E/W refs (WGS84), GPSImgDirection (true north, ref ``T``) for the heading. The reader
is also what localisation uses to know where a real photo was taken, when it says so.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from fractions import Fraction
from typing import Optional

from PIL import Image

from xview_engine.errors import SourceError

GPS_IFD = 0x8825
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


def make_exif(tag: GeoTag, description: str = "") -> Image.Exif:
    """An ``Image.Exif`` carrying the position, the heading and a description."""
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
    return exif


def _degrees(dms, ref: str) -> float:
    d, m, s = (float(x) for x in dms)
    value = d + m / 60 + s / 3600
    return -value if ref in ("S", "W") else value


def read_geotag(path: str | os.PathLike) -> Optional[GeoTag]:
    """Position and heading from a photo's EXIF, or None when it has no GPS position."""
    try:
        with Image.open(path) as im:
            gps = im.getexif().get_ifd(GPS_IFD)
    except OSError as exc:
        raise SourceError(f"cannot read photo {path}: {exc}; give a JPEG or PNG file") from exc
    if LAT not in gps or LON not in gps:
        return None
    heading = float(gps[DIRECTION]) if DIRECTION in gps else None
    return GeoTag(_degrees(gps[LAT], gps.get(LAT_REF, "N")), _degrees(gps[LON], gps.get(LON_REF, "E")), heading)
