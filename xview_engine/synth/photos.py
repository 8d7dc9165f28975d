"""Ground-level photos rendered from the world: sky, horizon and what lies in each direction.

A column of pixels looks along one azimuth. The ground below the horizon is the overhead colour
of the point the pixel's ray meets, hazier with distance; along the same azimuth the renderer
samples ``RAY_SAMPLES`` geometric distances for things that stand up (buildings, trees, cars,
boats, people) and raises each to its height, nearer things hiding farther ones (a running minimum
of top rows, resolved for all pixels at once with one ``searchsorted``). Far things are small
because rows scale as height / distance. Panoramas are cylindrical (360 degrees across), and so
is any photo of 180 degrees or more: the columns of the panorama taken at the same spot around its
heading, at the same pixel pitch; narrower fields of view are pinhole photos. The camera stands
``Shot.height`` above the ground or the water (higher on a boat's deck), which sets where the near
ground meets the image. Besides the RGB image it returns, per pixel, the land-cover class or object
instance seen, from which ``labels`` derives the truth.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import numpy as np

from xview_engine.synth import objects as ob
from xview_engine.synth import seasons
from xview_engine.synth.noise import hash01, value_noise
from xview_engine.synth.params import CYLINDRICAL_FROM_DEG
from xview_engine.synth.seasons import Conditions

CAMERA_HEIGHT_M = 1.7
RAY_SAMPLES = 112
MAX_DISTANCE_M = 2000.0
FACADES = np.array([[205, 194, 172], [172, 164, 155], [222, 216, 206], [150, 142, 136], [194, 172, 140]], np.float32)
SKY_TOP, SKY_HORIZON, HAZE = (np.array(c, np.float32) for c in ([72, 122, 192], [188, 206, 226], [176, 190, 204]))


@dataclass(frozen=True)
class Shot:
    """Where a photo is taken (raster row/col of the camera), where it looks, how wide."""

    row: float
    col: float
    heading: float  # degrees clockwise from grid north
    fov: float  # degrees; 360 for a panorama
    height: float = CAMERA_HEIGHT_M  # camera metres above the ground or water (a boat's deck is higher)


@dataclass(frozen=True)
class Scene:
    """The rasters and tables a photo is rendered from (no copies: views of the world's arrays)."""

    classes: np.ndarray
    instance: np.ndarray
    dome: np.ndarray
    rgb: np.ndarray
    inst_kind: np.ndarray
    inst_height: np.ndarray
    inst_colour: np.ndarray
    gsd: float


@dataclass(frozen=True)
class Seen:
    """Per-pixel truth of a photo: land-cover class (-1 sky or object) and instance (-1 none)."""

    ground_class: np.ndarray  # (H, W) int16
    instance: np.ndarray  # (H, W) int32
    snowy_share: float = 0.0  # share of the visible ground under snow (a photo rendered at a time)


def _columns(shot: Shot, height: int, width: int):
    """Azimuth (radians) of each column, its radial focal length in pixels, and the horizon row.

    Either way the photo's centre (between its two middle columns when the width is even) looks
    along ``shot.heading``. A cylindrical photo's columns are ``fov / width`` degrees apart, written
    so that a crop of ``fov`` degrees and ``width`` px and the panorama of ``width x 360 / fov`` px
    give bit-identical azimuths for the columns they share.
    """
    if shot.fov >= CYLINDRICAL_FROM_DEG:
        pitch = np.radians(shot.fov / width)  # radians per column
        offset = (np.arange(width) + 0.5 - width / 2) * pitch
        focal = np.full(width, 1.0 / pitch)
    else:
        f = (width / 2) / np.tan(np.radians(shot.fov) / 2)
        offset = np.arctan((np.arange(width) + 0.5 - width / 2) / f)
        focal = f / np.cos(offset)
    return np.radians(shot.heading) + offset, focal, height * 0.46


def _lookup(scene: Scene, shot: Shot, azimuth: np.ndarray, dist: np.ndarray, clamp: bool):
    """Raster indices of points ``dist`` metres along ``azimuth``; outside the map -> -1 unless clamped."""
    n = scene.classes.shape[0]
    rows = np.floor(shot.row - dist * np.cos(azimuth) / scene.gsd).astype(np.int64)
    cols = np.floor(shot.col + dist * np.sin(azimuth) / scene.gsd).astype(np.int64)
    if clamp:
        return np.clip(rows, 0, n - 1), np.clip(cols, 0, n - 1), np.ones(rows.shape, bool)
    inside = (rows >= 0) & (rows < n) & (cols >= 0) & (cols < n)
    return np.where(inside, rows, 0), np.where(inside, cols, 0), inside


def _standing(scene: Scene, shot: Shot, azimuth, focal, horizon, height: int):
    """Which ray sample (if any) each pixel shows, and that sample's distance."""
    dist = np.geomspace(0.8, MAX_DISTANCE_M, RAY_SAMPLES)[:, None]
    rows, cols, inside = _lookup(scene, shot, azimuth[None, :], dist, clamp=False)
    inst = np.where(inside, scene.instance[rows, cols], -1)
    h = np.where(inst >= 0, scene.inst_height[np.maximum(inst, 0)], 0.0)
    tree = (inst >= 0) & (scene.inst_kind[np.maximum(inst, 0)] == ob.TREE)
    h = np.where(tree, h * (0.35 + 0.65 * scene.dome[rows, cols] / 255.0), h)  # tapering crowns
    top = np.where(inst >= 0, horizon - focal[None, :] * (h - shot.height) / dist, 1e5)
    running = np.minimum.accumulate(np.clip(top, -1e5, 1e5), axis=0)
    width = azimuth.shape[0]
    big = 4e5
    keys = (-running.T + big * np.arange(width)[:, None]).ravel()
    y = np.arange(height, dtype=np.float64)[:, None] + 0.5
    hits = np.searchsorted(keys, -y + big * np.arange(width)[None, :], side="left")
    k = hits - RAY_SAMPLES * np.arange(width)[None, :]
    valid = k < RAY_SAMPLES
    k = np.minimum(k, RAY_SAMPLES - 1)
    cols_idx = np.broadcast_to(np.arange(width), k.shape)
    d = dist[k, 0]
    ground_d = np.where(y > horizon, shot.height * focal[None, :] / np.maximum(y - horizon, 1e-6), np.inf)
    valid &= d <= ground_d
    return np.where(valid, inst[k, cols_idx], -1), d


def _shade_objects(scene: Scene, shot: Shot, img, inst, d, azimuth, focal, horizon, y, rng,
                   cond: Optional[Conditions] = None) -> np.ndarray:
    """Colour object pixels by kind: facades with windows, crowns over trunks, car glass, ...; the
    window pixels (a mask of the image) are returned, for lighting them at night."""
    m = inst >= 0
    windows = np.zeros(inst.shape, bool)
    if not m.any():
        return windows
    i = inst[m]
    kind = scene.inst_kind[i]
    z = shot.height + (horizon - y[m]) * d[m] / focal[np.nonzero(m)[1]]
    col = scene.inst_colour[i].astype(np.float32)
    b = kind == ob.BUILDING
    col[b] = FACADES[i[b] % len(FACADES)]
    along = (azimuth[np.nonzero(m)[1]] * d[m]) % 2.6
    window = b & (z % 3.1 > 1.0) & (z % 3.1 < 2.3) & (along > 0.7) & (along < 1.9) & (z > 0.8)
    col[window] = (62, 72, 88)
    windows[m] = window
    tree = kind == ob.TREE
    if cond is not None:
        col[tree] = seasons.season_crowns(col[tree], cond)
    col[tree] *= (0.65 + 0.35 * np.clip(z[tree] / 8.0, 0, 1))[:, None]
    glass = np.isin(kind, (ob.CAR, ob.TRUCK, ob.BUS)) & (z > 0.95) & (z < 1.38)
    col[glass] = (48, 56, 66)
    wheels = np.isin(kind, (ob.CAR, ob.TRUCK, ob.BUS)) & (z < 0.35)
    col[wheels] = (25, 25, 25)
    person = kind == ob.PERSON
    col[person & (z < 0.9)] = (40, 44, 70)
    col[person & (z > 1.5)] = (205, 160, 130)
    col[(kind == ob.BOAT) & (z < 0.5)] = (60, 70, 90)
    light = 0.78 + 0.22 * np.cos(azimuth[np.nonzero(m)[1]] - np.radians(225.0))
    col *= light[:, None] * (0.93 + 0.14 * rng.random((len(i), 1), dtype=np.float32))
    fog = 1.0 - np.exp(-d[m] / 1400.0)
    img[m] = col * (1 - fog[:, None]) + HAZE * fog[:, None]
    return windows


def _grain(shot: Shot, azimuth: np.ndarray, dist: np.ndarray, gsd: float) -> np.ndarray:
    """Sub-pixel ground texture (10 cm cells), so nearby ground is not a mosaic of map pixels."""
    y = np.floor((shot.row * gsd - dist * np.cos(azimuth)) * 10).astype(np.int64)
    x = np.floor((shot.col * gsd + dist * np.sin(azimuth)) * 10).astype(np.int64)
    return (0.9 + 0.2 * hash01(y + (1 << 40), x + (1 << 40), salt=7)).astype(np.float32)


def render_photo(scene: Scene, shot: Shot, shape: tuple[int, int], rng: np.random.Generator,
                 cond: Optional[Conditions] = None):
    """Render one photo: (H, W, 3) uint8 RGB and its per-pixel ``Seen`` truth.

    ``cond`` renders it at a time (``seasons``: snow, leaves, light); ``Seen.snowy_share`` then says
    how much of the visible ground lies under snow. Without it the photo is the timeless one.
    """
    height, width = shape
    azimuth, focal, horizon = _columns(shot, height, width)
    y = np.arange(height, dtype=np.float64)[:, None] + 0.5
    inst, d = _standing(scene, shot, azimuth, focal, horizon, height)
    below = np.broadcast_to(y > horizon, (height, width))
    ground_d = np.minimum(shot.height * focal[None, :] / np.maximum(y - horizon, 1e-6), MAX_DISTANCE_M)
    ground_d = np.broadcast_to(ground_d, (height, width))
    rows, cols, _ = _lookup(scene, shot, np.broadcast_to(azimuth, (height, width)), ground_d, clamp=True)
    img = np.empty((height, width, 3), np.float32)
    elev = np.clip((horizon - y) / horizon, 0, 1)
    sky = SKY_HORIZON * (1 - elev[..., None]) + SKY_TOP * elev[..., None]
    cloud = np.clip(value_noise(rng, (height, width), width / 10) * 1.6 - 0.2, 0, 1) * elev
    img[:] = sky * (1 - cloud[..., None]) + np.float32(238) * cloud[..., None]
    g = below & (inst < 0)
    fog = 1.0 - np.exp(-ground_d[g] / 1400.0)
    grain = _grain(shot, np.broadcast_to(azimuth, (height, width))[g], ground_d[g], scene.gsd)
    ground = scene.rgb[rows[g], cols[g]] * grain[:, None]
    snowy_share = 0.0
    if cond is not None:
        ground, snowy = seasons.season_ground(ground, scene.classes[rows[g], cols[g]], rows[g], cols[g], cond)
        snowy_share = float(snowy.mean()) if snowy.size else 0.0
    img[g] = ground * (1 - fog[:, None]) + HAZE * fog[:, None]
    windows = _shade_objects(scene, shot, img, inst, d, azimuth, focal, horizon,
                             np.broadcast_to(y, (height, width)), rng, cond)
    if cond is not None:
        seasons.light(img, ~below & (inst < 0), windows, cond)
    img *= rng.uniform(0.92, 1.08, 3).astype(np.float32)
    img += rng.normal(0, 2.5, img.shape).astype(np.float32)
    ground_class = np.where(g, scene.classes[rows, cols], -1).astype(np.int16)
    return np.clip(img, 0, 255).astype(np.uint8), Seen(ground_class=ground_class, instance=inst.astype(np.int32),
                                                       snowy_share=snowy_share)
