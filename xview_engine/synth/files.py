"""Writing a world's files: GeoTIFFs (tiled, compressed), photos, labels, pairs, README.

Byte-for-byte reproducible: no timestamps anywhere (the ``.npz`` zip entries carry a fixed date),
sorted keys, fixed float formatting.
"""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import rasterio

from xview_engine.model.time_features import format_time
from xview_engine.outputs import atomic_output
from xview_engine.synth import labels, seasons
from xview_engine.synth import landcover as lc
from xview_engine.synth import objects as ob

if TYPE_CHECKING:
    from xview_engine.synth.world import Photos, World

DESCRIPTION = "SYNTHETIC image rendered by xview synth (not a real photo)"
CLASS_COLOURS = {lc.WATER: (30, 90, 160), lc.SAND: (230, 210, 150), lc.FOREST: (30, 100, 40),
                 lc.GRASS: (120, 190, 90), lc.FARMLAND: (200, 180, 90), lc.BUILDING: (200, 60, 50),
                 lc.ROAD: (90, 90, 90), lc.PARKING: (160, 160, 170)}
README = """SYNTHETIC cross-view world made by `xview synth` (seed {seed}).

Nothing here is real: the land, the overhead image and the ground photos are procedural renders
with known truth, for tests, the demo and training the default model. Coordinates are real
({crs}) so the files load in any GIS, but no such place looks like this.

overhead.tif   RGB overhead image, {gsd:g} m pixels, {size:g} m x {size:g} m
landcover.tif  band 1 class ({classes}), band 2 object kind ({kinds})
photos/        {n} ground photos (field of view {fov:g} degrees), EXIF GPS position and heading
labels.npz     per photo: scene (Places365 names), object (ImageNet names) distributions and
labels.json    object counts (COCO names); see xview_engine/synth/labels.py for the format
pairs.csv      path, lat, lon (WGS84), heading (degrees from true north), fov, split, x, y (CRS){time_note}
"""
TIME_NOTE = """, time
               (when taken, local ISO 8601, also EXIF DateTimeOriginal); photos are rendered at
               their time (snow in winter, bare trees and fields, night light) and labels.npz
               adds their transient attributes snow, night and foliage (synth/seasons.py)"""


def _profile(world: World, count: int) -> dict:
    return dict(driver="GTiff", width=world.params.size_px, height=world.params.size_px, count=count,
                dtype="uint8", crs=world.georef.crs.to_wkt(), transform=world.georef.transform, tiled=True,
                blockxsize=512, blockysize=512, compress="deflate", zlevel=4, predictor=2,
                num_threads="ALL_CPUS")


def write_rasters(world: World, out: Path) -> None:
    with atomic_output(out / "overhead.tif") as tmp:
        with rasterio.open(tmp, "w", photometric="RGB", **_profile(world, 3)) as dst:
            dst.write(np.moveaxis(world.rgb, -1, 0))
            dst.descriptions = ("red", "green", "blue")
            dst.update_tags(SYNTHETIC="yes", SOURCE="xview synth", SEED=str(world.params.seed))
    with atomic_output(out / "landcover.tif") as tmp:
        with rasterio.open(tmp, "w", **_profile(world, 2)) as dst:
            dst.write(world.land.classes, 1)
            dst.write(world.objects.kind, 2)
            dst.descriptions = ("landcover", "objects")
            dst.write_colormap(1, {k: (*v, 255) for k, v in CLASS_COLOURS.items()})
            dst.update_tags(1, CLASSES=",".join(f"{i}={n}" for i, n in enumerate(lc.CLASS_NAMES)))
            dst.update_tags(2, KINDS=",".join(f"{i}={n}" for i, n in enumerate(ob.KIND_NAMES)))
            dst.update_tags(SYNTHETIC="yes", SOURCE="xview synth", SEED=str(world.params.seed))


def _table(world: World, photos: Photos) -> dict[str, np.ndarray]:
    rows = np.array([s.row for s in photos.shots])
    cols = np.array([s.col for s in photos.shots])
    lon, lat = world.georef.lonlat(rows, cols)
    x, y = world.georef.xy(rows, cols)
    heading = np.array([(s.heading - world.georef.north_grid_deg) % 360 for s in photos.shots])
    return {
        "path": np.array([f"photos/{i:05d}.jpg" for i in range(len(rows))], dtype="<U16"),
        "lat": np.round(lat, 7), "lon": np.round(lon, 7), "heading": np.round(heading, 2),
        "fov": np.full(len(rows), world.params.fov), "x": np.round(x, 2), "y": np.round(y, 2),
        "split": photos.split,
        **({"time": np.array([format_time(t) for t in photos.times], dtype="<U16")}
           if photos.times is not None else {}),
    }


def save_npz(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """``np.savez`` stamps the current time into the zip; this writes a fixed date instead."""
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name, arr in arrays.items():
            buf = io.BytesIO()
            np.lib.format.write_array(buf, np.asarray(arr), allow_pickle=False)
            zf.writestr(zipfile.ZipInfo(f"{name}.npy", date_time=(1980, 1, 1, 0, 0, 0)), buf.getvalue(),
                        compress_type=zipfile.ZIP_DEFLATED)


def write_labels(world: World, photos: Photos, out: Path) -> None:
    table = _table(world, photos)
    names = {"scene": labels.SCENE_NAMES, "object": labels.OBJECT_NAMES, "count": labels.COUNT_NAMES}
    values = {"scene": photos.scene, "object": photos.object, "count": photos.count}
    if photos.transient is not None:
        names.update(seasons.TRANSIENT_HEADS)
        values.update(photos.transient)
    arrays = {**values, **{f"{k}_names": np.array(v) for k, v in names.items()}, **table}
    with atomic_output(out / "labels.npz") as tmp:
        save_npz(tmp, arrays)
    spaces = {"scene": "places365", "object": "imagenet", "count": "coco"}
    doc = {
        "synthetic": True, "seed": world.params.seed,
        "label_spaces": {k: {"source": spaces.get(k, "synthetic transient attribute"), "names": list(v)}
                         for k, v in names.items()},
        "photos": [
            {**{k: (table[k][i].item()) for k in table},
             **{k: {n: round(float(v), 6) for n, v in zip(names[k], values[k][i])} for k in values}}
            for i in range(len(photos.shots))
        ],
    }
    with atomic_output(out / "labels.json") as tmp:
        tmp.write_text(json.dumps(doc, indent=1, sort_keys=False) + "\n", encoding="utf-8")
    with atomic_output(out / "pairs.csv") as tmp, open(tmp, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        timed = "time" in table
        writer.writerow(["path", "lat", "lon", "heading", "fov", "split", "x", "y", *(["time"] if timed else [])])
        for i in range(len(photos.shots)):
            writer.writerow([table["path"][i], f"{table['lat'][i]:.7f}", f"{table['lon'][i]:.7f}",
                             f"{table['heading'][i]:.2f}", f"{table['fov'][i]:g}", table["split"][i],
                             f"{table['x'][i]:.2f}", f"{table['y'][i]:.2f}",
                             *([table["time"][i]] if timed else [])])


def write_photos(photos: Photos, staging: Path, out: Path, overwrite: bool) -> None:
    folder = staging / "photos"
    folder.mkdir()
    for i, data in enumerate(photos.jpegs):
        (folder / f"{i:05d}.jpg").write_bytes(data)
    target = out / "photos"
    if target.exists() and overwrite:
        shutil.rmtree(target)
    os.replace(folder, target)


def write_all(world: World, photos: Photos, staging: Path, out: Path, overwrite: bool) -> None:
    """Write every file (each atomically); the README goes last, so it marks a complete world."""
    write_rasters(world, out)
    write_photos(photos, staging, out, overwrite)
    write_labels(world, photos, out)
    p = world.params
    text = README.format(seed=p.seed, crs=world.georef.crs.to_string(), gsd=p.gsd, size=p.size_m,
                         classes=", ".join(f"{i} {n}" for i, n in enumerate(lc.CLASS_NAMES)),
                         kinds=", ".join(f"{i} {n}" for i, n in enumerate(ob.KIND_NAMES)),
                         n=len(photos.shots), fov=p.fov, time_note=TIME_NOTE if p.months else "")
    with atomic_output(out / "README.txt") as tmp:
        tmp.write_text(text, encoding="utf-8")
