#!/usr/bin/env bash
# Download, here (with a registry), the wheels that a GPU machine lacks into benchmarks/_wheels (ignored by git),
# for benchmarks/gpu_check.sh to install there without a network. About 46 MB for cp312 (under the 64 MB a
# device call may carry).
#
# Usage: bash benchmarks/fetch_gpu_wheels.sh [cp312]     (the GPU machine's Python tag; it runs Python 3.12)
# What the GPU machine has (its image: numpy 2, torch 2.11, torchvision, safetensors, scipy, pillow, pytest,
# onnx, onnxruntime) is not fetched; what xview needs besides: rasterio (+ affine, cligj, click-plugins),
# pyproj, shapely. One version of each, no dependencies resolved (--no-deps): the list is complete.
set -euo pipefail
tag="${1:-cp312}"
version="${tag#cp}"
version="${version:0:1}.${version:1}"
here="$(cd "$(dirname "$0")" && pwd)"
out="$here/_wheels"
mkdir -p "$out"
python="${PYTHON:-python3}"
"$python" -m pip download --no-deps --only-binary=:all: --python-version "$version" --implementation cp \
    --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux_2_24_x86_64 \
    --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 -d "$out" \
    "rasterio==1.4.*" "affine>=2.4" "cligj>=0.5" "click-plugins" "pyproj==3.*" "shapely==2.*"
du -sh "$out"
ls "$out"
