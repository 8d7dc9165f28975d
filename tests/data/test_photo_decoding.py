"""Photos decoded as a person sees them: upright by EXIF orientation, 16-bit greys scaled, tiny ones warned."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from xview_engine.data.images import read_rgb
from xview_engine.errors import XviewWarning


def test_exif_orientation_turns_a_sideways_photo_upright(tmp_path) -> None:
    stored = np.zeros((40, 80, 3), np.uint8)  # stored 80 wide x 40 high, as a phone held upright writes it
    stored[:, :40] = (255, 0, 0)  # left half red: after a 90-degree clockwise turn, red is on top
    image = Image.fromarray(stored)
    exif = image.getexif()
    exif[0x0112] = 6  # Orientation: rotate 90 degrees clockwise to display
    path = tmp_path / "portrait.jpg"
    image.save(path, exif=exif, quality=95)
    rgb = read_rgb(path)
    assert rgb.shape == (80, 40, 3)
    assert rgb[:30, :, 0].mean() > 200 and rgb[:30, :, 2].mean() < 50  # red on top
    assert rgb[50:, :, 0].mean() < 50  # black below
    plain = tmp_path / "plain.jpg"
    Image.fromarray(stored).save(plain, quality=95)
    assert read_rgb(plain).shape == (40, 80, 3)  # no orientation tag: as stored


def test_sixteen_bit_greys_keep_their_top_eight_bits(tmp_path) -> None:
    grey = np.array([[0, 256, 32768, 65535]], np.uint16).repeat(40, 0).repeat(10, 1)
    path = tmp_path / "grey16.png"
    Image.fromarray(grey).save(path)
    assert Image.open(path).mode.startswith("I")
    rgb = read_rgb(path)
    assert rgb.shape == (40, 40, 3)
    np.testing.assert_array_equal(rgb[0, ::10, 0], [0, 1, 128, 255])
    np.testing.assert_array_equal(rgb[..., 0], rgb[..., 2])


def test_eight_bit_values_in_a_wide_mode_are_kept(tmp_path) -> None:
    path = tmp_path / "grey32.tif"
    Image.fromarray(np.full((40, 40), 200, np.int32), "I").save(path)
    assert read_rgb(path)[0, 0].tolist() == [200, 200, 200]


def test_a_tiny_photo_is_warned_about(tmp_path) -> None:
    path = tmp_path / "dot.png"
    Image.new("RGB", (8, 8), (10, 20, 30)).save(path)
    with pytest.warns(XviewWarning, match="only 8 x 8 pixels"):
        assert read_rgb(path).shape == (8, 8, 3)
