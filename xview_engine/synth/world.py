"""Orchestration: build a world and write it (``make_world``), each stage from its own module.

Stages: ``landcover`` (class map) -> ``objects`` (things standing on it) -> ``overhead`` (RGB) ->
``photos`` (ground views, in memory) -> ``labels`` (truth) -> files. Nothing is written until every
photo is rendered, files are written to temporary names and renamed, so a failed or cancelled run
leaves no partial output. Every random draw comes from generators seeded by ``(seed, stage)`` or
``(seed, photo index)``: the same parameters give the same bytes. A share of the cameras
(``SynthParams.water_photo_share``) stands afloat, on boats and piers, so the sea is photographed too.

Output folder: ``overhead.tif`` (RGB, uint8), ``landcover.tif`` (band 1 class, band 2 object
kind), ``photos/NNNNN.jpg``, ``labels.json`` / ``labels.npz`` (format in ``labels``),
``pairs.csv`` and ``README.txt``.
"""

from __future__ import annotations

import io
import os
import shutil
import tempfile
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Optional

import numpy as np
from PIL import Image

from xview_engine.data.exif import GeoTag, make_exif
from xview_engine.outputs import check_outputs_free
from xview_engine.progress import CancelCheck, ProgressCallback, check_cancel
from xview_engine.synth import files, labels, seasons
from xview_engine.synth import landcover as lc
from xview_engine.synth import objects as ob
from xview_engine.synth.georef import Georef, make_georef
from xview_engine.synth.overhead import render_overhead
from xview_engine.synth.params import SynthParams
from xview_engine.synth.photos import CAMERA_HEIGHT_M, Scene, Shot, render_photo

OUTPUT_NAMES = ("overhead.tif", "landcover.tif", "photos", "labels.json", "labels.npz", "pairs.csv", "README.txt")
PLACE_WEIGHT = {lc.SAND: 3.0, lc.ROAD: 2.0, lc.PARKING: 3.0, lc.GRASS: 2.0, lc.FOREST: 1.0, lc.FARMLAND: 1.0}
WATER_BASE_WEIGHT, WATER_REACH_M = 0.4, 250.0  # afloat: weight 0.4 far out, 1.4 at the shore
DECK_HEIGHT_M = (2.0, 4.5)  # camera height above the water on boats, piers and ferries
STAGE_WEIGHTS = (0.1, 0.05, 0.05)  # share of the progress bar for land cover, objects, overhead


@dataclass(frozen=True)
class World:
    """A world in memory: everything the files are made of."""

    params: SynthParams
    georef: Georef
    land: lc.LandCover
    objects: ob.Objects
    rgb: np.ndarray

    @property
    def scene(self) -> Scene:
        o = self.objects
        return Scene(self.land.classes, o.instance, o.dome, self.rgb, o.inst_kind, o.inst_height,
                     o.inst_colour, self.params.gsd)


@dataclass(frozen=True)
class Photos:
    shots: list[Shot]
    split: np.ndarray  # (N,) str
    jpegs: list[bytes]
    scene: np.ndarray
    object: np.ndarray
    count: np.ndarray
    times: Optional[list[datetime]] = None  # when each photo was taken (a world with months)
    transient: Optional[dict[str, np.ndarray]] = None  # seasons.TRANSIENT_HEADS: (N, 2) each


def build_world(p: SynthParams) -> World:
    """Land cover, objects and overhead image of one world (no photos, nothing written)."""
    georef = make_georef(p)
    land = lc.make_landcover(p, np.random.default_rng([p.seed, 1]))
    objs = ob.place_objects(land, p.gsd, np.random.default_rng([p.seed, 2]))
    rgb = render_overhead(land, objs, p.gsd, np.random.default_rng([p.seed, 3]))
    return World(params=p, georef=georef, land=land, objects=objs, rgb=rgb)


def split_of(p: SynthParams, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """Spatial split: blocks of the world drawn to train / val / test (about 80 / 8 / 12 %)."""
    b = p.split_blocks
    n_blocks = b * b
    order = np.random.default_rng([p.seed, 4]).permutation(n_blocks)
    n_test, n_val = max(1, round(0.12 * n_blocks)), max(1, round(0.08 * n_blocks))
    names = np.full(n_blocks, "train", dtype="<U5")
    names[order[:n_test]] = "test"
    names[order[n_test:n_test + n_val]] = "val"
    block = (np.asarray(rows) * b // p.size_px).astype(int) * b + (np.asarray(cols) * b // p.size_px).astype(int)
    return names[np.clip(block, 0, n_blocks - 1)]


def _free_grid(world: World) -> tuple[np.ndarray, tuple[np.ndarray, np.ndarray], int]:
    """Candidate camera pixels on a subsampled grid: nothing standing there, and away from block
    borders so that a photo's overhead tile does not straddle two splits. Returns (ok, index, stride)."""
    p = world.params
    n = p.size_px
    block_px = n / p.split_blocks
    margin = min(60.0 / p.gsd, block_px * 0.1)
    pos = np.arange(n)
    away = np.abs((pos + 0.5) / block_px - np.round((pos + 0.5) / block_px)) * block_px > margin
    stride = max(1, n // 1500)
    sub = np.ix_(pos[::stride], pos[::stride])
    ok = away[::stride][:, None] & away[::stride][None, :] & (world.objects.kind[sub] == ob.NONE)
    return ok, sub, stride


def _draw(rng: np.random.Generator, weight: np.ndarray, k: int, stride: int) -> tuple[np.ndarray, np.ndarray]:
    """``k`` grid cells drawn with probability proportional to ``weight``; (row, col) pixel centres."""
    flat = np.flatnonzero(weight)
    if k == 0 or not len(flat):
        return np.zeros(0), np.zeros(0)
    pick = rng.choice(flat, size=k, p=weight.ravel()[flat] / weight.ravel()[flat].sum())
    rows, cols = np.divmod(pick, weight.shape[1])
    return rows * stride + 0.5, cols * stride + 0.5  # the centre of the free pixel that was checked


def choose_shots(world: World, rng: np.random.Generator) -> list[Shot]:
    """Camera spots. On land where people stand (beaches, car parks, roads, parks weigh more); a
    share ``water_photo_share`` afloat, from boats, piers and ferries (more near the shore, some far
    out), because real photos are taken at sea too and a model that never saw a photo there can
    only extrapolate over open water. Each spot gets a uniform heading; cameras afloat stand higher."""
    p, land = world.params, world.land
    ok, sub, stride = _free_grid(world)
    classes = land.classes[sub]
    table = np.zeros(8, np.float64)
    for code, w in PLACE_WEIGHT.items():
        table[code] = w
    land_w = table[classes] * ok
    water_w = ((classes == lc.WATER) & ok) * (WATER_BASE_WEIGHT + np.exp(land.shore[sub] / WATER_REACH_M))
    n_water = round(p.photos * p.water_photo_share) if water_w.any() else 0
    n_water = p.photos if not land_w.any() and water_w.any() else n_water
    on_land, afloat = _draw(rng, land_w, p.photos - n_water, stride), _draw(rng, water_w, n_water, stride)
    height = np.concatenate([np.full(len(on_land[0]), CAMERA_HEIGHT_M), rng.uniform(*DECK_HEIGHT_M, len(afloat[0]))])
    order = rng.permutation(len(height))  # afloat photos spread through the list, not all at its end
    rows, cols = (np.concatenate([a, b])[order] for a, b in zip(on_land, afloat))
    height = height[order]
    true_heading = rng.uniform(0, 360, len(rows))
    grid_heading = (true_heading + world.georef.north_grid_deg) % 360
    return [Shot(float(r), float(c), float(h), p.fov, float(z)) for r, c, h, z in zip(rows, cols, grid_heading, height)]


def render_photos(world: World, progress: Optional[ProgressCallback], cancel: Optional[CancelCheck],
                  done0: int, total: int) -> Photos:
    p = world.params
    shots = choose_shots(world, np.random.default_rng([p.seed, 5]))
    scene = world.scene
    lon, lat = world.georef.lonlat(np.array([s.row for s in shots]), np.array([s.col for s in shots]))
    times = seasons.draw_times(len(shots), p.months, np.random.default_rng([p.seed, 7])) if p.months else None
    jpegs, truths, transient = [], [], []
    for i, shot in enumerate(shots):
        check_cancel(cancel)
        cond = seasons.conditions_at(times[i]) if times else None
        img, seen = render_photo(scene, shot, p.photo_shape, np.random.default_rng([p.seed, 6, i]), cond)
        truths.append(labels.truth(scene, seen))
        if cond is not None:
            transient.append(seasons.transient_truth(cond, seen.snowy_share))
        tag = GeoTag(float(lat[i]), float(lon[i]), (shot.heading - world.georef.north_grid_deg) % 360)
        buf = io.BytesIO()
        exif = make_exif(tag, files.DESCRIPTION, times[i] if times else None)
        Image.fromarray(img).save(buf, format="JPEG", quality=88, exif=exif)
        jpegs.append(buf.getvalue())
        if progress:
            progress(done0 + i + 1, total)
    rows = np.array([s.row for s in shots])
    cols = np.array([s.col for s in shots])
    stack = [np.stack([t[k] for t in truths]) if truths else np.zeros((0, len(names)), np.float32)
             for k, names in enumerate((labels.SCENE_NAMES, labels.OBJECT_NAMES, labels.COUNT_NAMES))]
    heads = None
    if times is not None:
        heads = {h: np.stack([t[h] for t in transient]) if transient else np.zeros((0, 2), np.float32)
                 for h in seasons.TRANSIENT_HEADS}
    return Photos(shots, split_of(p, rows, cols), jpegs, *stack, times=times, transient=heads)


def output_paths(out_dir: str | os.PathLike) -> list[Path]:
    return [Path(out_dir) / name for name in OUTPUT_NAMES]


def make_world(p: SynthParams, out_dir: str | os.PathLike, progress: Optional[ProgressCallback] = None,
               cancel: Optional[CancelCheck] = None, overwrite: bool = False) -> World:
    """Build and write a world into ``out_dir`` (created if missing; its parent must exist)."""
    out = Path(out_dir)
    if not out.exists() and not out.parent.exists():
        check_outputs_free([out], overwrite)  # names the missing parent
    check_outputs_free([q for q in output_paths(out) if out.exists()], overwrite)
    make_georef(p)  # a bad CRS fails before any work
    total = p.photos + max(1, int(p.photos * sum(STAGE_WEIGHTS) / (1 - sum(STAGE_WEIGHTS))))
    if progress:
        progress(0, total)
    world = build_world(p)
    check_cancel(cancel)
    done0 = total - p.photos
    if progress:
        progress(done0, total)
    photos = render_photos(world, progress, cancel, done0, total)
    out.mkdir(exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".synth-", dir=out))
    try:
        files.write_all(world, photos, staging, out, overwrite)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    if progress:
        progress(total, total)
    return world
