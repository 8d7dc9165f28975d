"""Data files: pairs CSVs (photo, position, split), label files (per-photo distributions), EXIF geotags."""
