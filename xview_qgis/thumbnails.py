"""Photo thumbnails in the dock, decoded only through the engine's safe opener.

``QPixmap(path)`` would hand any file to Qt's image readers, decompression bombs included; here a
photo is read with ``xview_engine.data.images.read_rgb`` (its declared size checked before any
pixel is decoded, then decoded as every photo the engine reads) and shrunk by Pillow, on any
thread (``read_thumbnail``); only the small RGB array becomes a ``QPixmap``, on the main thread
(``pixmap_from_rgb``). ``photo_table`` puts a few of them, captioned, into an answer panel's rich
text (``ResultPanel.images``), so they scroll with the answer and take no room of their own in the
narrow dock.
"""

from __future__ import annotations

import itertools
import warnings
from html import escape
from pathlib import Path
from typing import NamedTuple, Optional

import numpy as np
from qgis.PyQt.QtGui import QImage, QPixmap

THUMB_PX = 64  # four across a 300 px dock
COLUMNS = 4
_ANSWERS = itertools.count()  # image names new to every answer: a panel never shows a stale picture


class Thumbnail(NamedTuple):
    """One photo for ``photo_table``: its small RGB array (None: unreadable) and its caption."""

    rgb: Optional[np.ndarray]
    caption: str


def read_thumbnail(path: str | Path, px: int = THUMB_PX) -> Optional[np.ndarray]:
    """The photo as (h, w, 3) uint8 within ``px`` x ``px`` (aspect kept), decoded as the engine decodes
    every photo (``read_rgb``); None when it cannot be read."""
    from PIL import Image

    from xview_engine.data.images import read_rgb
    from xview_engine.errors import XviewError

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # a warning about the photo is for when a model reads it
            small = Image.fromarray(read_rgb(path))
    except XviewError:  # moved, damaged or a bomb: the caption still names it
        return None
    small.thumbnail((px, px))
    return np.array(small, dtype=np.uint8)


def pixmap_from_rgb(rgb: np.ndarray) -> QPixmap:
    """A QPixmap of an (h, w, 3) uint8 array (main thread: QPixmap is a GUI object)."""
    rgb = np.ascontiguousarray(rgb, dtype=np.uint8)
    height, width = rgb.shape[:2]
    image = QImage(rgb.tobytes(), width, height, 3 * width, QImage.Format.Format_RGB888)
    return QPixmap.fromImage(image.copy())  # copy: the QImage does not own the bytes


def photo_table(panel, photos: list[Thumbnail]) -> str:
    """The photos as rich text for ``panel`` (a ``ResultPanel``), ``COLUMNS`` a row, each captioned; their
    pixmaps replace the panel's ``images``. '' for no photo."""
    answer = next(_ANSWERS)
    panel.images = {}
    cells = []
    for n, photo in enumerate(photos):
        name = f"xview-photo:{answer}/{n}"
        if photo.rgb is not None:
            panel.images[name] = pixmap_from_rgb(photo.rgb)
        image = f'<img src="{name}">' if photo.rgb is not None else "(unreadable)"
        cells.append(f'<td align="center">{image}<br><small>{escape(photo.caption)}</small></td>')
    rows = "".join(f"<tr>{''.join(cells[i:i + COLUMNS])}</tr>" for i in range(0, len(cells), COLUMNS))
    return f'<table cellspacing="2">{rows}</table>' if cells else ""
