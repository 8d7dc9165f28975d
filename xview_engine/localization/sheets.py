"""Pictures of tiles and photos: chips cut from an index's raster, and contact sheets.

A chip is a tile's footprint at the model's resolution, cut from the raster the index was built on
(``ChipSource``, in the index grid CRS), as 8-bit RGB (``chip_rgb``) or a PNG (``write_chip``).
A contact sheet is a grid of thumbnails, each with a one-line caption under it (``image_sheet``);
every sheet xview writes goes through it: the photos found for a tile (``photo_search``), the
easiest matched and hardest unmatched pairs of a verification (``verification_report``).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional, Union

import numpy as np

from xview_engine.errors import LabelFileError
from xview_engine.outputs import atomic_output

if TYPE_CHECKING:
    from xview_engine.localization.index import TileIndex

THUMB_PX = 160
CAPTION_PX = 16
COLUMNS = 4
MISSING_GREY = (200, 200, 200)

Picture = Union[Path, np.ndarray, None]  # a file, an (H, W, 3) uint8 array, or None: a grey cell


class ChipSource:
    """The raster to cut chips from, in the index grid CRS (default: the raster recorded in the index)."""

    def __init__(self, index: TileIndex, raster: Optional[str] = None):
        self.path = raster or (index.header.get("raster") or {}).get("path")
        self.index = index
        self.source: Any = None

    @property
    def available(self) -> bool:
        return bool(self.path) and Path(self.path).is_file()

    def __enter__(self) -> Any:
        from xview_engine.raster.source import RasterioSource

        if not self.available:
            raise LabelFileError(f"the raster of index {self.index.path} ({self.path}) is not there to cut chips "
                                 "from; give it with --raster")
        spec = self.index.manifest.input
        self.source = RasterioSource(self.path, len(spec.bands), spec.bands, work_crs=self.index.grid.crs)
        return self.source

    def __exit__(self, *exc: object) -> None:
        if self.source is not None:
            self.source.close()


def chip_rgb(source: Any, index: TileIndex, tile: int) -> np.ndarray:
    """The tile's footprint at the model's resolution as (px, px, 3) uint8 (first three bands; black off the raster)."""
    grid = index.grid
    x, y = index.xy[tile]
    w, h = grid.tile_size_xy
    pixels, valid = source.read_window((x - w / 2, y - h / 2, x + w / 2, y + h / 2), (grid.tile_px, grid.tile_px))
    rgb = np.repeat(pixels[:1], 3, axis=0) if pixels.shape[0] < 3 else pixels[:3]
    image = (np.clip(np.moveaxis(rgb, 0, -1), 0, 1) * 255).round().astype(np.uint8)
    image[~valid] = 0
    return image


def write_chip(source: Any, index: TileIndex, tile: int, path: Path) -> None:
    """The tile's chip as an 8-bit PNG."""
    from PIL import Image

    with atomic_output(path) as tmp:
        Image.fromarray(chip_rgb(source, index, tile)).save(tmp, format="PNG")


def image_sheet(cells: Sequence[Optional[tuple[Picture, str]]], path: Path, columns: int = COLUMNS) -> Path:
    """A PNG grid of ``(picture, caption)`` cells, row by row (a None cell is left blank); thumbnails keep
    their aspect ratio inside ``THUMB_PX`` squares, each caption is written under its thumbnail."""
    from PIL import Image, ImageDraw

    rows = max(1, -(-len(cells) // columns))
    cell_h = THUMB_PX + CAPTION_PX
    sheet = Image.new("RGB", (columns * THUMB_PX, rows * cell_h), "white")
    draw = ImageDraw.Draw(sheet)
    for n, cell in enumerate(cells):
        if cell is None:
            continue
        picture, caption = cell
        x, y = (n % columns) * THUMB_PX, (n // columns) * cell_h
        thumb = thumbnail(picture)
        sheet.paste(thumb, (x + (THUMB_PX - thumb.width) // 2, y + (THUMB_PX - thumb.height) // 2))
        draw.text((x + 3, y + THUMB_PX + 2), caption, fill="black")
    with atomic_output(path) as tmp:
        sheet.save(tmp, format="PNG")
    return path


def thumbnail(picture: Picture) -> Any:
    """The picture scaled to fit a ``THUMB_PX`` square (small chips enlarged, big photos shrunk); a file
    that cannot be read (a photo moved since, a damaged one: read through the one safe opener) or None
    gives a grey cell."""
    import warnings

    from PIL import Image

    from xview_engine.data.images import read_rgb
    from xview_engine.errors import XviewError, XviewWarning

    if picture is None:
        return Image.new("RGB", (THUMB_PX, THUMB_PX), MISSING_GREY)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", XviewWarning)  # a small tile chip is no photo to warn about
            rgb = picture if isinstance(picture, np.ndarray) else read_rgb(picture)
    except XviewError:
        return Image.new("RGB", (THUMB_PX, THUMB_PX), MISSING_GREY)
    image = Image.fromarray(np.ascontiguousarray(rgb, np.uint8)).convert("RGB")
    scale = (THUMB_PX - 4) / max(image.width, image.height)
    size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
    return image.resize(size, Image.Resampling.NEAREST if scale > 1 else Image.Resampling.LANCZOS)
