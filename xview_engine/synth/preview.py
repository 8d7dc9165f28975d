"""Preview PNGs of a written world: the overhead map, the class map and a contact sheet of photos.

Made from the files on disk, so a preview shows exactly what was written; meant for eyes (and for
keeping the renders believable), not for machines.
"""

from __future__ import annotations

import csv
import os
from pathlib import Path

import numpy as np
import rasterio
from PIL import Image, ImageDraw
from rasterio.enums import Resampling

from xview_engine.data.images import read_rgb
from xview_engine.outputs import atomic_output
from xview_engine.synth.files import CLASS_COLOURS


def _decimated(path: Path, max_px: int, resampling: Resampling) -> np.ndarray:
    with rasterio.open(path) as src:
        scale = max(1, int(np.ceil(max(src.width, src.height) / max_px)))
        shape = (src.count, src.height // scale, src.width // scale)
        return src.read(out_shape=shape, resampling=resampling)


def _save(img: Image.Image, path: Path) -> None:
    with atomic_output(path) as tmp:
        img.save(tmp, format="PNG")


def write_preview(world_dir: str | os.PathLike, out_dir: str | os.PathLike, max_px: int = 1200,
                  n_photos: int = 24) -> list[Path]:
    """Write ``overhead.png``, ``landcover.png`` and ``photos.png`` into ``out_dir``; return their paths."""
    world, out = Path(world_dir), Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    rgb = _decimated(world / "overhead.tif", max_px, Resampling.average)
    _save(Image.fromarray(np.moveaxis(rgb, 0, -1)), out / "overhead.png")
    classes = _decimated(world / "landcover.tif", max_px, Resampling.mode)[0]
    lut = np.zeros((256, 3), np.uint8)
    for code, colour in CLASS_COLOURS.items():
        lut[code] = colour
    _save(Image.fromarray(lut[classes]), out / "landcover.png")
    with open(world / "pairs.csv", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))[:n_photos]
    paths = [out / "overhead.png", out / "landcover.png"]
    if rows:
        _save(_contact_sheet(world, rows), out / "photos.png")
        paths.append(out / "photos.png")
    return paths


def _contact_sheet(world: Path, rows: list[dict]) -> Image.Image:
    thumbs = [Image.fromarray(read_rgb(world / r["path"])) for r in rows]
    w, h = thumbs[0].size
    per_row = 2 if w > h * 2 else 4
    n_rows = int(np.ceil(len(thumbs) / per_row))
    sheet = Image.new("RGB", (per_row * (w + 4), n_rows * (h + 18)), (20, 20, 20))
    draw = ImageDraw.Draw(sheet)
    for i, (thumb, row) in enumerate(zip(thumbs, rows)):
        x, y = (i % per_row) * (w + 4), (i // per_row) * (h + 18)
        sheet.paste(thumb, (x, y + 16))
        draw.text((x + 2, y + 2), f"{Path(row['path']).name} heading {float(row['heading']):.0f} {row['split']}",
                  fill=(230, 230, 230))
    return sheet
