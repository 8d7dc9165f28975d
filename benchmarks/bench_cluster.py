"""Tiles/s of `xview map` in one process vs on a Dask LocalCluster of 1 and 2 workers, on the same raster.

Measured in one run, so the figures compare: a ResNet-18 at 112 px tiles (random weights: speed
does not depend on them) on a synthetic 0.5 m raster, mapped by ``run_map`` in this process, then
on a LocalCluster of 1 and of 2 worker processes (one Dask thread each, the model's threads shared
out: ``cores // workers``). Each cluster is started once and warmed by a first run (the workers
load the model, as a long-lived cluster has), then timed; its start is reported apart. A cluster
run's time splits into the blocks phase (until the last block is in, the progress callback says
when) and the assembly (the products written from the block files). Then the per-block overhead:
the same cluster mapping a raster with a tiny model, cut in blocks of one row and of 16 rows, the
difference in worker-seconds over the difference in blocks.

Usage: python benchmarks/bench_cluster.py [--size-px 1536] [--quick]
On 2 cores expect no gain beyond ~2x from 2 workers (each worker has half the cores the single
process has): the ratio says how much of one machine the cluster path costs.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import tempfile
import time
from functools import partial
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench_map import make_raster


def make_model(path: Path, backbone: str, options: dict, tile_px: int, classes: int = 64) -> Path:
    from xview_engine.model.crossview import build_model
    from xview_engine.model.file import save_model
    from xview_engine.model.manifest import BackboneSpec, HeadSpec, InputSpec, Manifest

    manifest = Manifest(kind="distill", backbone=BackboneSpec(backbone, options),
                        input=InputSpec(tile_px=tile_px, gsd_m=0.5),
                        heads=(HeadSpec("scene", "dirichlet", tuple(f"c{i}" for i in range(classes))),), hidden=64)
    return save_model(build_model(manifest, seed=0), manifest, path)


def timed_map(raster: Path, model: Path, out: Path, cluster: str = "", block_tiles: int = 0) -> dict:
    """One map run: seconds in all, and (cluster) until the last block was in; tiles; what ran it."""
    from xview_engine.mapping.cluster.spec import ClusterSpec
    from xview_engine.mapping.map import MapParams, run_map

    spec = ClusterSpec(cluster, block_tiles) if cluster else None
    blocks_done = [0.0]
    start = time.perf_counter()

    def progress(done: int, total: int) -> None:
        if done >= total and not blocks_done[0]:
            blocks_done[0] = time.perf_counter() - start

    result = run_map(MapParams(raster=str(raster), model=str(model), out_dir=str(out), device="cpu", overwrite=True,
                               products=("prob", "top"), cluster=spec), progress=progress)
    seconds = time.perf_counter() - start
    return {"seconds": seconds, "blocks_s": blocks_done[0], "assembly_s": seconds - blocks_done[0],
            "tiles": result.tiles_total, "tiles_per_s": result.tiles_total / seconds,
            "runtime": result.metadata["model"]["runtime"], "blocks": result.metadata.get("cluster", {}).get("blocks")}


def on_cluster(workers: int, runs: list) -> tuple[float, list[dict]]:
    """Start a LocalCluster of ``workers``; run each of ``runs`` (callables of the address) on it."""
    import distributed

    start = time.perf_counter()
    with distributed.LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None,
                                  silence_logs=logging.ERROR) as cluster:
        started = time.perf_counter() - start
        return started, [run(cluster.scheduler_address) for run in runs]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-px", type=int, default=1536)
    parser.add_argument("--quick", action="store_true", help="a smaller raster (a check that it runs)")
    args = parser.parse_args()
    from xview_engine.model.device import available_cores

    size = 512 if args.quick else args.size_px
    cores = available_cores()
    with tempfile.TemporaryDirectory(prefix="xview-bench-cluster-") as folder:
        tmp = Path(folder)
        raster = make_raster(tmp / "r.tif", size)
        model = make_model(tmp / "resnet18.safetensors", "resnet18", {}, 112)
        tiny = make_model(tmp / "tiny.safetensors", "tiny_cnn", {"width": 4, "depth": 2}, 16)
        timed_map(raster, model, tmp / "warm")  # the ONNX export, made once for every run below
        single = timed_map(raster, model, tmp / "single")
        grid_cols = int((size * 0.5 - 56) // 28 + 1)
        block = max(1, 2 * grid_cols)  # two rows of tiles a block: 13 blocks, even shares for 1 and 2 workers
        results = {"cores": cores, "raster_px": size, "model": "resnet18 at 112 px, 64 classes", "single": single}
        for n in (1, 2):
            runs = [partial(timed_map, raster, model, tmp / "w", block_tiles=block),  # the workers load the model
                    partial(timed_map, raster, model, tmp / f"c{n}", block_tiles=block)]
            if n == 2:
                tiny_cols = int((size * 0.5 - 8) // 4 + 1)
                runs += [partial(timed_map, raster, tiny, tmp / "t0", block_tiles=tiny_cols),
                         partial(timed_map, raster, tiny, tmp / "t1", block_tiles=tiny_cols),
                         partial(timed_map, raster, tiny, tmp / "t16", block_tiles=16 * tiny_cols)]
            started, done = on_cluster(n, runs)
            results[f"cluster_{n}"] = {**done[1], "cluster_start_s": started, "workers": n,
                                       "model_threads": max(1, cores // n), "block_tiles": block}
            if n == 2:  # the same tiles in more blocks: the extra worker-seconds are the blocks' overhead
                one_row, sixteen = done[3], done[4]
                extra_blocks = max(one_row["blocks"] - sixteen["blocks"], 1)
                results["per_block_overhead_ms"] = 1000 * n * (one_row["blocks_s"] - sixteen["blocks_s"]) / extra_blocks
                results["tiny_blocks"] = {"one_row": one_row, "sixteen_rows": sixteen}
    report(results)
    return 0


def report(results: dict) -> None:
    single = results["single"]
    print(json.dumps(results, indent=1))
    print(f"\n{results['model']}, raster {results['raster_px']} px at 0.5 m, {single['tiles']} tiles, "
          f"{results['cores']} cores")
    print(f"single process      {single['tiles_per_s']:8.1f} tiles/s  ({single['seconds']:.1f} s)")
    for n in (1, 2):
        run = results[f"cluster_{n}"]
        ratio = run["tiles_per_s"] / single["tiles_per_s"]
        print(f"LocalCluster {n} wkr   {run['tiles_per_s']:8.1f} tiles/s  ratio {ratio:.2f}  ({run['seconds']:.1f} s: "
              f"blocks {run['blocks_s']:.1f} s, assembly {run['assembly_s']:.2f} s; {run['blocks']} blocks, "
              f"{run['model_threads']} model thread(s) a worker; cluster start {run['cluster_start_s']:.1f} s apart)")
    tiny = results["tiny_blocks"]
    one_row, sixteen = tiny["one_row"], tiny["sixteen_rows"]
    print(f"per-block overhead  {results['per_block_overhead_ms']:.1f} ms of worker time a block (tiny model, "
          f"{one_row['blocks']} blocks in {one_row['blocks_s']:.2f} s vs {sixteen['blocks']} in "
          f"{sixteen['blocks_s']:.2f} s)")


if __name__ == "__main__":
    sys.exit(main())
