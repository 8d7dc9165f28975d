"""Synthetic cross-view world with known truth (``xview synth``).

No real paired dataset or pretrained weights can be downloaded where xview is built and tested,
so it makes its own world: a procedural land-cover map rendered as an overhead GeoTIFF in a real
projected CRS, ground photos rendered from points in it (content depends on the heading), and
each photo's true label distributions. Everything it writes is labelled synthetic.

Stages, one a module: ``params`` -> ``georef`` -> ``landcover`` (+ ``roads``) -> ``objects`` ->
``overhead`` -> ``photos`` -> ``labels`` -> ``files``; ``world.make_world`` runs them all,
``preview`` draws PNGs of the result, ``exif`` writes and reads GPS position and heading.
"""

from xview_engine.synth.params import SynthParams
from xview_engine.synth.world import make_world

__all__ = ["SynthParams", "make_world"]
