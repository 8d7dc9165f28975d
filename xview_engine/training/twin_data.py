"""Twin training data: each photo's overhead tile, the photo at panorama height, and its heading.

Tiles are cut by ``training.datasets.cut_raster_tiles`` (the mapping source, the model's GSD) so
the overhead branch learns from what ``xview index`` shows it. Photos are resized to the
panorama height and to ``fov / 360`` of the panorama width. At training time each panorama is
turned by a random whole number of pixels and cut to a training field of view (``shift_and_crop``),
and the heading label is moved with it. With several training fields of view (``crop_widths``: a
set, or every whole number of columns in a range) each batch draws one, so every batch's ground maps
share a width and one model learns panoramas and limited-FOV photos alike (``fov_batches``);
validation uses batches and crops seeded once per run, so its numbers repeat.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from xview_engine.data.pairs import Pairs
from xview_engine.errors import TrainingError
from xview_engine.model.manifest import Manifest
from xview_engine.model.twin import ground_width_px, panorama_size
from xview_engine.progress import CancelCheck, ProgressCallback, check_cancel
from xview_engine.training.datasets import MIN_VALID_FRACTION, assign_splits, cut_raster_tiles, image_tiles


@dataclass
class TwinData:
    """Tiles (N, C, S, S) in [0, 1], normalised photos (N, C, H, Wp), heading (N,) degrees, split (N,)."""

    tiles: torch.Tensor
    photos: torch.Tensor
    heading: torch.Tensor
    split: np.ndarray
    fov_deg: float  # of the photos as stored: 360 for panoramas

    def subset(self, split: str) -> TwinData:
        keep = torch.from_numpy(self.split == split)
        return TwinData(self.tiles[keep], self.photos[keep], self.heading[keep], self.split[self.split == split],
                        self.fov_deg)

    def __len__(self) -> int:
        return len(self.tiles)


def photo_fov(pairs: Pairs) -> float:
    """The one field of view of the pairs' photos (the ``fov`` column; 360 without one)."""
    fov = pairs.columns["fov"]
    known = np.unique(fov[np.isfinite(fov)])
    if known.size > 1:
        raise TrainingError(f"pairs CSV {pairs.csv_path} mixes fields of view {known.tolist()}; train one at a time")
    return float(known[0]) if known.size else 360.0


def build_twin_data(pairs: Pairs, manifest: Manifest, raster: str | Path | None, seed: int = 0,
                    progress: ProgressCallback | None = None, cancel: CancelCheck | None = None) -> TwinData:
    """Tiles (cut from the raster, else the pairs' tile images), photos and headings of the pairs; photos
    whose tile is mostly off the raster are dropped."""
    from xview_engine.teachers.base import read_photo, to_tensor

    fov = photo_fov(pairs)
    if raster is not None:
        tiles, valid = cut_raster_tiles(raster, pairs.columns["lon"], pairs.columns["lat"], manifest.input,
                                        progress, cancel)
    elif pairs.tiles is not None:  # one overhead image per pair (CVUSA's aerial chips), centred on the photo
        tiles, valid = image_tiles(pairs.tiles, manifest.input), np.ones(len(pairs))
    else:
        raise TrainingError(f"give --raster R, or a 'tile' column in {pairs.csv_path} naming each photo's "
                            "overhead image")
    keep = valid >= MIN_VALID_FRACTION
    if not keep.any():
        raise TrainingError(f"no photo of {pairs.csv_path} lies inside the overhead raster {raster}")
    size = (panorama_size(manifest)[0], ground_width_px(manifest, fov))
    rows = np.flatnonzero(keep)
    photos = torch.zeros((len(rows), len(manifest.input.bands), *size))
    for start in range(0, len(rows), 64):
        check_cancel(cancel)
        part = rows[start:start + 64]
        photos[start:start + len(part)] = to_tensor([read_photo(pairs.photos[i]) for i in part], size,
                                                    manifest.input.mean, manifest.input.std)
    heading = np.nan_to_num(pairs.columns["heading"][rows], nan=0.0)
    split = assign_splits(pairs, seed)[rows]
    data = TwinData(torch.from_numpy(tiles[rows]), photos, torch.from_numpy(heading).float(), split, fov)
    if not (data.split == "train").any() or not (data.split == "val").any():
        raise TrainingError(f"training needs photos in both the train and val splits (got "
                            f"{dict(zip(*np.unique(data.split, return_counts=True)))})")
    return data


def shift_and_crop(photos: torch.Tensor, heading: torch.Tensor, fov_deg: float, train_fov: float,
                   generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Panoramas turned by a random number of pixels and cut to ``train_fov``; headings moved along.

    A panorama's column k looks along heading + ((k + 0.5) / W - 0.5) 360. Rolling it by r columns
    (new column k = old column k - r) moves its heading to heading - r 360 / W; keeping the first Wc
    columns then looks along the crop's centre, heading - r 360 / W - 180 + fov_crop / 2. Photos
    that are not panoramas are left as they are (they cannot be turned).
    """
    if fov_deg < 360:
        return photos, heading
    n, width = len(photos), photos.shape[-1]
    keep = max(1, round(width * train_fov / 360))
    shifts = torch.randint(0, width, (n,), generator=generator)
    cols = (torch.arange(keep)[None, :] - shifts[:, None]) % width  # (n, keep) source columns
    index = cols[:, None, None, :].expand(n, photos.shape[1], photos.shape[2], keep)
    crops = torch.gather(photos, 3, index)
    new_heading = (heading - shifts.float() * 360.0 / width - 180.0 + keep * 180.0 / width) % 360.0
    return crops, new_heading


def crop_widths(train_fov: Sequence[float], fov_range: bool, panorama_px: int) -> tuple[int, ...]:
    """The crop widths in panorama columns a batch draws from: one per field of view of a set, or every
    whole number of columns from the narrowest to the widest of a range (uniform in degrees)."""
    widths = [max(1, round(panorama_px * fov / 360)) for fov in train_fov]
    if fov_range:
        widths = list(range(min(widths), max(widths) + 1))
    return tuple(sorted(set(widths)))


def fov_batches(photos: torch.Tensor, heading: torch.Tensor, fov_deg: float, widths: Sequence[int],
                order: torch.Tensor, batch_size: int,
                generator: torch.Generator) -> Iterator[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
    """(indices, photos cut to one drawn width, their headings) per batch of ``order``.

    Each batch draws its width from ``widths`` (a uniform choice), then every panorama in it is turned
    at random and cut to that width (``shift_and_crop``); batches of one pair are skipped (no negative).
    """
    width = photos.shape[-1]
    for start in range(0, len(order), batch_size):
        idx = order[start:start + batch_size]
        if len(idx) < 2:
            continue
        pick = int(torch.randint(0, len(widths), (1,), generator=generator)) if len(widths) > 1 else 0
        crops, new_heading = shift_and_crop(photos[idx], heading[idx], fov_deg, widths[pick] * 360.0 / width,
                                            generator)
        yield idx, crops, new_heading
