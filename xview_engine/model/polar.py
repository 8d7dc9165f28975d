"""Polar transform: an overhead tile centred on a candidate spot becomes a pseudo-panorama.

Shi et al. 2020 (DSM) make the overhead view look like the ground panorama before matching: panorama
pixel (i, j) of an H x W panorama samples the S x S tile at radius r = (S/2)(H-1-i)/H from the centre
along azimuth a = 2 pi j / W, so the bottom row is the tile centre and the top row its rim, and one
column is one viewing direction. Here azimuths are clockwise from north with rows growing south (the
synthetic world's and a north-up raster's convention): overhead row S/2 - r cos a, column
S/2 + r sin a, so column 0 looks north and column W/4 east. (The DSM and WITW scripts write
S/2 + r cos a for the row, which puts south at column 0 in a north-up image; only the labelling of
the columns differs.) Pixel coordinates are continuous with pixel k's centre at k, sampled
bilinearly with edge values held beyond the tile (WITW clamps, as here).

``polar_transform`` is one ``grid_sample`` call for a whole batch.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F


def polar_coordinates(tile_px: int, height: int, width: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(row, col) float64 (height, width): where in the tile each panorama pixel samples."""
    i = torch.arange(height, dtype=torch.float64)[:, None]
    j = torch.arange(width, dtype=torch.float64)[None, :]
    half = tile_px / 2
    radius = half * (height - 1 - i) / height
    azimuth = 2 * math.pi * j / width
    return half - radius * torch.cos(azimuth), half + radius * torch.sin(azimuth)


def polar_grid(tile_px: int, height: int, width: int) -> torch.Tensor:
    """The (1, height, width, 2) sampling grid ``grid_sample`` takes (x = column, y = row in [-1, 1])."""
    row, col = polar_coordinates(tile_px, height, width)
    scale = 2.0 / (tile_px - 1)  # align_corners=True: pixel centre 0 -> -1, S-1 -> +1
    return torch.stack([col * scale - 1, row * scale - 1], dim=-1)[None].float()


def polar_transform(tiles: torch.Tensor, height: int, width: int, grid: torch.Tensor | None = None) -> torch.Tensor:
    """(B, C, S, S) overhead tiles -> (B, C, height, width) pseudo-panoramas, bilinear, edges held."""
    if tiles.shape[-1] != tiles.shape[-2]:
        raise ValueError(f"polar transform needs square tiles, got {tuple(tiles.shape[-2:])}")
    if grid is None:
        grid = polar_grid(tiles.shape[-1], height, width)
    grid = grid.to(device=tiles.device, dtype=tiles.dtype).expand(tiles.shape[0], -1, -1, -1)
    return F.grid_sample(tiles, grid, mode="bilinear", padding_mode="border", align_corners=True)
