"""Figures of issue 17 (off-the-shelf features) on one held-out SYNTHETIC world, seeded.

    PYTHONPATH=. python tools/offtheshelf_figures.py [-o off_out] [--docs docs]

Steps (all through the `xview` commands, in process): a world of seed 11 (1.5 km, 500 photos, 30 %
taken afloat; the shipped models were trained on seed 0); the synthetic teacher labels its photos;
the shipped distillation model and a knn model (the shipped synthetic teacher as the feature
network, fc8, k 30, the train split as references) are indexed on the same grid (96 m tiles, 48 m
stride) and evaluated on the test split; `xview pca` colours the world by the knn features, which is
compared with landcover.tif (nearest-centroid accuracy, silhouette); the scene filter ("usable" =
taken on land, "closeup" = taken afloat: a proxy, the synthetic world has no close-ups) and the
region classifier (west vs east half) are trained on the train split and scored on the test split.
Writes OUT/figures.json (OUT/world is reused by a rerun) and DOCS/pca_vs_landcover.png, and prints
the README table. A few minutes on 2 cores.
"""

from __future__ import annotations

import argparse
import csv
import json
from pathlib import Path

import numpy as np

from xview_engine.cli.main import main
from xview_engine.resources import resource_path

SEED, SIZE_M, GSD, PHOTOS, AFLOAT = 11, 1500, 1.0, 500, 0.3
TILE_PX, TILE_GSD = 48, 2.0  # the shipped distillation model's tiles: 96 m


def run(*args: str) -> None:
    status = main([str(a) for a in args])
    if status != 0:
        raise SystemExit(f"xview {' '.join(map(str, args))} failed ({status})")


def evaluate(index: Path, world: Path, out: Path, pairs: Path | None = None, labels: Path | None = None) -> dict:
    args = ["evaluate", "--index", index, "--photos", pairs or world / "pairs.csv", "--split", "test", "-o", out,
            "--device", "cpu"]
    run(*args, *(["--labels", labels] if labels else []))
    report = json.loads((out / "metrics.json").read_text())
    m = report["metrics"]["combined"]
    return {"queries": m["queries"], "candidates": m["candidates"], "top_1pct": m["top_1pct"],
            "median_rank": m["median_rank"], "random_top_1pct": report["random_ranking"]["top_1pct"],
            "random_median_rank": report["random_ranking"]["median_rank"]}


def photo_table(world: Path) -> list[dict]:
    """Each photo's split, x and whether it stands on water (landcover.tif at its position)."""
    import rasterio

    with open(world / "pairs.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    with rasterio.open(world / "landcover.tif") as ds:
        cover = ds.read(1)
        for r in rows:
            row, col = ds.index(float(r["x"]), float(r["y"]))
            r["afloat"] = bool(cover[min(max(row, 0), ds.height - 1), min(max(col, 0), ds.width - 1)] == 0)
    return rows


def write_labels(path: Path, rows: list[dict], split: str, label) -> Path:
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["photo", "label"])
        w.writerows([r["path"], label(r)] for r in rows if r["split"] == split)
    return path


def classifiers(out: Path, world: Path, knn: Path, index: Path) -> dict:
    """Scene filter (land = usable vs afloat) and region classifier (west vs east) on photo features."""
    rows = photo_table(world)
    feats = out / "photo_features.npz"
    run("features", "--model", knn, "--photos", world / "pairs.csv", "-o", feats, "--device", "cpu")
    mid = float(np.median([float(r["x"]) for r in rows]))
    result = {}
    for name, label in (("scene_filter", lambda r: "closeup" if r["afloat"] else "usable"),
                        ("region", lambda r: "west" if float(r["x"]) < mid else "east")):
        train = write_labels(world / f"{name}_train.csv", rows, "train", label)
        test = write_labels(world / f"{name}_test.csv", rows, "test", label)
        positive = "usable" if name == "scene_filter" else "west"
        model = out / f"{name}.safetensors"
        run("classify", "train", feats, train, "-o", model, "--positive", positive, "--seed", "0")
        from xview_engine.training.classify import ApplyClassifierParams, apply_classifier

        result[name] = apply_classifier(ApplyClassifierParams(str(model), str(feats), str(out / f"{name}.csv"),
                                                              str(test)))["held_out"]
    kept = out / "kept.csv"
    run("filter", world / "pairs.csv", "--classifier", out / "scene_filter.safetensors", "--features", feats,
        "-o", kept)
    result["scene_filter"]["localization_all"] = evaluate(index, world, out / "ev_all")
    result["scene_filter"]["localization_kept"] = evaluate(index, world, out / "ev_kept", kept)
    return result


def pca_vs_landcover(out: Path, world: Path, knn: Path, picture: Path) -> dict:
    """Majority land cover of each tile vs its PCA colour: nearest-centroid accuracy (2-fold, checkerboard)
    and silhouette score; and the picture of both side by side."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import rasterio
    from matplotlib.colors import ListedColormap
    from sklearn.metrics import silhouette_score

    from xview_engine.synth.landcover import CLASS_NAMES

    pca = out / "pca.tif"
    run("pca", world / "overhead.tif", "--model", knn, "-o", pca, "--device", "cpu")
    with rasterio.open(pca) as ds:
        rgb = ds.read().astype(np.float64)
        centres = [ds.xy(r, c) for r in range(ds.height) for c in range(ds.width)]
        shape = (ds.height, ds.width)
    with rasterio.open(world / "landcover.tif") as lc:
        cover, half = lc.read(1), round(TILE_PX * TILE_GSD / 2 / lc.res[0])
        majority = []
        for x, y in centres:
            r, c = lc.index(x, y)
            window = cover[max(r - half, 0):r + half, max(c - half, 0):c + half]
            majority.append(int(np.bincount(window.ravel(), minlength=len(CLASS_NAMES)).argmax()))
    labels = np.array(majority)
    colours = rgb.reshape(3, -1).T
    ok = colours.min(1) > 0
    fold = (np.add.outer(np.arange(shape[0]), np.arange(shape[1])) % 2).ravel()
    correct = []
    for f in (0, 1):
        fit, test = ok & (fold == f), ok & (fold != f)
        classes = [k for k in np.unique(labels[fit])]
        centroids = np.array([colours[fit & (labels == k)].mean(0) for k in classes])
        nearest = np.array(classes)[np.argmin(((colours[test][:, None] - centroids[None]) ** 2).sum(-1), 1)]
        correct.append(nearest == labels[test])
    accuracy = float(np.concatenate(correct).mean())
    majority_share = float(np.bincount(labels[ok]).max() / ok.sum())
    silhouette = float(silhouette_score(colours[ok], labels[ok]))
    palette = ["#2b6cb0", "#f6e05e", "#276749", "#68d391", "#d69e2e", "#c53030", "#4a5568", "#a0aec0"]
    fig, axes = plt.subplots(1, 2, figsize=(10, 5))
    axes[0].imshow(np.moveaxis(rgb, 0, -1).astype(np.uint8))
    axes[0].set_title("PCA of knn features (fc8 of the synthetic teacher)")
    axes[1].imshow(labels.reshape(shape), cmap=ListedColormap(palette), vmin=0, vmax=len(CLASS_NAMES) - 1,
                   interpolation="nearest")
    axes[1].set_title("true land cover (tile majority)")
    handles = [plt.Rectangle((0, 0), 1, 1, color=palette[i]) for i in range(len(CLASS_NAMES))]
    axes[1].legend(handles, CLASS_NAMES, loc="lower right", fontsize=7)
    for ax in axes:
        ax.set_xticks([])
        ax.set_yticks([])
    fig.suptitle(f"SYNTHETIC world, seed {SEED}: nearest-centroid accuracy {accuracy:.2f} "
                 f"(majority class {majority_share:.2f}), silhouette {silhouette:.2f}", fontsize=10)
    fig.tight_layout()
    picture.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(picture, dpi=90)
    return {"tiles": int(ok.sum()), "nearest_centroid_accuracy": accuracy, "majority_class_share": majority_share,
            "silhouette": silhouette}


def main_figures(root: Path, docs: Path) -> dict:
    import shutil

    world, out = root / "world", root / "run"  # the world is kept between runs, everything else is redone
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    teacher = resource_path("models", "xview-synthetic-teacher.safetensors")
    default = resource_path("models", "xview-synthetic-default.safetensors")
    if not (world / "pairs.csv").is_file():
        run("synth", "-o", world, "--seed", SEED, "--size-m", SIZE_M, "--gsd", GSD, "--photos", PHOTOS,
            "--water-photo-share", AFLOAT)
    labels, knn = out / "labels.npz", out / "knn.safetensors"
    run("teach", world / "pairs.csv", "--teachers", f"synthetic={teacher}", "-o", labels, "--overwrite")
    run("index", world / "overhead.tif", "--model", default, "-o", out / "distill_index", "--device", "cpu",
        "--overwrite")
    run("features", "--teachers", f"synthetic={teacher}", "-o", knn, "--tile-px", TILE_PX, "--gsd", TILE_GSD,
        "--pairs", world / "pairs.csv", "--raster", world / "overhead.tif", "--k", 30, "--device", "cpu",
        "--overwrite")
    run("index", world / "overhead.tif", "--model", knn, "-o", out / "knn_index", "--device", "cpu", "--overwrite")
    figures = {"world": {"seed": SEED, "size_m": SIZE_M, "photos": PHOTOS, "afloat_share": AFLOAT},
               "distill": evaluate(out / "distill_index", world, out / "ev_distill", labels=labels),
               "knn": evaluate(out / "knn_index", world, out / "ev_knn"),
               "pca": pca_vs_landcover(out, world, knn, docs / "pca_vs_landcover.png"),
               **classifiers(out, world, knn, out / "knn_index")}
    (root / "figures.json").write_text(json.dumps(figures, indent=2))
    return figures


def table(f: dict) -> str:
    d, k, s, r = f["distill"], f["knn"], f["scene_filter"], f["region"]
    lines = ["| method | top-1 % | median rank |", "|---|---|---|",
             f"| distillation (shipped default model, teacher labels) | {100 * d['top_1pct']:.1f} % | "
             f"{d['median_rank']:.0f} |",
             f"| kNN-averaged, synthetic teacher fc8, k 30 | {100 * k['top_1pct']:.1f} % | {k['median_rank']:.0f} |",
             f"| random | {100 * k['random_top_1pct']:.1f} % | {k['random_median_rank']:.0f} |", "",
             f"PCA vs land cover: {f['pca']}",
             f"scene filter: precision {s['precision']:.2f}, recall {s['recall']:.2f}, kept "
             f"{100 * s['kept_share']:.0f} %; kNN top-1 % {100 * s['localization_all']['top_1pct']:.1f} -> "
             f"{100 * s['localization_kept']['top_1pct']:.1f} ({s['localization_all']['queries']} -> "
             f"{s['localization_kept']['queries']} test photos)",
             f"region classifier (west vs east): accuracy {r['accuracy']:.2f} on {r['photos']} test photos"]
    return "\n".join(lines)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-o", "--out", default="off_out", type=Path)
    parser.add_argument("--docs", default="docs", type=Path)
    a = parser.parse_args()
    print(table(main_figures(a.out, a.docs)))
