"""Road network: a jittered street grid whose kept edges form one connected graph.

Main roads run along every ``main_every``-th grid line across the whole land; streets fill the
urban zones; a few rural lanes are added at random. Edges over water are dropped and only the
largest connected component is kept, so every road on the map leads to every other one.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class RoadNetwork:
    """Nodes in pixel coordinates (row, col), edges as node-index pairs with a main/street flag."""

    nodes: np.ndarray  # (N, 2) float64
    edges: np.ndarray  # (E, 2) int64
    main: np.ndarray  # (E,) bool
    degree: np.ndarray  # (N,) int64

    @property
    def intersections(self) -> np.ndarray:
        """Indices of nodes where three or more roads meet."""
        return np.flatnonzero(self.degree >= 3)


def _largest_component(n_nodes: int, edges: np.ndarray) -> np.ndarray:
    """Boolean mask of the edges in the largest connected component (union-find)."""
    parent = np.arange(n_nodes)

    def find(a: int) -> int:
        while parent[a] != a:
            parent[a] = parent[parent[a]]
            a = parent[a]
        return a

    for a, b in edges:
        ra, rb = find(int(a)), find(int(b))
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)
    roots = np.array([find(int(a)) for a in edges[:, 0]]) if len(edges) else np.zeros(0, int)
    if not len(roots):
        return np.zeros(0, bool)
    return roots == np.bincount(roots).argmax()


def build_network(
    rng: np.random.Generator, shore: np.ndarray, urban: np.ndarray, spacing_px: float, main_every: int = 4
) -> RoadNetwork:
    """Grid graph over the raster (plus one row/column outside so roads leave the map)."""
    size = shore.shape[0]
    n = int(np.ceil(size / spacing_px)) + 3
    ii, jj = np.meshgrid(np.arange(n), np.arange(n), indexing="ij")
    is_main = (ii % main_every == 0) | (jj % main_every == 0)
    jitter = np.where(is_main, 0.08, 0.22)[..., None] * spacing_px * rng.uniform(-1, 1, (n, n, 2))
    pos = (np.stack([ii, jj], -1) - 1.0) * spacing_px + spacing_px * 0.5 + jitter
    nodes = pos.reshape(-1, 2)

    def sample(field: np.ndarray, pts: np.ndarray) -> np.ndarray:
        idx = np.clip(np.round(pts).astype(np.int64), 0, size - 1)
        return field[idx[:, 0], idx[:, 1]]

    node_id = np.arange(n * n).reshape(n, n)
    pairs = np.concatenate(
        [np.stack([node_id[:, :-1].ravel(), node_id[:, 1:].ravel()], 1),
         np.stack([node_id[:-1, :].ravel(), node_id[1:, :].ravel()], 1)]
    )
    main = np.concatenate([(ii[:, :-1] % main_every == 0).ravel(), (jj[:-1, :] % main_every == 0).ravel()])
    a, b = nodes[pairs[:, 0]], nodes[pairs[:, 1]]
    on_land = np.ones(len(pairs), bool)
    for t in np.linspace(0.0, 1.0, 7):
        on_land &= sample(shore, a + (b - a) * t) > 4.0
    street = (sample(urban, a) > 0) & (sample(urban, b) > 0)
    lane = rng.random(len(pairs)) < 0.12
    keep = on_land & (main | street | lane)
    pairs, main = pairs[keep], main[keep]
    connected = _largest_component(len(nodes), pairs)
    pairs, main = pairs[connected], main[connected]
    degree = np.bincount(pairs.ravel(), minlength=len(nodes))
    return RoadNetwork(nodes=nodes, edges=pairs, main=main, degree=degree)


def rasterize(net: RoadNetwork, size: int, gsd: float, reach_m: float = 14.0) -> tuple[np.ndarray, ...]:
    """Distance to the nearest road centreline (m, capped at ``reach_m``), road and marking masks."""
    dist = np.full((size, size), reach_m, dtype=np.float32)
    road = np.zeros((size, size), bool)
    marking = np.zeros((size, size), bool)
    reach = reach_m / gsd
    for (ia, ib), is_main in zip(net.edges, net.main):
        a, b = net.nodes[ia], net.nodes[ib]
        r0 = int(max(min(a[0], b[0]) - reach, 0))
        r1 = int(min(max(a[0], b[0]) + reach + 1, size))
        c0 = int(max(min(a[1], b[1]) - reach, 0))
        c1 = int(min(max(a[1], b[1]) + reach + 1, size))
        if r0 >= r1 or c0 >= c1:
            continue
        rr = np.arange(r0, r1, dtype=np.float32)[:, None] - a[0]
        cc = np.arange(c0, c1, dtype=np.float32)[None, :] - a[1]
        d = b - a
        length2 = float(d @ d) or 1.0
        t = np.clip((rr * d[0] + cc * d[1]) / length2, 0.0, 1.0)
        dd = np.hypot(rr - t * d[0], cc - t * d[1]) * gsd
        half = 5.0 if is_main else 3.5
        win = (slice(r0, r1), slice(c0, c1))
        np.minimum(dist[win], dd, out=dist[win])
        road[win] |= dd < half
        if is_main:
            along = t * np.sqrt(length2) * gsd
            marking[win] |= (dd < max(0.12, 0.5 * gsd)) & (along % 9.0 < 4.5) & (t > 0.02) & (t < 0.98)
    return dist, road, marking
