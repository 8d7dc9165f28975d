#!/usr/bin/env bash
# Rebuild the shipped synthetic twin model (resources/models/xview-synthetic-twin.*) from scratch, on the CPU.
# Usage: tools/train_twin_model.sh [WORK_DIR]   (about 5 minutes on 2 idle cores; far longer when they are shared)
# A sibling of tools/train_default_models.sh (the distillation model); then tools/twin_figures.py makes
# the README's twin table on a held-out world.
set -euo pipefail
XVIEW=${XVIEW:-.venv/bin/xview}
WORK=${1:-build/twin-model}
MODELS=${MODELS:-resources/models}
mkdir -p "$WORK" "$MODELS"
# 1. a synthetic world: 1.5 km x 1.5 km at 1 m, 1500 panoramas (360 degrees; training cuts them)
$XVIEW synth -o "$WORK/world" --seed 0 --size-m 1500 --gsd 1 --photos 1500 --fov 360 --overwrite
# 2. the twin network: twin_small branches, 64 px tiles at 1 m (64 m) -> 32 x 128 polar panoramas ->
#    16 x 4 x 32 maps; soft-margin triplet (alpha 10) over batches of 32, early stopping on the val split;
#    each batch turned at random and cut to 360, 180, 90 or 70 degrees (drawn per batch, seeded), so the
#    one model serves panoramas and limited-FOV photos
$XVIEW train twin "$WORK/world/pairs.csv" --raster "$WORK/world/overhead.tif" \
  -o "$MODELS/xview-synthetic-twin.safetensors" --branch twin_small --tile-px 64 --gsd 1 --polar 32,128 \
  --fov 360,180,90,70 --epochs 30 --patience 4 --batch-size 32 --lr 3e-4 --seed 0 --device cpu --overwrite
# the resume checkpoint is not shipped
rm -f "$MODELS/xview-synthetic-twin.safetensors.ckpt"
