"""Label spaces of the synthetic world and each photo's true labels, derived from what it shows.

Three spaces mirror the real teachers' outputs, with names *exactly* as the real label lists
spell them, so a real teacher's output can later be subset into them:

- ``scene``: Places365 category names (``categories_places365.txt`` without the ``/x/`` prefix);
- ``object``: ImageNet-1k class names as torchvision lists them;
- ``count``: COCO category names as torchvision's Faster R-CNN lists them.

Derivation: the renderer reports, per pixel, the land-cover class or object instance seen. The
share of non-sky pixels of each *evidence* (sand, water, cars, tall buildings, ...) is mixed by a
fixed weight table into a score per label; ``p = (score + eps) ** SHARPEN`` normalised gives the
scene and object distributions (so a view of mostly parking lot with some beach is mostly
``parking_lot``, a little ``beach``). Counts are the number of distinct instances of each class
covering at least ``min_pixels`` pixels.

Files (``world.py`` writes them): ``labels.npz`` holds ``scene`` (N, Ks) float32 rows summing
to 1, ``object`` (N, Ko) float32 rows summing to 1, ``count`` (N, Kc) float32 >= 0,
``scene_names`` / ``object_names`` / ``count_names`` (str arrays, column order), ``path`` (photo
paths relative to the world folder), ``lat``, ``lon``, ``heading``, ``fov``, ``x``, ``y`` (CRS
coordinates) and ``split`` (``train`` / ``val`` / ``test``). ``labels.json`` holds the same per
photo as ``{name: value}`` dictionaries.
"""

from __future__ import annotations

import numpy as np

from xview_engine.synth import landcover as lc
from xview_engine.synth import objects as ob
from xview_engine.synth.photos import Scene, Seen

SHARPEN = 2.0
EPS = 1e-3
EVIDENCE = (
    "water", "sand", "forest", "grass", "farmland", "road", "parking", "building_low", "building_tall",
    "tree", "car", "truck", "bus", "boat", "person", "bench", "traffic light",
)
SCENE_WEIGHTS: dict[str, dict[str, float]] = {
    "beach": {"sand": 1.0, "water": 0.3, "person": 2.0},
    "coast": {"water": 0.55, "sand": 0.35},
    "ocean": {"water": 0.9},
    "harbor": {"boat": 6.0, "water": 0.1},
    "parking_lot": {"parking": 1.0, "car": 1.0},
    "highway": {"road": 0.5, "truck": 3.0, "bus": 2.0},
    "street": {"road": 0.45, "building_low": 0.2, "building_tall": 0.2, "traffic light": 8.0, "person": 2.0},
    "downtown": {"building_tall": 1.2},
    "residential_neighborhood": {"building_low": 1.0, "grass": 0.12},
    "park": {"grass": 0.8, "bench": 6.0, "person": 1.0},
    "forest_path": {"forest": 0.9, "tree": 0.4},
    "forest/broadleaf": {"tree": 0.9},
    "field/cultivated": {"farmland": 1.0},
}
OBJECT_WEIGHTS: dict[str, dict[str, float]] = {
    "seashore": {"sand": 1.0, "water": 0.3},
    "sandbar": {"sand": 0.35, "water": 0.3},
    "lakeside": {"water": 0.5, "tree": 0.15},
    "breakwater": {"water": 0.35},
    "dock": {"boat": 2.0, "water": 0.05},
    "speedboat": {"boat": 3.0},
    "yawl": {"boat": 1.5},
    "canoe": {"boat": 1.0},
    "sports car": {"car": 0.8},
    "cab": {"car": 0.6, "road": 0.05},
    "minivan": {"car": 0.8},
    "beach wagon": {"car": 0.6},
    "pickup": {"car": 0.3, "truck": 0.5},
    "trailer truck": {"truck": 1.2},
    "moving van": {"truck": 0.6},
    "school bus": {"bus": 1.2},
    "trolleybus": {"bus": 0.6},
    "parking meter": {"parking": 0.6},
    "traffic light": {"traffic light": 6.0, "road": 0.05},
    "street sign": {"road": 0.5},
    "park bench": {"bench": 5.0, "grass": 0.2},
    "picket fence": {"building_low": 0.4, "grass": 0.1},
    "patio": {"building_low": 0.4},
    "tile roof": {"building_low": 0.5},
    "church": {"building_tall": 0.4},
    "palace": {"building_tall": 0.5},
    "valley": {"tree": 0.6, "forest": 0.4},
    "alp": {"tree": 0.2, "grass": 0.1},
    "worm fence": {"farmland": 0.3, "grass": 0.2},
    "hay": {"farmland": 0.6},
    "harvester": {"farmland": 0.3},
    "swimming trunks": {"person": 1.0, "sand": 0.05},
}
COUNT_KINDS: dict[str, int] = {
    "person": ob.PERSON, "car": ob.CAR, "truck": ob.TRUCK, "bus": ob.BUS, "boat": ob.BOAT,
    "bench": ob.BENCH, "traffic light": ob.TRAFFIC_LIGHT,
}
SCENE_NAMES = tuple(SCENE_WEIGHTS)
OBJECT_NAMES = tuple(OBJECT_WEIGHTS)
COUNT_NAMES = tuple(COUNT_KINDS)
TALL_M = 12.0


def _matrix(weights: dict[str, dict[str, float]]) -> np.ndarray:
    mat = np.zeros((len(EVIDENCE), len(weights)), np.float64)
    for j, row in enumerate(weights.values()):
        for name, w in row.items():
            mat[EVIDENCE.index(name), j] = w
    return mat


SCENE_MATRIX, OBJECT_MATRIX = _matrix(SCENE_WEIGHTS), _matrix(OBJECT_WEIGHTS)
_CLASS_EVIDENCE = {lc.WATER: "water", lc.SAND: "sand", lc.FOREST: "forest", lc.GRASS: "grass",
                   lc.FARMLAND: "farmland", lc.ROAD: "road", lc.PARKING: "parking", lc.BUILDING: "building_low"}
_KIND_EVIDENCE = {ob.TREE: "tree", ob.CAR: "car", ob.TRUCK: "truck", ob.BUS: "bus", ob.BOAT: "boat",
                  ob.PERSON: "person", ob.BENCH: "bench", ob.TRAFFIC_LIGHT: "traffic light"}


def evidence(scene: Scene, seen: Seen) -> np.ndarray:
    """Share of the photo's non-sky pixels showing each ``EVIDENCE`` item."""
    out = np.zeros(len(EVIDENCE), np.float64)
    g = seen.ground_class[seen.ground_class >= 0]
    for code, name in _CLASS_EVIDENCE.items():
        out[EVIDENCE.index(name)] += np.count_nonzero(g == code)
    inst = seen.instance[seen.instance >= 0]
    kinds = scene.inst_kind[inst]
    for code, name in _KIND_EVIDENCE.items():
        out[EVIDENCE.index(name)] += np.count_nonzero(kinds == code)
    building = kinds == ob.BUILDING
    tall = scene.inst_height[inst[building]] >= TALL_M
    out[EVIDENCE.index("building_tall")] += np.count_nonzero(tall)
    out[EVIDENCE.index("building_low")] += np.count_nonzero(~tall)
    total = g.size + inst.size
    return out / total if total else out


def _distribution(ev: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    p = (ev @ matrix + EPS) ** SHARPEN
    return (p / p.sum()).astype(np.float32)


def truth(scene: Scene, seen: Seen) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(scene distribution, object distribution, object counts) of one rendered photo."""
    ev = evidence(scene, seen)
    min_pixels = max(2, seen.instance.size // 20000)
    ids, sizes = np.unique(seen.instance[seen.instance >= 0], return_counts=True)
    big = scene.inst_kind[ids[sizes >= min_pixels]]
    counts = np.array([np.count_nonzero(big == k) for k in COUNT_KINDS.values()], np.float32)
    return _distribution(ev, SCENE_MATRIX), _distribution(ev, OBJECT_MATRIX), counts
