#!/usr/bin/env bash
# Rebuild the shipped synthetic time-aware model (resources/models/xview-synthetic-time.safetensors) on the CPU.
# Usage: tools/train_time_model.sh [WORK_DIR]   (a few minutes on 2 cores)
# P(attribute | overhead, time): snow, night, foliage and scene heads, month and hour as cyclic inputs,
# learnt from a synthetic world whose photos are rendered at their time (xview synth --months).
set -euo pipefail
XVIEW=${XVIEW:-.venv/bin/xview}
WORK=${1:-build/time-model}
MODELS=resources/models
mkdir -p "$WORK" "$MODELS"
# 1. a world through the year: 2 km x 2 km at 1 m, 2500 photos (90-degree field of view), each taken at a
#    seeded time (month, day, hour), rendered with its snow, leaves and light, truth in labels.npz
$XVIEW synth -o "$WORK/world" --seed 0 --size-m 2000 --gsd 1 --photos 2500 --fov 90 --months 1-12 --overwrite
# 2. distil the photos' transient attributes and scene (true labels) into overhead tiles + time
COMMON=(--labels "$WORK/world/labels.npz" --raster "$WORK/world/overhead.tif" --heads snow,night,foliage,scene
        --backbone tiny_cnn --backbone-option width=16 --backbone-option depth=4 --tile-px 48 --gsd 2
        --hidden 128 --epochs-pretrain 4 --epochs-heads 8 --rot90 --seed 0 --device cpu --overwrite)
$XVIEW train distill "$WORK/world/pairs.csv" "${COMMON[@]}" --time-features month,hour \
  -o "$MODELS/xview-synthetic-time.safetensors"
# 3. the same recipe without the time (not shipped; the README's time-blind comparison)
$XVIEW train distill "$WORK/world/pairs.csv" "${COMMON[@]}" -o "$WORK/xview-synthetic-timeblind.safetensors"
rm -f "$MODELS/xview-synthetic-time.safetensors.ckpt" "$WORK"/*.ckpt
# 4. the README's figures on a held-out world (seed 11): P(snow) vs true snow cover per month, the year in
#    small multiples, time-aware vs time-blind localization
${PYTHON:-.venv/bin/python} tools/time_figures.py "$WORK" > "$WORK/time_figures.json"
