"""Procedural land-cover map: coast, land-use zones, roads, buildings and parking lots.

Classes (``landcover.tif`` band 1, uint8): 0 water, 1 sand (beach), 2 forest, 3 grass (park,
yards), 4 farmland, 5 building, 6 road, 7 parking. Zones are cut by quantiles of smooth noise, so
every class appears in any world of a few hundred metres or more whatever the seed; feature sizes
scale with the world (clamped to plausible metres) so small test worlds still hold everything.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from xview_engine.synth import roads
from xview_engine.synth.noise import fractal_noise, hash01
from xview_engine.synth.params import SynthParams

WATER, SAND, FOREST, GRASS, FARMLAND, BUILDING, ROAD, PARKING = range(8)
CLASS_NAMES = ("water", "sand", "forest", "grass", "farmland", "building", "road", "parking")
ZONE_FARM, ZONE_FOREST, ZONE_PARK, ZONE_RESIDENTIAL, ZONE_DOWNTOWN = range(5)


@dataclass(frozen=True)
class LandCover:
    """The class map and the fields later stages need (all (size, size) unless said otherwise)."""

    classes: np.ndarray  # uint8 class codes
    shore: np.ndarray  # float32 metres inland from the waterline (negative at sea)
    zone: np.ndarray  # uint8 zone codes
    road_dist: np.ndarray  # float32 metres to the nearest road centreline (capped)
    marking: np.ndarray  # bool: painted lane markings
    building_id: np.ndarray  # int32, -1 outside buildings
    building_height: np.ndarray  # (n_buildings,) float32 metres
    network: roads.RoadNetwork
    town: tuple[float, float]  # (row, col) of the town centre


def _quantile(values: np.ndarray, q: float) -> float:
    """Quantile from a strided subsample: exact enough for zoning, fast on 36 M pixels."""
    sample = values[:: max(1, values.size // 200_000)]
    return float(np.quantile(sample, q)) if sample.size else 0.0


def _coast(rng: np.random.Generator, p: SynthParams, scale_m: float) -> np.ndarray:
    """Signed metres from a wiggly coastline crossing the world: sea on roughly a quarter of it."""
    n = p.size_px
    angle = rng.uniform(0, 2 * np.pi)
    coords = (np.arange(n, dtype=np.float32) + 0.5) * p.gsd - p.size_m / 2
    wiggle = fractal_noise(rng, (n, n), [s / p.gsd for s in (scale_m * 2, scale_m, scale_m / 2, scale_m / 5)])
    shore = coords[:, None] * np.float32(np.cos(angle)) + coords[None, :] * np.float32(np.sin(angle))
    shore += np.float32(0.22 * p.size_m)
    shore += wiggle * np.float32(0.35 * scale_m)
    return shore


def _zones(rng: np.random.Generator, p: SynthParams, shore: np.ndarray, scale_m: float):
    """Urban core near the coast, then forest / farmland / park by quantiles of a second field."""
    n = p.size_px
    near_coast = np.argwhere((shore[::8, ::8] > 40) & (shore[::8, ::8] < 0.15 * p.size_m + 60)) * 8
    town = near_coast[rng.integers(len(near_coast))] if len(near_coast) else np.array([n // 2, n // 2])
    rr = (np.arange(n, dtype=np.float32) - town[0]) ** 2
    cc = (np.arange(n, dtype=np.float32) - town[1]) ** 2
    urban = np.exp(-np.sqrt(rr[:, None] + cc[None, :]) * np.float32(p.gsd / (0.35 * p.size_m)))
    urban += 0.25 * fractal_noise(rng, (n, n), [scale_m / p.gsd, scale_m / 3 / p.gsd])
    use = fractal_noise(rng, (n, n), [scale_m * 1.5 / p.gsd, scale_m / 2 / p.gsd, scale_m / 6 / p.gsd])
    land = shore > 0
    zone = np.full((n, n), ZONE_FARM, np.uint8)
    u = use[land]
    zone[land & (use > _quantile(u, 0.40))] = ZONE_PARK
    zone[land & (use > _quantile(u, 0.58))] = ZONE_FOREST
    s = urban[land]
    zone[land & (urban > _quantile(s, 0.70))] = ZONE_RESIDENTIAL
    zone[land & (urban > _quantile(s, 0.91))] = ZONE_DOWNTOWN
    return zone, (float(town[0]), float(town[1]))


def _lots(rng: np.random.Generator, p: SynthParams, zone: np.ndarray, shore: np.ndarray, beach: np.ndarray):
    """Building footprints and parking lots on a 24 m cell grid (per-cell draws, per-pixel tests)."""
    n, cell = p.size_px, 24.0 / p.gsd
    ncell = int(np.ceil(n / cell))
    centre = ((np.arange(ncell) + 0.5) * cell).astype(int).clip(0, n - 1)
    cz = zone[centre[:, None], centre[None, :]]
    cs = shore[centre[:, None], centre[None, :]]
    cb = beach[centre[:, None], centre[None, :]]
    urban = cz >= ZONE_RESIDENTIAL
    coastal = (cs > cb + 6) & (cs < cb + 45) & (rng.random((ncell, ncell)) < 0.55)
    parking = (urban & (rng.random((ncell, ncell)) < 0.10)) | coastal
    down = cz == ZONE_DOWNTOWN
    has = urban & ~parking & (rng.random((ncell, ncell)) < np.where(down, 0.95, 0.8))
    side = np.where(down, rng.uniform(15, 21, (2, ncell, ncell)), rng.uniform(8, 14, (2, ncell, ncell))) / p.gsd
    off = rng.random((2, ncell, ncell)) * (cell - side - 2 / p.gsd) + 1 / p.gsd
    height = np.where(down, rng.uniform(12, 48, (ncell, ncell)), rng.uniform(4, 9, (ncell, ncell)))
    rows, cols = np.nonzero((zone >= ZONE_RESIDENTIAL) | (shore > 0) & (shore < 60 + beach.max()))
    ci, cj = (rows / cell).astype(np.int64), (cols / cell).astype(np.int64)
    li, lj = rows - ci * cell, cols - cj * cell
    inside = (li >= off[0, ci, cj]) & (li < off[0, ci, cj] + side[0, ci, cj])
    inside &= (lj >= off[1, ci, cj]) & (lj < off[1, ci, cj] + side[1, ci, cj])
    bid = np.full((n, n), -1, np.int32)
    sel = inside & has[ci, cj]
    bid[rows[sel], cols[sel]] = (ci * ncell + cj)[sel]
    lot = np.zeros((n, n), bool)
    margin = 1.0 / p.gsd
    sel = parking[ci, cj] & (li > margin) & (lj > margin) & (li < cell - margin) & (lj < cell - margin)
    lot[rows[sel], cols[sel]] = True
    return bid, height.ravel().astype(np.float32), lot


def make_landcover(p: SynthParams, rng: np.random.Generator) -> LandCover:
    """Build the class map and its helper fields for one world."""
    scale_m = float(np.clip(p.size_m / 4, 80, 800))
    shore = _coast(rng, p, scale_m)
    beach = (22 + 14 * fractal_noise(rng, shore.shape, [scale_m / p.gsd])).astype(np.float32)
    zone, town = _zones(rng, p, shore, scale_m)
    spacing = float(np.clip(p.size_m / 20, 45, 140)) / p.gsd
    net = roads.build_network(rng, shore, (zone >= ZONE_RESIDENTIAL).astype(np.uint8), spacing)
    road_dist, road, marking = roads.rasterize(net, p.size_px, p.gsd)
    bid, heights, lot = _lots(rng, p, zone, shore, beach)
    near_road = bid[road_dist < 6.5]
    touched = np.unique(near_road[near_road >= 0])
    bid[np.isin(bid, touched)] = -1
    classes = np.choose(zone, [FARMLAND, FOREST, GRASS, GRASS, GRASS]).astype(np.uint8)
    classes[lot] = PARKING
    classes[(shore > 0) & (shore < beach)] = SAND
    classes[bid >= 0] = BUILDING
    classes[road] = ROAD
    classes[shore <= 0] = WATER
    lot_kept = classes == PARKING
    bid[classes != BUILDING] = -1
    del lot_kept
    return LandCover(
        classes=classes, shore=shore, zone=zone, road_dist=road_dist, marking=marking & road,
        building_id=bid, building_height=heights, network=net, town=town,
    )


def parcel_hash(rows: np.ndarray, cols: np.ndarray, gsd: float, salt: int) -> np.ndarray:
    """Farm parcels: a rotated grid of 60-140 m fields, one random value per parcel."""
    u = (rows * 0.83 + cols * 0.56) * gsd / 90.0
    v = (-rows * 0.56 + cols * 0.83) * gsd / 60.0
    return hash01(np.floor(u).astype(np.int64) + 1000, np.floor(v).astype(np.int64) + 1000, salt=salt)
