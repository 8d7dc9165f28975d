"""The one way xview opens a photo or image file: size-checked before any pixel is decoded.

A PNG of a few kilobytes can declare 100 000 x 100 000 pixels (a decompression bomb) and a
truncated JPEG fails only while decoding; both must be a one-line error naming the file, not a
MemoryError or Pillow's own exception. ``open_image`` reads only the header and refuses a declared
size above ``MAX_PHOTO_PIXELS``; ``read_rgb`` decodes a checked image the way a person sees it:
turned upright by its EXIF orientation (a phone's portrait photo is stored sideways), 16-bit
greys scaled to 8 bits rather than clipped white. Every reader of photos (teachers, training,
EXIF, previews) goes through here.
"""

from __future__ import annotations

import contextlib
import os
import struct
import warnings
from collections.abc import Iterator
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

from xview_engine.errors import SourceError, XviewError, XviewWarning
from xview_engine.limits import MAX_PHOTO_PIXELS

MIN_USEFUL_PHOTO_PX = 32  # a photo narrower or lower than this is warned about: it shows next to nothing
WIDE_GREY_MODES = ("I;16", "I;16L", "I;16B", "I;16N", "I")  # 16- or 32-bit integer greys

# What Pillow raises on a damaged file: its own UnidentifiedImageError is an OSError.
DECODE_ERRORS = (OSError, ValueError, SyntaxError, EOFError, struct.error, Image.DecompressionBombError)


@contextlib.contextmanager
def open_image(path: str | os.PathLike, error: type[XviewError] = SourceError) -> Iterator[Image.Image]:
    """The opened image (header read, nothing decoded), refused by its declared size; errors name the file."""
    path = Path(path)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)  # the size is checked below
            image = Image.open(path)
    except Image.DecompressionBombError as exc:
        raise error(f"photo {path} declares more pixels than xview decodes ({exc}); it looks like a "
                    "decompression bomb: give a photo of at most "
                    f"{MAX_PHOTO_PIXELS / 1e6:.0f} megapixels") from None
    except DECODE_ERRORS as exc:
        raise error(f"photo {path} cannot be read as an image ({exc}); give a JPEG or PNG file") from None
    with image:
        width, height = image.size
        if width * height > MAX_PHOTO_PIXELS:
            raise error(f"photo {path} declares {width:,} x {height:,} pixels ({width * height / 1e6:,.0f} "
                        f"megapixels); xview decodes at most {MAX_PHOTO_PIXELS / 1e6:.0f} megapixels: "
                        "downscale it (or it is a decompression bomb)")
        yield image


def read_rgb(path: str | os.PathLike, error: type[XviewError] = SourceError,
             size: tuple[int, int] | None = None) -> np.ndarray:
    """A photo as an RGB uint8 (H, W, 3) array (resized to ``size`` = (W, H), bilinear, when given)."""
    with open_image(path, error) as image:
        try:
            upright = ImageOps.exif_transpose(image)
            if min(upright.size) < MIN_USEFUL_PHOTO_PX:
                warnings.warn(f"photo {path} is only {upright.size[0]} x {upright.size[1]} pixels: too small "
                              "to show a place; results for it mean little", XviewWarning, stacklevel=2)
            rgb = _to_rgb(upright)
            if size is not None:
                rgb = rgb.resize(size, Image.BILINEAR)
            return np.asarray(rgb, dtype=np.uint8)
        except DECODE_ERRORS as exc:
            raise error(f"photo {path} cannot be decoded ({exc}); is it truncated or damaged?") from None


def _to_rgb(image: Image.Image) -> Image.Image:
    """RGB of any mode; 16-bit greys keep their top 8 bits (Pillow's own conversion clips them at 255)."""
    if image.mode in WIDE_GREY_MODES:
        grey = np.asarray(image, dtype=np.int64)
        if grey.max(initial=0) > 255:  # a 16-bit image; an "I" image of 8-bit values is left as it is
            grey = grey >> 8
        image = Image.fromarray(np.clip(grey, 0, 255).astype(np.uint8), "L")
    return image.convert("RGB")
