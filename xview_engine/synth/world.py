"""Orchestration: build a world and write it (``make_world``), each stage from its own module.

Stages: ``landcover`` (class map) -> ``objects`` (things standing on it) -> ``overhead`` (RGB) ->
``photos`` (ground views, in memory) -> ``labels`` (truth) -> files. Nothing is written until every
photo is rendered, files are written to temporary names and renamed, so a failed or cancelled run
leaves no partial output. Every random draw comes from generators seeded by ``(seed, stage)`` or
``(seed, photo index)``: the same parameters give the same bytes.

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
from pathlib import Path
from typing import Optional

import numpy as np
from PIL import Image

from xview_engine.outputs import check_outputs_free
from xview_engine.progress import CancelCheck, ProgressCallback, check_cancel
from xview_engine.synth import files, labels
from xview_engine.synth import landcover as lc
from xview_engine.synth import objects as ob
from xview_engine.synth.exif import GeoTag, make_exif
from xview_engine.synth.georef import Georef, make_georef
from xview_engine.synth.overhead import render_overhead
from xview_engine.synth.params import SynthParams
from xview_engine.synth.photos import Scene, Shot, render_photo

OUTPUT_NAMES = ("overhead.tif", "landcover.tif", "photos", "labels.json", "labels.npz", "pairs.csv", "README.txt")
PLACE_WEIGHT = {lc.SAND: 3.0, lc.ROAD: 2.0, lc.PARKING: 3.0, lc.GRASS: 2.0, lc.FOREST: 1.0, lc.FARMLAND: 1.0}
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


def choose_shots(world: World, rng: np.random.Generator) -> list[Shot]:
    """Camera spots where people stand (beaches, car parks, roads, parks weigh more), away from
    block borders so that a photo's overhead tile does not straddle two splits."""
    p, land = world.params, world.land
    n = p.size_px
    weight = np.zeros(8, np.float64)
    for code, w in PLACE_WEIGHT.items():
        weight[code] = w
    block_px = n / p.split_blocks
    margin = min(60.0 / p.gsd, block_px * 0.1)
    pos = np.arange(n)
    away = np.abs((pos + 0.5) / block_px - np.round((pos + 0.5) / block_px)) * block_px > margin
    stride = max(1, n // 1500)
    sub = np.ix_(pos[::stride], pos[::stride])
    ok = away[::stride][:, None] & away[::stride][None, :] & (world.objects.kind[sub] == ob.NONE)
    w = weight[land.classes[sub]] * ok
    flat = np.flatnonzero(w)
    pick = rng.choice(flat, size=p.photos, p=w.ravel()[flat] / w.ravel()[flat].sum()) if p.photos else flat[:0]
    rows, cols = np.divmod(pick, w.shape[1])
    rows = rows * stride + 0.5  # the centre of the free pixel that was checked
    cols = cols * stride + 0.5
    true_heading = rng.uniform(0, 360, len(rows))
    grid_heading = (true_heading + world.georef.north_grid_deg) % 360
    return [Shot(float(r), float(c), float(h), p.fov) for r, c, h in zip(rows, cols, grid_heading)]


def render_photos(world: World, progress: Optional[ProgressCallback], cancel: Optional[CancelCheck],
                  done0: int, total: int) -> Photos:
    p = world.params
    shots = choose_shots(world, np.random.default_rng([p.seed, 5]))
    scene = world.scene
    lon, lat = world.georef.lonlat(np.array([s.row for s in shots]), np.array([s.col for s in shots]))
    jpegs, truths = [], []
    for i, shot in enumerate(shots):
        check_cancel(cancel)
        img, seen = render_photo(scene, shot, p.photo_shape, np.random.default_rng([p.seed, 6, i]))
        truths.append(labels.truth(scene, seen))
        tag = GeoTag(float(lat[i]), float(lon[i]), (shot.heading - world.georef.north_grid_deg) % 360)
        buf = io.BytesIO()
        Image.fromarray(img).save(buf, format="JPEG", quality=88, exif=make_exif(tag, files.DESCRIPTION))
        jpegs.append(buf.getvalue())
        if progress:
            progress(done0 + i + 1, total)
    rows = np.array([s.row for s in shots])
    cols = np.array([s.col for s in shots])
    stack = [np.stack([t[k] for t in truths]) if truths else np.zeros((0, len(names)), np.float32)
             for k, names in enumerate((labels.SCENE_NAMES, labels.OBJECT_NAMES, labels.COUNT_NAMES))]
    return Photos(shots, split_of(p, rows, cols), jpegs, *stack)


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
