#!/usr/bin/env bash
# Rebuild the shipped synthetic default models (resources/models/) from scratch, on the CPU.
# Usage: tools/train_default_models.sh [WORK_DIR]   (about 10 minutes on 2 cores)
set -euo pipefail
XVIEW=${XVIEW:-.venv/bin/xview}
WORK=${1:-build/default-model}
MODELS=resources/models
mkdir -p "$WORK" "$MODELS"
# 1. a synthetic world: 3 km x 3 km at 1 m, 3000 ground photos with a 90-degree field of view,
#    12 % of them taken afloat (boats, piers), so the model sees the sea too
$XVIEW synth -o "$WORK/world" --seed 0 --size-m 3000 --gsd 1 --photos 3000 --fov 90 --overwrite
# 2. the synthetic teacher: a small CNN that reads the photos' labels off their pixels
$XVIEW train teacher "$WORK/world/labels.npz" -o "$MODELS/xview-synthetic-teacher.safetensors" \
  --epochs 15 --seed 0 --overwrite
# 3. label every photo with the teacher (the true path: photo -> CNN -> distributions)
$XVIEW teach "$WORK/world/pairs.csv" --teachers "synthetic=$MODELS/xview-synthetic-teacher.safetensors" \
  -o "$WORK/teacher-labels.npz" --device cpu --overwrite
# 4. distil: overhead tiles (48 px at 2 m = 96 m) -> Dirichlet scene / object, Poisson counts
COMMON=(--labels "$WORK/teacher-labels.npz" --raster "$WORK/world/overhead.tif" --backbone tiny_cnn
        --backbone-option width=16 --backbone-option depth=4 --tile-px 48 --gsd 2 --hidden 256
        --epochs-pretrain 6 --epochs-heads 12 --rot90 --seed 0 --device cpu --overwrite)
$XVIEW train distill "$WORK/world/pairs.csv" "${COMMON[@]}" -o "$MODELS/xview-synthetic-default.safetensors"
# 5. the mean-only baseline with the same recipe (not shipped; for the README's comparison)
$XVIEW train distill "$WORK/world/pairs.csv" "${COMMON[@]}" --baseline -o "$WORK/xview-synthetic-mean-baseline.safetensors"
# the resume checkpoints are not shipped
rm -f "$MODELS/xview-synthetic-default.safetensors.ckpt"
# 6. the READMEs' figures: teacher vs truth, maps vs land cover, geolocation, open sea (the demo world, seed 7)
${PYTHON:-.venv/bin/python} tools/default_model_figures.py "$WORK" > "$WORK/figures.json"
