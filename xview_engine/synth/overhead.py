"""Overhead RGB rendering of a land-cover map and its objects, as a camera would see it from above.

Colours come from per-class palettes modulated by smooth noise (soil moisture, wear, lighting),
per-parcel crops, roof colours, lane and stall markings, tree crowns with domed shading, and
shadows cast by height towards the north-east. Per-pixel sensor noise on top means no single
pixel colour tells the class: a model has to use texture and context, as with real imagery.
"""

from __future__ import annotations

import numpy as np

from xview_engine.synth import landcover as lc
from xview_engine.synth import objects as ob
from xview_engine.synth.noise import fractal_noise, value_noise

BASE = np.array(
    [  # water, sand, forest floor, grass, farmland, building, road, parking
        [40, 82, 105], [206, 190, 152], [62, 74, 44], [98, 128, 66],
        [150, 150, 90], [150, 140, 130], [92, 92, 94], [112, 112, 114],
    ],
    np.float32,
)
CROPS = np.array([[148, 160, 78], [196, 176, 112], [128, 104, 74], [96, 132, 60], [204, 192, 134]], np.float32)


def _texture_tile(rng: np.random.Generator, size: int = 512) -> np.ndarray:
    """A (size, size, 3) fine-grain texture, tiled over the map (cheap and seam-free enough)."""
    fine = np.stack([value_noise(rng, (size, size), 3) for _ in range(3)], -1) * 10
    return fine + rng.normal(0.0, 7.0, (size, size, 3)).astype(np.float32)


def _tiled(tile: np.ndarray, n: int) -> np.ndarray:
    reps = int(np.ceil(n / tile.shape[0]))
    return np.tile(tile, (reps, reps, 1))[:n, :n]


def _ground(land: lc.LandCover, gsd: float, rng: np.random.Generator) -> np.ndarray:
    rgb = BASE[land.classes]
    depth = np.clip(-land.shore / 90.0, 0.0, 1.0)[..., None]
    water = land.classes == lc.WATER
    rgb[water] = (np.array([72, 140, 142], np.float32) * (1 - depth) + BASE[lc.WATER] * depth)[water]
    wet = (land.classes == lc.SAND) & (land.shore < 6)
    rgb[wet] *= 0.82
    farm = np.nonzero(land.classes == lc.FARMLAND)
    crop = lc.parcel_hash(farm[0], farm[1], gsd, salt=int(rng.integers(1 << 30)))
    stripe = 1.0 + 0.06 * np.sin((farm[0] * 0.83 + farm[1] * 0.56) * gsd * 2.1)
    rgb[farm] = CROPS[(crop * len(CROPS)).astype(int)] * stripe[:, None]
    rgb[land.marking] = (228, 226, 214)
    park = np.nonzero(land.classes == lc.PARKING)
    _, _, _, v, in_row = ob.stall_layout(park[0], park[1], gsd)
    line = in_row & ((v < 0.5 * gsd + 0.1) | (v > 2.6 - 0.5 * gsd - 0.1))
    rgb[park[0][line], park[1][line]] = (214, 214, 206)
    return rgb


def _objects(rgb: np.ndarray, objs: ob.Objects, land: lc.LandCover, rng: np.random.Generator) -> None:
    has = objs.instance >= 0
    idx = objs.instance[has]
    colour = objs.inst_colour[idx].astype(np.float32)
    kind = objs.kind[has]
    tree = kind == ob.TREE
    dome = objs.dome[has][tree].astype(np.float32)[:, None] / 255.0
    colour[tree] *= 0.55 + 0.6 * dome
    building = kind == ob.BUILDING
    rows, cols = np.nonzero(has)
    ridge = ((rows + cols) % 2 == 0)  # a faint roof-tile grain
    colour[building & ridge] *= 0.93
    car = (kind == ob.CAR) | (kind == ob.TRUCK) | (kind == ob.BUS)
    colour[car] *= 0.9 + 0.2 * rng.random((int(car.sum()), 1), dtype=np.float32)
    rgb[has] = colour


def _shadows(rgb: np.ndarray, objs: ob.Objects, gsd: float) -> None:
    """Sun in the south-west at 45 degrees: a pixel is shaded when something taller stands towards it."""
    n = rgb.shape[0]
    height = np.zeros((n, n), np.float32)
    has = objs.instance >= 0
    height[has] = objs.inst_height[objs.instance[has]]
    height[objs.kind == ob.TREE] = np.minimum(height[objs.kind == ob.TREE], 5.0)  # crowns, not poles
    shade = np.zeros((n, n), bool)
    for step_m in (0.7, 1.5, 2.5, 4, 6, 9, 13, 18, 25, 34, 46):
        s = round(step_m / gsd / np.sqrt(2))
        if s < 1 or s >= n:
            continue
        # the caster lies s pixels south-west of the shaded pixel: (row + s, col - s)
        shade[:-s, s:] |= height[s:, :-s] > step_m
    shade &= height < 0.5  # roofs and crowns are lit
    rgb[shade] *= 0.58


def render_overhead(land: lc.LandCover, objs: ob.Objects, gsd: float, rng: np.random.Generator) -> np.ndarray:
    """(size, size, 3) uint8 RGB of the whole world."""
    n = land.classes.shape[0]
    rgb = _ground(land, gsd, rng)
    _objects(rgb, objs, land, rng)
    _shadows(rgb, objs, gsd)
    light = 1.0 + 0.12 * fractal_noise(rng, (n, n), [400 / gsd, 120 / gsd, 40 / gsd])
    rgb *= light[..., None]
    rgb += _tiled(_texture_tile(rng), n)
    return np.clip(rgb, 0, 255).astype(np.uint8)
