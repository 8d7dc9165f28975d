"""B4: score photos against 1 000 000 tiles at full label sizes (365 + 1000 Dirichlet, 91 Poisson).

Targets (2-core CPU): one photo < 1 s; 100 photos at once < 10 s; >= 50x a straightforward per-tile
scipy loop (scipy.stats.dirichlet.logpdf / poisson.logpmf per tile, timed on a subsample and scaled
to a million tiles). The same targets are then timed for a float16 index (half the disk; widened
chunk by chunk while scoring) and its scores compared with float32's. Peak memory (max RSS) is printed.

The tile parameters are synthetic: a block of 16 384 tiles with random concentrations and rates
(``likelihood.tile_table`` computes their constants exactly), repeated to a million tiles. The block is
95 MB of float32, three times the L3 cache, so repetition gives the scorer no cache advantage;
scoring cost does not depend on the values. Run with ``--tiles N`` for a smaller test.
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from xview_engine.localization.likelihood import HeadTable, score_photos, tile_table

HEADS = (("places365", "dirichlet", 365), ("imagenet", "dirichlet", 1000), ("coco", "poisson", 91))
BLOCK = 16_384


def synthetic_tables(n_tiles: int, dtype: str = "float32", seed: int = 0) -> dict[str, HeadTable]:
    """Per-head tables for ``n_tiles`` tiles: one exact random block, tiled."""
    rng = np.random.default_rng(seed)
    tables = {}
    for name, dist, k in HEADS:
        params = np.exp(rng.uniform(-2.0, 3.0, size=(BLOCK, k)))
        block = tile_table(name, dist, params, dtype)
        reps = -(-n_tiles // BLOCK)
        weights = np.tile(block.weights, (reps, 1))[:n_tiles]
        const = np.tile(block.const, reps)[:n_tiles]
        tables[name] = HeadTable(name, dist, weights, const)
    return tables


def synthetic_photos(n: int, seed: int = 1) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    out = {}
    for name, dist, k in HEADS:
        out[name] = rng.dirichlet(np.full(k, 0.3), size=n) if dist == "dirichlet" else rng.poisson(1.5, (n, k))
    return out


def timed(fn, repeat: int) -> tuple[float, object]:
    best, result = float("inf"), None
    for _ in range(repeat):
        start = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - start)
    return best, result


def scipy_loop(tables: dict[str, HeadTable], photo: dict[str, np.ndarray], tiles: np.ndarray) -> np.ndarray:
    """The straightforward way: for every tile, scipy's density of the photo under each head."""
    from scipy import stats

    out = np.empty(len(tiles))
    p = {h: np.clip(v[0], 1e-8, None) / np.clip(v[0], 1e-8, None).sum() for h, v in photo.items()}
    for i, t in enumerate(tiles):
        total = 0.0
        for name, dist, _ in HEADS:
            w = tables[name].weights[t].astype(np.float64)
            if dist == "dirichlet":
                total += stats.dirichlet.logpdf(p[name], w)
            else:
                total += stats.poisson.logpmf(photo[name][0], np.exp(w)).sum()
        out[i] = total
    return out


def _float16(n_tiles: int, one: dict, many: dict, reference: np.ndarray) -> bool:
    """Time the B4 targets on a float16 index; its scores against float32's (``reference``, one photo)."""
    half = synthetic_tables(n_tiles, "float16")
    t_one, scores = timed(lambda: score_photos(half, one, keep_heads=False)["combined"], 3)
    print(f"  float16 index ({sum(t.weights.nbytes for t in half.values()) / 2**30:.2f} GiB), 1 photo: "
          f"{t_one:6.3f} s  (target < 1 s) {'PASS' if t_one < 1.0 else 'MISS'}")
    t_many, _ = timed(lambda: score_photos(half, many, keep_heads=False)["combined"], 1)
    print(f"  float16 index, {len(next(iter(many.values())))} photos: {t_many:6.3f} s  (target < 10 s) "
          f"{'PASS' if t_many < 10.0 else 'MISS'}")
    diff = np.abs(scores[0] - reference) / np.maximum(1.0, np.abs(reference))
    print(f"  float16 vs float32 scores: max relative difference {float(diff.max()):.1e} (the weights' rounding)")
    return t_one < 1.0 and t_many < 10.0


def peak_rss_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # KiB on Linux


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tiles", type=int, default=1_000_000)
    parser.add_argument("--photos", type=int, default=100)
    parser.add_argument("--scipy-tiles", type=int, default=2000)
    parser.add_argument("--no-float16", action="store_true", help="skip the float16 index timings")
    args = parser.parse_args()
    t0 = time.perf_counter()
    tables = synthetic_tables(args.tiles)
    k_total = sum(k for _, _, k in HEADS)
    print(f"B4 localization scoring: {args.tiles:,} tiles x {k_total} classes "
          f"({sum(t.weights.nbytes for t in tables.values()) / 2**30:.2f} GiB float32 weights; built in "
          f"{time.perf_counter() - t0:.1f} s)")
    one = synthetic_photos(1)
    many = synthetic_photos(args.photos)
    t_one, scores = timed(lambda: score_photos(tables, one, keep_heads=False)["combined"], 3)
    print(f"  1 photo:    {t_one:6.3f} s  (target < 1 s)    {args.tiles / t_one / 1e6:6.2f} M tiles/s "
          f"{'PASS' if t_one < 1.0 else 'MISS'}")
    t_many, _ = timed(lambda: score_photos(tables, many, keep_heads=False)["combined"], 1)
    print(f"  {args.photos} photos: {t_many:6.3f} s  (target < 10 s)   {args.photos * args.tiles / t_many / 1e6:6.2f} "
          "M photo-tiles/s")
    sample = np.random.default_rng(2).choice(args.tiles, size=min(args.scipy_tiles, args.tiles), replace=False)
    t_scipy, reference = timed(lambda: scipy_loop(tables, one, sample), 1)
    err = float(np.max(np.abs(reference - scores[0, sample]) / np.maximum(1.0, np.abs(reference))))
    per_million = t_scipy / len(sample) * args.tiles
    print(f"  scipy loop: {t_scipy:6.3f} s for {len(sample):,} tiles -> {per_million:8.1f} s for {args.tiles:,}; "
          f"speed-up {per_million / t_one:8.0f}x (target >= 50x); max relative difference {err:.1e}")
    ok = t_one < 1.0 and t_many < 10.0 and per_million / t_one >= 50 and err < 1e-3
    if not args.no_float16:
        del tables
        ok = _float16(args.tiles, one, many, scores[0]) and ok
    print(f"  peak memory (max RSS): {peak_rss_gb():.2f} GiB")
    print(f"  B4 {'PASS' if ok else 'MISS'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
