"""The README's attribute-head table: held-out NLL of Beta, Bernoulli and Gaussian heads vs a constant prior.

    PYTHONPATH=. python tools/attribute_figures.py [-o build/attribute-figures]

Two SYNTHETIC worlds, one to train on (seed 0, 1 km, 1200 photos with a 90-degree view) and one
held out (seed 11, 800 m, 400 photos). Each photo's attributes come from the worlds' own truth,
written to an attribute CSV (photo column + ``HEAD:LABEL`` columns, kinds in ``attributes.kinds.csv``)
and turned into a label file by ``xview teach --teachers csv=attributes.csv``, as a user would:

- ``cover`` (fraction -> Beta): the share of water, vegetation (forest, grass, fields), built-up land
  (buildings, roads, parking) and sand within ``COVER_RADIUS_M`` of the photo (``landcover.tif``);
- ``seen`` (binary -> Bernoulli): whether the photo shows a car, a person, a boat, a bench (its true
  object counts > 0);
- ``terrain`` (continuous -> Gaussian): metres to the nearest water (capped at ``MAX_WATER_M``) and
  the share of vegetation within ``WIDE_RADIUS_M``.

``xview train distill`` fits the three heads (tiny CNN, 96 m tiles); the held-out world's photos are
scored by the model and by the constant prior fitted to the training world's labels
(``training.priors``): NLL per photo per attribute. Seeded; writes OUT/figures.json and prints the
Markdown table. About 10 minutes on 2 cores shared with other jobs.
"""

from __future__ import annotations

import argparse
import csv
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import rasterio
import torch
from scipy import ndimage

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from xview_engine.data.label_files import read_label_file
from xview_engine.data.pairs import read_pairs
from xview_engine.model import distributions as D
from xview_engine.model.file import load_model
from xview_engine.training.datasets import build_training_data
from xview_engine.training.evaluate import predict_tiles
from xview_engine.training.priors import constant_params

WORLDS = {"train": ("0", "1000", "1200"), "test": ("11", "800", "400")}  # seed, size m, photos
COVER = {"water": (0,), "vegetation": (2, 3, 4), "built": (5, 6, 7), "sand": (1,)}  # landcover class codes
SEEN = ("car", "person", "boat", "bench")
COVER_RADIUS_M, WIDE_RADIUS_M, MAX_WATER_M = 24.0, 48.0, 300.0
KINDS = "head,kind\ncover,fraction\nseen,binary\nterrain,continuous\n"
RECIPE = ["--backbone", "tiny_cnn", "--backbone-option", "width=16", "--backbone-option", "depth=4", "--tile-px", "48",
          "--gsd", "2", "--hidden", "128", "--epochs-pretrain", "4", "--epochs-heads", "8", "--rot90", "--seed", "0",
          "--device", "cpu"]


def xview(*args: object) -> None:
    subprocess.run([sys.executable, "-m", "xview_engine", *map(str, args)], check=True)


def _disc_share(mask: np.ndarray, radius_px: float) -> np.ndarray:
    """Share of ``mask`` pixels in a disc of ``radius_px`` around every pixel."""
    r = int(np.ceil(radius_px))
    yy, xx = np.mgrid[-r:r + 1, -r:r + 1]
    disc = (xx * xx + yy * yy <= radius_px * radius_px).astype(np.float64)
    return ndimage.convolve(mask.astype(np.float64), disc / disc.sum(), mode="nearest")


def write_attributes(world: Path) -> Path:
    """The world's attribute CSV (see the module docstring) and its kinds file."""
    truth = read_label_file(world / "labels.npz")
    with rasterio.open(world / "landcover.tif") as src:
        classes, gsd = src.read(1), src.res[0]
        rows, cols = rasterio.transform.rowcol(src.transform, truth.table["x"], truth.table["y"])
    rows = np.clip(np.asarray(rows), 0, classes.shape[0] - 1)
    cols = np.clip(np.asarray(cols), 0, classes.shape[1] - 1)
    cover = {name: _disc_share(np.isin(classes, codes), COVER_RADIUS_M / gsd)[rows, cols]
             for name, codes in COVER.items()}
    wide = _disc_share(np.isin(classes, COVER["vegetation"]), WIDE_RADIUS_M / gsd)[rows, cols]
    water = np.minimum(ndimage.distance_transform_edt(classes != 0) * gsd, MAX_WATER_M)[rows, cols]
    counts = truth.heads["count"]
    seen = {name: counts[:, truth.names["count"].index(name)] > 0 for name in SEEN}
    path = world / "attributes.csv"
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(["photo", *(f"cover:{n}" for n in COVER), *(f"seen:{n}" for n in SEEN),
                         "terrain:water_distance_m", "terrain:vegetation_wide"])
        for i, photo in enumerate(truth.table["path"]):
            writer.writerow([photo, *(f"{cover[n][i]:.4f}" for n in COVER),
                             *("yes" if seen[n][i] else "no" for n in SEEN), f"{water[i]:.1f}", f"{wide[i]:.4f}"])
    path.with_suffix(".kinds.csv").write_text(KINDS, encoding="utf-8")
    return path


def per_label_nll(distribution: str, params: torch.Tensor, target: torch.Tensor) -> np.ndarray:
    """NLL per photo of each label (N, K) -> mean over photos (K,)."""
    if distribution == "beta":
        log_p = D.beta_log_prob(*D.split_pair(params), target)
    elif distribution == "bernoulli":
        log_p = D.bernoulli_log_prob(params, target)
    else:
        log_p = D.gaussian_log_prob(*D.split_pair(params), target)
    return (-log_p).mean(0).numpy()


def figures(root: Path, model_path: Path) -> dict:
    loaded = load_model(model_path)
    train_labels = read_label_file(root / "train" / "attr_labels.npz")
    test_world = root / "test"
    test_labels = read_label_file(test_world / "attr_labels.npz")
    heads = loaded.manifest.head_names
    data = build_training_data(read_pairs(test_world / "pairs.csv"), test_labels, heads, loaded.manifest.input,
                               test_world / "overhead.tif")
    predicted = predict_tiles(loaded.model, loaded.manifest, data.tiles)
    train_split = np.asarray(train_labels.table["split"]) == "train"
    rows = []
    for spec in loaded.manifest.heads:
        target = torch.from_numpy(data.targets[spec.name])
        prior = constant_params(spec.distribution, torch.from_numpy(train_labels.heads[spec.name][train_split]))
        model = per_label_nll(spec.distribution, predicted[spec.name], target)
        const = per_label_nll(spec.distribution, prior.expand(len(target), -1), target)
        for j, label in enumerate(spec.labels):
            rows.append({"head": spec.name, "label": label, "distribution": spec.distribution,
                         "model_nll": round(float(model[j]), 4), "constant_prior_nll": round(float(const[j]), 4)})
    return {"test_photos": len(data), "train_world": WORLDS["train"], "test_world": WORLDS["test"], "rows": rows}


def markdown(result: dict) -> str:
    lines = ["| head (distribution) | attribute | test NLL, model | test NLL, constant prior |", "|---|---|---|---|"]
    for r in result["rows"]:
        lines.append(f"| {r['head']} ({r['distribution']}) | {r['label']} | {r['model_nll']:.3f} | "
                     f"{r['constant_prior_nll']:.3f} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-o", "--out", type=Path, default=Path("build/attribute-figures"))
    root = parser.parse_args().out
    root.mkdir(parents=True, exist_ok=True)
    for name, (seed, size, photos) in WORLDS.items():
        world = root / name
        if not (world / "pairs.csv").is_file():
            xview("synth", "-o", world, "--seed", seed, "--size-m", size, "--gsd", 1, "--photos", photos, "--fov", 90)
        write_attributes(world)
        xview("teach", world / "pairs.csv", "--teachers", f"csv={world / 'attributes.csv'}", "-o",
              world / "attr_labels.npz", "--overwrite")
    model = root / "attributes.safetensors"
    xview("train", "distill", root / "train" / "pairs.csv", "--labels", root / "train" / "attr_labels.npz", "--raster",
          root / "train" / "overhead.tif", "-o", model, *RECIPE, "--overwrite")
    result = figures(root, model)
    (root / "figures.json").write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
    print(markdown(result))


if __name__ == "__main__":
    main()
