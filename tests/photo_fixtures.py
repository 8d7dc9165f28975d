"""Hostile photo files for the tests of every photo reader (the engine's opener, the dock's thumbnails)."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path


def bomb_png(path: Path, width: int, height: int) -> Path:
    """A PNG header declaring width x height RGB pixels, followed by a few bytes of image data."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0" * 64))
                     + chunk(b"IEND", b""))
    return path
