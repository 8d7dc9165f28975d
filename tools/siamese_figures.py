"""The README's Siamese (Where-CNN) tables: verification AP and cross-world retrieval, seeded.

    PYTHONPATH=. python tools/siamese_figures.py [-o build/siamese-figures]

Train on one SYNTHETIC world, test on another (Lin et al. trained on 4 US cities and tested on 3
others). Training world: seed 0, 1.5 km, panoramas (the twin model's training world). Test world:
the world of issue 17's table (``tools/offtheshelf_figures.py``: seed 11, 1.5 km, 500 photos, 30 %
taken afloat), so the Siamese rows join that table on the same 72 test photos and the same 900
candidate tiles (96 m at a 48 m stride).

Two Siamese models, one recipe (``xview train siamese``): shared weights and domain-specific
weights. Verification (``xview evaluate --task verify``: every photo against its own tile and 20
unmatched tiles at least 100 m away, seed 0) on the training world's test split (spatially
held-out blocks) and on every photo of the test world; for the off-the-shelf baseline, the same
pairs through a knn model of the shipped synthetic teacher's penultimate layer on the same grid (the
paper's ImageNet-CNN / Places-CNN fc7). Retrieval (``xview evaluate``) on the test world's test
split for both Siamese models, the shipped twin model (64 m tiles at the same 48 m stride),
distillation and kNN-averaged features (recomputed as issue 17's script does).
Writes OUT/figures.json (worlds and models are reused by a rerun) and prints both Markdown tables.
About 6 CPU-minutes, most of it the two trainings (8.5 minutes on 2 cores shared with other jobs).
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from offtheshelf_figures import AFLOAT, GSD, PHOTOS, SEED, SIZE_M, TILE_GSD, TILE_PX, evaluate, run

from xview_engine.resources import resource_path

TRAIN_SEED, TRAIN_SIZE_M, TRAIN_PHOTOS = 0, 1500, 1500
STRIDE_M = 48
RECIPE = ["--backbone", "tiny_cnn", "--backbone-option", "width=8", "--backbone-option", "depth=4",
          "--tile-px", TILE_PX, "--gsd", TILE_GSD, "--dim", 32, "--photo-px", "16,64", "--negatives", 8,
          "--min-distance-m", 100, "--epochs", 4, "--batch-size", 128, "--lr", 1e-3, "--seed", 0, "--device", "cpu"]
TEACHER = resource_path("models", "xview-synthetic-teacher.safetensors")
SHIPPED = {"distill": resource_path("models", "xview-synthetic-default.safetensors"),
           "twin": resource_path("models", "xview-synthetic-twin.safetensors")}


def make_worlds(root: Path) -> tuple[Path, Path]:
    train, test = root / "train_world", root / "test_world"
    if not (train / "pairs.csv").is_file():
        run("synth", "-o", train, "--seed", TRAIN_SEED, "--size-m", TRAIN_SIZE_M, "--gsd", 1, "--photos", TRAIN_PHOTOS,
            "--fov", 360)
    if not (test / "pairs.csv").is_file():
        run("synth", "-o", test, "--seed", SEED, "--size-m", SIZE_M, "--gsd", GSD, "--photos", PHOTOS,
            "--water-photo-share", AFLOAT)
    return train, test


def train_models(root: Path, world: Path) -> dict[str, Path]:
    models = {"shared": root / "siamese_shared.safetensors", "domain": root / "siamese_domain.safetensors"}
    for name, path in models.items():
        if not path.is_file():
            run("train", "siamese", world / "pairs.csv", "--raster", world / "overhead.tif", "-o", path, *RECIPE,
                *(["--domain-specific"] if name == "domain" else []), "--overwrite")
    return models


def index(model: Path, world: Path, out: Path) -> Path:
    run("index", world / "overhead.tif", "--model", model, "-o", out, "--stride-m", STRIDE_M, "--device", "cpu",
        "--overwrite")
    return out


def verify(index_dir: Path, world: Path, out: Path, split: str | None) -> dict:
    run("evaluate", "--task", "verify", "--index", index_dir, "--photos", world / "pairs.csv", "-o", out,
        "--device", "cpu", "--overwrite", *(["--split", split] if split else []))
    report = json.loads((out / "verification.json").read_text())
    return {k: report[k] for k in ("average_precision", "random_ap", "matched_pairs", "unmatched_pairs")}


def main_figures(root: Path) -> dict:
    train_world, test_world = make_worlds(root)
    models = train_models(root, train_world)
    out = root / "run"  # everything below is redone
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    models["offtheshelf"] = out / "teacher_penultimate.safetensors"
    run("features", "--teachers", f"synthetic={TEACHER}", "--layer", "penultimate", "-o", models["offtheshelf"],
        "--tile-px", TILE_PX, "--gsd", TILE_GSD, "--device", "cpu")
    figures: dict = {"train_world": {"seed": TRAIN_SEED, "size_m": TRAIN_SIZE_M, "photos": TRAIN_PHOTOS},
                     "test_world": {"seed": SEED, "size_m": SIZE_M, "photos": PHOTOS, "afloat_share": AFLOAT},
                     "recipe": [str(a) for a in RECIPE], "verification": {}, "retrieval": {}}
    for name, model in models.items():
        same = index(model, train_world, out / f"{name}_train_index")
        cross = index(model, test_world, out / f"{name}_test_index")
        figures["verification"][name] = {
            "in_world_test_split": verify(same, train_world, out / f"{name}_vf_in", "test"),
            "cross_world": verify(cross, test_world, out / f"{name}_vf_cross", None)}
        if name != "offtheshelf":
            figures["retrieval"][f"siamese_{name}"] = evaluate(cross, test_world, out / f"{name}_ev")
    labels = out / "labels.npz"
    run("teach", test_world / "pairs.csv", "--teachers", f"synthetic={TEACHER}", "-o", labels)
    knn = out / "knn.safetensors"
    run("features", "--teachers", f"synthetic={TEACHER}", "-o", knn, "--tile-px", TILE_PX, "--gsd", TILE_GSD,
        "--pairs", test_world / "pairs.csv", "--raster", test_world / "overhead.tif", "--k", 30, "--device", "cpu")
    figures["retrieval"]["distill"] = evaluate(index(SHIPPED["distill"], test_world, out / "distill_index"),
                                               test_world, out / "distill_ev", labels=labels)
    figures["retrieval"]["knn"] = evaluate(index(knn, test_world, out / "knn_index"), test_world, out / "knn_ev")
    figures["retrieval"]["twin"] = evaluate(index(SHIPPED["twin"], test_world, out / "twin_index"), test_world,
                                            out / "twin_ev")
    (root / "figures.json").write_text(json.dumps(figures, indent=2))
    return figures


def pct(value: float) -> str:
    return f"{100 * value:.1f} %"


def tables(f: dict) -> str:
    v, r = f["verification"], f["retrieval"]
    names = {"shared": "Siamese, shared weights", "domain": "Siamese, domain-specific weights",
             "offtheshelf": "off-the-shelf: synthetic teacher penultimate layer"}
    inw, cross = v["shared"]["in_world_test_split"], v["shared"]["cross_world"]
    lines = [f"verification: in-world {inw['matched_pairs']} matched + {inw['unmatched_pairs']} unmatched pairs, "
             f"cross-world {cross['matched_pairs']} + {cross['unmatched_pairs']}", "",
             "| features | AP, training world (test split) | AP, held-out world | top-1 %, held-out world |",
             "|---|---|---|---|"]
    for key, name in names.items():
        top = r.get(f"siamese_{key}", {}).get("top_1pct")
        lines.append(f"| {name} | {pct(v[key]['in_world_test_split']['average_precision'])} | "
                     f"{pct(v[key]['cross_world']['average_precision'])} | {pct(top) if top is not None else '-'} |")
    lines += [f"| random | {pct(inw['random_ap'])} | {pct(cross['random_ap'])} | "
              f"{pct(r['siamese_shared']['random_top_1pct'])} |", "",
              "| method | top-1 % | median rank |", "|---|---|---|"]
    for key, name in (("distill", "distillation"), ("knn", "kNN-averaged fc8"), ("twin", "twin"),
                      ("siamese_shared", "Siamese shared"), ("siamese_domain", "Siamese domain-specific")):
        lines.append(f"| {name} | {pct(r[key]['top_1pct'])} | {r[key]['median_rank']:g} of {r[key]['candidates']} |")
    lines.append(f"| random | {pct(r['knn']['random_top_1pct'])} | {r['knn']['random_median_rank']:g} |")
    return "\n".join(lines)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-o", "--out", default="build/siamese-figures", type=Path)
    print(tables(main_figures(parser.parse_args().out)))
