"""Where to map: the whole raster, an extent (in the raster CRS or another), or mask polygons.

Also picks the metric work CRS for geographic rasters: the UTM zone of the centre of the area
asked for (not of the whole raster: a world mosaic mapped over Europe must use a European zone).
Mask polygons come from any OGR vector (GeoPackage, Shapefile, GeoJSON, ...), are reprojected to
the work CRS, keep their holes, and select tiles by their centre.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import numpy as np
import shapely
from rasterio.warp import transform_bounds, transform_geom
from shapely.geometry import mapping, shape

from xview_engine.errors import SourceError, TilingError
from xview_engine.raster import crs as geo

Bounds = tuple[float, float, float, float]


def parse_extent(text: str) -> Bounds:
    """'xmin,ymin,xmax,ymax' -> a tuple of floats; the error shows the expected form."""
    try:
        values = tuple(float(v) for v in text.replace(" ", "").split(","))
    except ValueError:
        values = ()
    if len(values) != 4:
        raise TilingError(f"--extent '{text}' must be four numbers xmin,ymin,xmax,ymax")
    return values  # type: ignore[return-value]


def work_crs_for(raster_crs: str, raster_bounds: Bounds, extent: Optional[Bounds], extent_crs: Optional[str],
                 mask_lonlat_centre: Optional[tuple[float, float]]) -> Optional[str]:
    """None for projected rasters (map in their own CRS); for geographic ones the UTM zone of the area."""
    if not geo.as_crs(raster_crs).is_geographic:
        return None
    if extent is not None:
        (lon,), (lat,) = geo.to_lonlat(extent_crs or raster_crs, [(extent[0] + extent[2]) / 2],
                                       [(extent[1] + extent[3]) / 2])
    elif mask_lonlat_centre is not None:
        lon, lat = mask_lonlat_centre
    else:
        (lon,), (lat,) = geo.to_lonlat(raster_crs, [(raster_bounds[0] + raster_bounds[2]) / 2],
                                       [(raster_bounds[1] + raster_bounds[3]) / 2])
    return geo.utm_crs_for(lon, lat).to_wkt()


def resolve_extent(source_bounds: Bounds, work_crs: str, raster_crs: str, extent: Optional[Bounds],
                   extent_crs: Optional[str], mask: Optional[shapely.Geometry]) -> Bounds:
    """The area to tile, in the work CRS: source bounds cut by the extent and by the mask's bounds."""
    area = source_bounds
    if extent is not None:
        if not (extent[2] > extent[0] and extent[3] > extent[1]):
            raise TilingError(f"--extent {extent} is empty; give xmin,ymin,xmax,ymax with xmin < xmax, ymin < ymax")
        given = geo.as_crs(extent_crs or raster_crs)
        area = _intersect(area, transform_bounds(given, geo.as_crs(work_crs), *extent, densify_pts=21),
                          f"--extent {','.join(f'{v:g}' for v in extent)} ({geo.crs_label(given)})")
    if mask is not None:
        area = _intersect(area, mask.bounds, "the mask polygons")
    return area


def _intersect(a: Bounds, b: Bounds, what: str) -> Bounds:
    out = (max(a[0], b[0]), max(a[1], b[1]), min(a[2], b[2]), min(a[3], b[3]))
    if out[0] >= out[2] or out[1] >= out[3]:
        raise TilingError(f"{what} does not overlap the raster; check the coordinates and their CRS (--extent-crs)")
    return out


def read_mask(path: str | Path) -> tuple[shapely.Geometry, str]:
    """All polygons of the first layer of an OGR vector, unioned, with the layer's CRS (WKT)."""
    from osgeo import ogr

    path = Path(path)
    if not path.exists():
        raise SourceError(f"mask {path} does not exist")
    ds = ogr.Open(str(path))
    if ds is None or ds.GetLayerCount() == 0:
        raise SourceError(f"mask {path} cannot be read as a vector layer (GeoPackage, Shapefile, GeoJSON, ...)")
    layer = ds.GetLayer(0)
    srs = layer.GetSpatialRef()
    if srs is None:
        raise SourceError(f"mask {path} has no CRS; assign one (QGIS: Layer > Set CRS) and save it again")
    polygons = []
    for feature in layer:
        geom = feature.GetGeometryRef()
        if geom is not None:
            polygons.extend(_polygons(shapely.from_wkb(bytes(geom.ExportToIsoWkb()))))
    if not polygons:
        raise SourceError(f"mask {path} has no polygons in its first layer '{layer.GetName()}'")
    return shapely.union_all(polygons), srs.ExportToWkt()


def mask_in_crs(geometry: shapely.Geometry, geometry_crs: str, crs: str) -> shapely.Geometry:
    """Reproject mask polygons (holes kept) to ``crs``."""
    moved = shape(transform_geom(geo.as_crs(geometry_crs), geo.as_crs(crs), mapping(geometry)))
    return shapely.make_valid(moved) if not moved.is_valid else moved


def mask_centre_lonlat(geometry: shapely.Geometry, geometry_crs: str) -> tuple[float, float]:
    x0, y0, x1, y1 = geometry.bounds
    (lon,), (lat,) = geo.to_lonlat(geometry_crs, [(x0 + x1) / 2], [(y0 + y1) / 2])
    return lon, lat


def mask_filter(geometry: shapely.Geometry):
    """A tile filter: True for tile centres inside the polygons (holes excluded)."""
    shapely.prepare(geometry)

    def inside(xs: np.ndarray, y: float) -> np.ndarray:
        return shapely.contains_xy(geometry, xs, np.full_like(xs, y))

    return inside


def _polygons(geometry: shapely.Geometry) -> list[shapely.Geometry]:
    if geometry.geom_type in ("Polygon", "MultiPolygon"):
        return [geometry]
    if geometry.geom_type == "GeometryCollection":
        return [g for part in geometry.geoms for g in _polygons(part)]
    return []
