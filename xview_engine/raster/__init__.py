"""Rasters: CRS helpers, band choice, extents and masks, sources, tile grids and GeoTIFF writing."""
