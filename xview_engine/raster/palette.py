"""Palette (colour-table) rasters seen as the RGB image they draw as.

A one-band byte raster with a colour table (a scanned map, a classified mosaic saved as paletted
GeoTIFF, GIF/PNG-derived imagery) holds colour *indices*: mapping them as a grey band would show the
model numbers, not the picture the analyst sees in QGIS. GDAL expands a colour table itself in a
VRT (``ColorTableComponent``, what ``gdal_translate -expand rgba`` writes), so the source opens that
VRT instead: red, green and blue bands, plus an alpha band from the table's alpha (the raster's nodata code
transparent) unless every pixel is opaque. Everything downstream (band choice, byte code reads, masks) then
works as for any RGB raster.
"""

from __future__ import annotations

from typing import Any
from xml.sax.saxutils import escape

import rasterio
from rasterio.enums import ColorInterp

_COMPONENTS = ((1, "Red"), (2, "Green"), (3, "Blue"), (4, "Alpha"))


def is_palette(ds: Any) -> bool:
    """One band of bytes (or 16-bit codes) with a colour table."""
    return ds.count == 1 and ds.colorinterp[0] == ColorInterp.palette and ds.dtypes[0] in ("uint8", "uint16")


def palette_vrt_xml(ds: Any) -> str:
    """A VRT expanding ``ds``'s colour table to RGB(A) bytes, georeferenced as ``ds``."""
    nodata = "" if ds.nodata is None else f"<NODATA>{ds.nodata:g}</NODATA>"
    source = escape(ds.name)
    opaque = ds.nodata is None and all(entry[3] == 255 for entry in ds.colormap(1).values())
    components = _COMPONENTS[:3] if opaque else _COMPONENTS  # no alpha band: no mask to read
    bands = "".join(
        f'<VRTRasterBand dataType="Byte" band="{band}"><ColorInterp>{name}</ColorInterp>'
        f'<ComplexSource><SourceFilename relativeToVRT="0">{source}</SourceFilename><SourceBand>1</SourceBand>'
        f'{nodata if name == "Alpha" else ""}<ColorTableComponent>{band}</ColorTableComponent></ComplexSource>'
        f"</VRTRasterBand>"
        for band, name in components)
    geotransform = ", ".join(repr(v) for v in ds.transform.to_gdal())
    return (f'<VRTDataset rasterXSize="{ds.width}" rasterYSize="{ds.height}">'
            f"<SRS>{escape(ds.crs.to_wkt())}</SRS><GeoTransform>{geotransform}</GeoTransform>{bands}</VRTDataset>")


def is_expanded(ds: Any) -> bool:
    """Whether ``ds`` is such an expansion (opened from the VRT text ``open_as_rgb`` wrote)."""
    return str(ds.name).startswith("<VRTDataset")


def open_as_rgb(ds: Any) -> Any:
    """``ds`` itself, or (for a palette raster, then closed) its colour table expanded to RGBA."""
    if not is_palette(ds) or ds.crs is None:
        return ds
    xml = palette_vrt_xml(ds)
    ds.close()
    return rasterio.open(xml)
