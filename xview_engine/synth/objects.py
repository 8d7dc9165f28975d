"""Things that stand on the land: buildings, trees, cars, trucks, buses, boats, people, benches,
traffic lights. Each gets an instance id, a height and a colour.

The overhead renderer paints them from above, the ground renderer raises them to their height,
and the labels count the instances a photo actually shows: one table serves all three, so the
truth can never disagree with the pictures.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from xview_engine.synth import landcover as lc
from xview_engine.synth.noise import hash01

NONE, TREE, BUILDING, CAR, TRUCK, BUS, BOAT, PERSON, BENCH, TRAFFIC_LIGHT = range(10)
KIND_NAMES = ("none", "tree", "building", "car", "truck", "bus", "boat", "person", "bench", "traffic light")
CAR_COLOURS = np.array(
    [[235, 235, 232], [25, 25, 28], [160, 162, 165], [150, 30, 30], [30, 60, 140], [90, 92, 95], [200, 190, 60]],
    np.uint8,
)
ROOF_COLOURS = np.array([[165, 85, 62], [125, 122, 120], [185, 178, 165], [92, 92, 100], [150, 112, 92]], np.uint8)


@dataclass(frozen=True)
class Objects:
    kind: np.ndarray  # (size, size) uint8 kind codes
    instance: np.ndarray  # (size, size) int32, -1 where nothing stands
    dome: np.ndarray  # (size, size) uint8 tree-crown shading, 0 outside crowns
    inst_kind: np.ndarray  # (n,) uint8
    inst_height: np.ndarray  # (n,) float32 metres
    inst_colour: np.ndarray  # (n, 3) uint8


class _Table:
    """Accumulates instances; ``add`` returns the ids given to the new ones."""

    def __init__(self) -> None:
        self.kinds, self.heights, self.colours, self.n = [], [], [], 0

    def add(self, kind: int, heights: np.ndarray, colours: np.ndarray) -> np.ndarray:
        ids = np.arange(self.n, self.n + len(heights), dtype=np.int32)
        self.kinds.append(np.full(len(heights), kind, np.uint8))
        self.heights.append(np.asarray(heights, np.float32))
        self.colours.append(np.asarray(colours, np.uint8).reshape(-1, 3))
        self.n += len(heights)
        return ids


def stall_layout(rows: np.ndarray, cols: np.ndarray, gsd: float):
    """Parking layout: double rows of 2.6 x 5.2 m stalls between 6 m aisles, axis-aligned.

    Returns (stall key along rows, stall key along cols, metres into the stall along rows and
    cols, in-stall flag). Shared with the overhead renderer, which paints the stall lines.
    """
    y, x = rows * gsd, cols * gsd
    period = np.floor(y / 16.4)
    u = y - period * 16.4
    in_row = u < 10.4
    key_r = (period * 2 + (u >= 5.2)).astype(np.int64)
    key_c = np.floor(x / 2.6).astype(np.int64)
    return key_r, key_c, u % 5.2, x - key_c * 2.6, in_row


def _buildings(land: lc.LandCover, kind, inst, table: _Table, rng: np.random.Generator) -> None:
    rows, cols = np.nonzero(land.building_id >= 0)
    uniq, inverse = np.unique(land.building_id[rows, cols], return_inverse=True)
    ids = table.add(BUILDING, land.building_height[uniq], ROOF_COLOURS[rng.integers(len(ROOF_COLOURS), size=len(uniq))])
    kind[rows, cols], inst[rows, cols] = BUILDING, ids[inverse]


def _trees(land: lc.LandCover, gsd: float, kind, inst, dome, table: _Table, salt: int) -> None:
    """One tree per 5 m cell at most, crowns 1.6-2.6 m: dense in forest, scattered in parks/yards."""
    n = land.classes.shape[0]
    cell = 5.0 / gsd
    nc = int(np.ceil(n / cell))
    ci, cj = np.meshgrid(np.arange(nc), np.arange(nc), indexing="ij")
    centre = ((np.arange(nc) + 0.5) * cell).astype(int).clip(0, n - 1)
    cls = land.classes[centre[:, None], centre[None, :]]
    zone = land.zone[centre[:, None], centre[None, :]]
    prob = np.where(cls == lc.FOREST, 0.82, 0.0)
    prob = np.where((cls == lc.GRASS) & (zone == lc.ZONE_PARK), 0.10, prob)
    prob = np.where((cls == lc.GRASS) & (zone >= lc.ZONE_RESIDENTIAL), 0.14, prob)
    present = hash01(ci, cj, salt=salt) < prob
    radius = (1.6 + hash01(ci, cj, salt=salt + 1)) / gsd
    oy = (0.5 + (hash01(ci, cj, salt=salt + 2) - 0.5) * 0.3) * cell
    ox = (0.5 + (hash01(ci, cj, salt=salt + 3) - 0.5) * 0.3) * cell
    tid = np.full((nc, nc), -1, np.int64)
    h = 7.0 + 13.0 * hash01(ci[present], cj[present], salt=salt + 4)
    tone = hash01(ci[present], cj[present], salt=salt + 5)[:, None]
    colour = np.array([38, 78, 34]) * (0.8 + 0.5 * tone)
    tid[present] = table.add(TREE, h, colour)
    pr = np.arange(n)
    pci = np.minimum((pr / cell).astype(np.int64), nc - 1)
    dy = (pr - pci * cell).astype(np.float32)[:, None] - oy[pci[:, None], pci[None, :]]
    dx = (pr - pci * cell).astype(np.float32)[None, :] - ox[pci[:, None], pci[None, :]]
    rr = radius[pci[:, None], pci[None, :]]
    frac = (dy * dy + dx * dx) / (rr * rr)
    crown = (frac < 1.0) & present[pci[:, None], pci[None, :]] & (kind == NONE)
    crown &= (land.classes != lc.ROAD) & (land.classes != lc.WATER)
    kind[crown] = TREE
    inst[crown] = tid[pci[:, None], pci[None, :]][crown]
    dome[crown] = (np.sqrt(1.0 - frac[crown]) * 255).astype(np.uint8)


def _parked_cars(land: lc.LandCover, gsd: float, kind, inst, table: _Table, rng: np.random.Generator) -> None:
    rows, cols = np.nonzero(land.classes == lc.PARKING)
    key_r, key_c, u, v, in_row = stall_layout(rows, cols, gsd)
    occupied = hash01(key_r + 10**6, key_c + 10**6, salt=11) < 0.62
    car = in_row & occupied & (u > 0.4) & (u < 4.8) & (v > 0.4) & (v < 2.2)
    keys = key_r[car] * 10**7 + key_c[car]
    uniq, inverse = np.unique(keys, return_inverse=True)
    counts = np.bincount(inverse)
    whole = counts >= 0.7 * (4.4 * 1.8) / (gsd * gsd)  # drop cars cut by the lot's edge
    colours = CAR_COLOURS[rng.integers(len(CAR_COLOURS), size=int(whole.sum()))]
    ids = np.full(len(uniq), -1, np.int32)
    ids[whole] = table.add(CAR, rng.uniform(1.4, 1.7, int(whole.sum())), colours)
    keep = ids[inverse] >= 0
    kind[rows[car][keep], cols[car][keep]] = CAR
    inst[rows[car][keep], cols[car][keep]] = ids[inverse][keep]


def _stamp_box(kind, inst, centre, axis, length, width, gsd, code, iid) -> None:
    """Paint an oriented rectangle (metres) centred at ``centre`` (pixels) along unit ``axis``."""
    n = kind.shape[0]
    reach = int(np.ceil(max(length, width) / gsd / 2)) + 1
    r0, c0 = int(centre[0]) - reach, int(centre[1]) - reach
    if not (0 <= centre[0] < n and 0 <= centre[1] < n):
        return
    rr, cc = np.mgrid[max(r0, 0):min(r0 + 2 * reach + 1, n), max(c0, 0):min(c0 + 2 * reach + 1, n)]
    dr, dc = (rr - centre[0]) * gsd, (cc - centre[1]) * gsd
    along = dr * axis[0] + dc * axis[1]
    across = -dr * axis[1] + dc * axis[0]
    box = (np.abs(along) <= length / 2) & (np.abs(across) <= width / 2) & (kind[rr, cc] == NONE)
    kind[rr[box], cc[box]], inst[rr[box], cc[box]] = code, iid


VEHICLES = {CAR: (4.4, 1.8, 1.5), TRUCK: (8.0, 2.5, 3.4), BUS: (12.0, 2.5, 3.2)}


def _traffic(land: lc.LandCover, gsd: float, kind, inst, table: _Table, rng: np.random.Generator) -> None:
    """Vehicles in the right-hand lane of every road, denser in town; buses on main roads only."""
    net = land.network
    for (ia, ib), main in zip(net.edges, net.main):
        a, b = net.nodes[ia], net.nodes[ib]
        length = float(np.hypot(*(b - a))) * gsd
        axis = (b - a) * gsd / max(length, 1e-6)
        mid = np.clip(((a + b) / 2).astype(int), 0, land.zone.shape[0] - 1)
        density = 1 / 25 if land.zone[mid[0], mid[1]] >= lc.ZONE_RESIDENTIAL else 1 / 90
        for _ in range(rng.poisson(length * density)):
            codes, probs = ([CAR, TRUCK, BUS], [0.86, 0.09, 0.05]) if main else ([CAR, TRUCK], [0.92, 0.08])
            code = rng.choice(codes, p=probs)
            sign = rng.choice([-1.0, 1.0])
            t = rng.uniform(0.08, 0.92)
            normal = np.array([-axis[1], axis[0]]) * sign
            centre = a + (b - a) * t + normal * (1.8 if main else 1.4) / gsd
            if not (0 <= centre[0] < land.zone.shape[0] and 0 <= centre[1] < land.zone.shape[1]):
                continue
            length_m, width_m, height = VEHICLES[code]
            colour = CAR_COLOURS[rng.integers(len(CAR_COLOURS))] if code == CAR else [200, 200, 195]
            iid = table.add(code, [height], colour)[0]
            _stamp_box(kind, inst, centre, axis * sign, length_m, width_m, gsd, code, iid)


def _scatter(land: lc.LandCover, gsd: float, kind, inst, table: _Table, rng: np.random.Generator) -> None:
    """Boats off the coast (most near town), people on beaches/parks/pavements, benches, lights."""
    n = land.classes.shape[0]
    area_km2 = (n * gsd / 1000) ** 2
    water = np.flatnonzero((land.shore < -12) & (land.shore > -260)).astype(np.int64)
    if len(water):
        pts = water[rng.choice(len(water), size=min(len(water), int(60 * area_km2) + 4))]
        rr, cc = np.divmod(pts, n)
        near_town = np.hypot(rr - land.town[0], cc - land.town[1]) * gsd < 0.3 * n * gsd + 200
        chosen = near_town | (rng.random(len(rr)) < 0.25)
        for r, c in zip(rr[chosen], cc[chosen]):
            length = rng.uniform(5, 14)
            angle = rng.uniform(0, np.pi)
            iid = table.add(BOAT, [rng.uniform(1.5, 3.0) + length * 0.12], [rng.choice([236, 210]), 236, 232])[0]
            axis = np.array([np.cos(angle), np.sin(angle)])
            _stamp_box(kind, inst, (r, c), axis, length, length * 0.36, gsd, BOAT, iid)
    free = kind == NONE
    pavement = (land.road_dist > 5.2) & (land.road_dist < 7.5) & (land.zone >= lc.ZONE_RESIDENTIAL)
    places = [
        (PERSON, (land.classes == lc.SAND) & free, 900, 1.75, 0.5),
        (PERSON, (land.classes == lc.GRASS) & (land.zone == lc.ZONE_PARK) & free, 160, 1.75, 0.5),
        (PERSON, pavement & free, 300, 1.75, 0.5),
        (BENCH, (land.classes == lc.GRASS) & (land.zone == lc.ZONE_PARK) & free, 60, 0.9, 1.8),
        (BENCH, (land.classes == lc.SAND) & (land.shore > 15) & free, 40, 0.9, 1.8),
    ]
    for code, mask, per_km2, height, size in places:
        idx = np.flatnonzero(mask)
        if not len(idx):
            continue
        count = min(len(idx), rng.poisson(per_km2 * len(idx) * (gsd / 1000) ** 2) + 1)
        pts = idx[rng.choice(len(idx), size=count, replace=False)]
        colours = rng.integers(30, 230, (len(pts), 3)) if code == PERSON else np.tile([120, 85, 50], (len(pts), 1))
        ids = table.add(code, np.full(len(pts), height), colours)
        for p_idx, iid in zip(pts, ids):
            _stamp_box(kind, inst, np.divmod(p_idx, n), np.array([0.0, 1.0]), size, 0.5, gsd, code, iid)
    for i in land.network.intersections:
        r, c = land.network.nodes[i]
        if not (0 <= r < n and 0 <= c < n) or land.zone[int(r), int(c)] < lc.ZONE_RESIDENTIAL:
            continue
        for dr, dc in ((1, 1), (-1, -1)):
            iid = table.add(TRAFFIC_LIGHT, [4.5], [40, 40, 40])[0]
            corner = (r + dr * 6.5 / gsd, c + dc * 6.5 / gsd)
            _stamp_box(kind, inst, corner, np.array([0.0, 1.0]), 0.5, 0.5, gsd, TRAFFIC_LIGHT, iid)


def place_objects(land: lc.LandCover, gsd: float, rng: np.random.Generator) -> Objects:
    """Place every object kind; later kinds never overwrite earlier ones."""
    n = land.classes.shape[0]
    kind = np.zeros((n, n), np.uint8)
    inst = np.full((n, n), -1, np.int32)
    dome = np.zeros((n, n), np.uint8)
    table = _Table()
    _buildings(land, kind, inst, table, rng)
    _parked_cars(land, gsd, kind, inst, table, rng)
    _traffic(land, gsd, kind, inst, table, rng)
    _trees(land, gsd, kind, inst, dome, table, salt=int(rng.integers(1 << 30)))
    _scatter(land, gsd, kind, inst, table, rng)
    return Objects(
        kind=kind, instance=inst, dome=dome, inst_kind=np.concatenate(table.kinds),
        inst_height=np.concatenate(table.heights), inst_colour=np.concatenate(table.colours),
    )
