"""Photo thumbnails in the dock, decoded only through the engine's safe opener.

``QPixmap(path)`` would hand any file to Qt's image readers, decompression bombs included; here a
photo is opened with ``xview_engine.data.images.open_image`` (its declared size checked before any
pixel is decoded) and shrunk by Pillow, on any thread (``read_thumbnail``); only the small RGB array
becomes a ``QPixmap``, on the main thread (``pixmap_from_rgb``). ``PhotoStrip`` shows a few of them
with a caption each, wrapping to the narrow dock, and takes no room while it has none.
"""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple, Optional

import numpy as np
from qgis.PyQt.QtCore import Qt
from qgis.PyQt.QtGui import QImage, QPixmap
from qgis.PyQt.QtWidgets import QGridLayout, QLabel, QWidget

THUMB_PX = 72  # four across a 300 px dock
COLUMNS = 4


class Thumbnail(NamedTuple):
    """One photo for a ``PhotoStrip``: its small RGB array (None: unreadable), caption and tooltip."""

    rgb: Optional[np.ndarray]
    caption: str
    tooltip: str


def read_thumbnail(path: str | Path, px: int = THUMB_PX) -> Optional[np.ndarray]:
    """The photo as (h, w, 3) uint8 within ``px`` x ``px`` (aspect kept); None when it cannot be read."""
    from xview_engine.data.images import DECODE_ERRORS, open_image
    from xview_engine.errors import XviewError

    try:
        with open_image(path) as image:
            image.draft("RGB", (px, px))  # a JPEG decodes straight at a fraction of its size
            small = image.convert("RGB")
            small.thumbnail((px, px))
            return np.array(small, dtype=np.uint8)
    except (XviewError, *DECODE_ERRORS):  # moved, damaged or a bomb: the caption still names it
        return None


def pixmap_from_rgb(rgb: np.ndarray) -> QPixmap:
    """A QPixmap of an (h, w, 3) uint8 array (main thread: QPixmap is a GUI object)."""
    rgb = np.ascontiguousarray(rgb, dtype=np.uint8)
    height, width = rgb.shape[:2]
    image = QImage(rgb.tobytes(), width, height, 3 * width, QImage.Format.Format_RGB888)
    return QPixmap.fromImage(image.copy())  # copy: the QImage does not own the bytes


class PhotoStrip(QWidget):
    """Small photo thumbnails, ``COLUMNS`` a row, each with its caption under it; hidden while empty.

    ``images`` and ``captions`` are the labels of the photos shown, in order (what tests read).
    """

    def __init__(self, name: str, parent: Optional[QWidget] = None):
        super().__init__(parent)
        self.setObjectName(name)
        self.grid = QGridLayout(self)
        self.grid.setContentsMargins(0, 0, 0, 0)
        self.images: list[QLabel] = []
        self.captions: list[QLabel] = []
        self.setVisible(False)

    def set_photos(self, photos: list[Thumbnail]) -> None:
        for label in (*self.images, *self.captions):
            self.grid.removeWidget(label)
            label.deleteLater()
        self.images, self.captions = [], []
        for n, photo in enumerate(photos):
            row, column = divmod(n, COLUMNS)
            image = QLabel(self)
            image.setFixedSize(THUMB_PX + 4, THUMB_PX + 4)
            image.setAlignment(Qt.AlignmentFlag.AlignCenter)
            if photo.rgb is not None:
                image.setPixmap(pixmap_from_rgb(photo.rgb))
            else:
                image.setText("unreadable")
            caption = QLabel(photo.caption, self)
            caption.setFixedWidth(THUMB_PX + 4)
            caption.setWordWrap(True)
            caption.setAlignment(Qt.AlignmentFlag.AlignHCenter | Qt.AlignmentFlag.AlignTop)
            for label in (image, caption):
                label.setToolTip(photo.tooltip)
            self.grid.addWidget(image, 2 * row, column)
            self.grid.addWidget(caption, 2 * row + 1, column)
            self.images.append(image)
            self.captions.append(caption)
        self.setVisible(bool(photos))
