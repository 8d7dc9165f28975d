"""xview engine: maps what people would see on the ground from overhead imagery.

Pure Python + torch. Nothing in this package imports Qt or qgis: the CLI, the QGIS dock and the
Processing algorithms are thin adapters over the same functions.
"""

__version__ = "0.1.0"
