"""Published weights on demand: a registry of known files, a checked cache, downloads that resume.

Public API (teacher and backbone specs, ``xview weights``, the plugin's "Get weights", ``xview doctor``)::

    from xview_engine.weights import weights_path, fetch, weight_file, REGISTRY, cache_states
    weights_path("places365:resnet50")   # the checked cached file; downloaded when missing and online
    fetch("imagenet:vgg16", progress=cb, cancel=check)   # explicit download with progress and cancel
    weight_file("imagenet:resnet50")     # a --backbone-weights argument: a registry name or a path

Standard library only: torch is never imported here. Modules: ``registry`` (names, URLs, sizes,
digests, licences, who uses each), ``store`` (the cache folder, states, the digest check before use),
``download`` (HTTP with Range resume and timeouts), ``fetch`` (the three together).
"""

from xview_engine.weights.fetch import OFFLINE_ENV, fetch, missing_message, offline, weight_file, weights_path
from xview_engine.weights.registry import REGISTRY, WeightFile, find, lookup
from xview_engine.weights.store import CacheState, cache_state, cache_states, cached_path, weights_dir

__all__ = ["OFFLINE_ENV", "REGISTRY", "CacheState", "WeightFile", "cache_state", "cache_states", "cached_path",
           "fetch", "find", "lookup", "missing_message", "offline", "weight_file", "weights_dir", "weights_path"]
