"""Where a model's knowledge comes from, and whether it can mean anything on a given raster.

A model distilled on ``xview synth``'s procedural world (the shipped default, or any model whose
manifest says ``training.synthetic``) has only ever seen that world's flat colours: on a real aerial
image it still answers ("P(ocean) up to 0.58" over snow and forest), and the answer means nothing.
``xview synth`` tags its GeoTIFFs ``SYNTHETIC=yes``, so the mismatch can be told before anyone trusts
a map: ``synthetic_mismatch`` gives the warning to show, or None.
"""

from __future__ import annotations

import os
from typing import Optional

from xview_engine.model.manifest import Manifest

REAL_MODEL_HOWTO = ("to map real imagery, label real geotagged photos with real teachers and train a model "
                    "(xview teach, then xview train distill; see 'Teachers, training and the demo' in the README)")


def trained_on_synthetic(manifest: Manifest) -> bool:
    """Whether the manifest's training provenance says the model learned from a synthetic world."""
    return bool(manifest.training.get("synthetic"))


def is_synthetic_raster(path: Optional[str | os.PathLike]) -> bool:
    """Whether ``path`` is a GeoTIFF written by ``xview synth`` (tag SYNTHETIC=yes); False for anything else."""
    if not path or not os.path.isfile(path):
        return False
    import rasterio
    from rasterio.errors import RasterioError

    try:
        with rasterio.open(path) as ds:
            return ds.tags().get("SYNTHETIC") == "yes"
    except RasterioError:
        return False


def synthetic_mismatch(manifest: Manifest, raster: Optional[str | os.PathLike]) -> Optional[str]:
    """The warning for a synthetic-world model run on a raster that is not a synthetic world, else None.

    ``raster`` is a file path, or None for a layer that is no file (an XYZ or WMS basemap: real imagery).
    """
    if not trained_on_synthetic(manifest) or is_synthetic_raster(raster):
        return None
    return ("this model was trained on a synthetic world only (its manifest's training provenance says so) "
            "and this raster is not one: the results mean nothing on real imagery; " + REAL_MODEL_HOWTO)
