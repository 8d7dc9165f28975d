"""`xview demo -o demo_out/`: make a small synthetic world, map it, geolocate photos, write a QGIS project.

Uses the shipped default model, which knows only the synthetic world (see resources/models/README.md).
"""

from __future__ import annotations

import argparse

from xview_engine.cli._numbers import count, positive
from xview_engine.limits import MAX_PHOTOS, MAX_SEED, MAX_TOP_K, MAX_WORLD_M


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("demo", help="the whole product on a small synthetic world", description=__doc__)
    parser.add_argument("-o", "--out-dir", default="demo_out", help="output folder (default demo_out)")
    parser.add_argument("--seed", type=count(0, MAX_SEED), default=7,
                        help="world seed (default 7; the model was trained on 0)")
    parser.add_argument("--size-m", type=positive(MAX_WORLD_M), default=1500.0,
                        help="world side in metres (default 1500)")
    parser.add_argument("--photos", type=count(1, MAX_PHOTOS), default=40,
                        help="ground photos in the world (default 40)")
    parser.add_argument("--geolocate", type=count(0, MAX_TOP_K), default=5,
                        help="held-out photos to geolocate (default 5)")
    parser.add_argument("--model", help="model file (default: the shipped synthetic default model)")
    parser.add_argument("--teacher", help="synthetic teacher file (default: the shipped one)")
    parser.add_argument("--no-qgis", action="store_true", help="skip the QGIS project and picture")
    parser.add_argument("--device", default="auto", help="auto | cpu | cuda")
    parser.add_argument("--overwrite", action="store_true", help="replace an earlier demo's outputs")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from xview_engine.demo import DemoParams, run_demo

    defaults = DemoParams()
    params = DemoParams(out_dir=args.out_dir, seed=args.seed, size_m=args.size_m, photos=args.photos,
                        geolocate=args.geolocate, model=args.model or defaults.model,
                        teacher=args.teacher or defaults.teacher, qgis=not args.no_qgis, overwrite=args.overwrite,
                        device=args.device)
    result = run_demo(params, log=lambda message: print(f"xview demo: {message}", flush=True))
    print("\nwrote:")
    for path in result.files:
        print(f"  {path}")
    corr = result.figures["map_vs_landcover"]
    geo = result.figures["geolocation"]
    print("\nheadline figures (SYNTHETIC world; the default model knows only synthetic worlds):")
    print(f"  map vs land cover: mean Pearson r {corr['mean_r']:.2f} over "
          f"{len(corr) - 1} scene labels (" + ", ".join(f"{k} {v:.2f}" for k, v in corr.items() if k != "mean_r") + ")")
    if geo["ranks"]:
        print(f"  geolocation of {geo['photos']} held-out photos: true tile ranks {geo['ranks']} of "
              f"{geo['candidates']} tiles (median top {geo['median_best_percent']:.1f} %)")
    print(f"  done in {result.seconds:.0f} s")
    return 0
