#!/usr/bin/env bash
# The GPU check, on a machine with an NVIDIA GPU and no network (this project's GPU machines: Python 3.12,
# numpy 2, torch 2.11, no rasterio / pyproj / shapely). Under 8 minutes:
#   1. installs the carried wheels of what is missing (benchmarks/_wheels, made here by fetch_gpu_wheels.sh)
#      into a folder of its own (never into the machine's Python);
#   2. runs the CUDA tests (tests/model/test_cuda_paths.py: device choice, autocast, pinned copies, map --device
#      cuda, an index, a training step) and, on that machine's numpy 2, the engine's quick numpy tests;
#   3. runs benchmarks/gpu_map.py (ResNet-50 on CUDA, end to end vs bare forward) while nvidia-smi samples
#      GPU utilisation every 200 ms, and prints tiles/s and the utilisation's mean and peak.
#
# Usage (repo root):  bash benchmarks/fetch_gpu_wheels.sh cp312   # here, with a registry, once
#                     bash benchmarks/gpu_check.sh                # there, with benchmarks/_wheels carried
# Exit status: 0 when the tests pass and the benchmark ran, 1 otherwise.
set -uo pipefail
cd "$(dirname "$0")/.."
python="${PYTHON:-python3}"
site="${XVIEW_GPU_SITE:-/tmp/xview-gpu-site}"
logs="${OUT:-/tmp/xview-gpu-check}"
mkdir -p "$logs"
export PYTHONUNBUFFERED=1 QT_QPA_PLATFORM=offscreen
status=0

echo "== machine"
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader || echo "nvidia-smi: none"
"$python" -c "import sys, numpy, torch; print('python', sys.version.split()[0], 'numpy', numpy.__version__,
'torch', torch.__version__, 'cuda', torch.cuda.is_available())" || exit 1

echo "== wheels"
missing=$("$python" - <<'PY'
import importlib.util
print(" ".join(m for m in ("rasterio", "pyproj", "shapely", "affine", "safetensors") if importlib.util.find_spec(m) is None))
PY
)
if [ -n "$missing" ]; then
    echo "missing: $missing; installing benchmarks/_wheels into $site"
    ls benchmarks/_wheels/*.whl >/dev/null 2>&1 || { echo "no wheels: run benchmarks/fetch_gpu_wheels.sh here first"; exit 1; }
    "$python" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target "$site" \
        benchmarks/_wheels/*.whl || exit 1
fi
export PYTHONPATH="$PWD:$site${PYTHONPATH:+:$PYTHONPATH}"
"$python" -c "import rasterio, pyproj, shapely, numpy; print('rasterio', rasterio.__version__, 'pyproj', pyproj.__version__,
'shapely', shapely.__version__, 'on numpy', numpy.__version__)" || exit 1

echo "== CUDA tests"
timeout 240 "$python" -m pytest -q -p no:cacheprovider -rs tests/model/test_cuda_paths.py tests/model/test_device.py \
    2>&1 | tee "$logs/cuda_tests.log" || status=1

echo "== engine tests on this numpy"
timeout 120 "$python" -m pytest -q -p no:cacheprovider -x tests/localization/test_likelihood.py \
    tests/localization/test_ranking.py tests/localization/test_metrics.py tests/mapping/test_products.py \
    tests/model/test_distributions.py tests/raster/test_grid.py 2>&1 | tail -5 || status=1

echo "== bench: xview map, ResNet-50 on CUDA"
nvidia-smi --query-gpu=utilization.gpu,memory.used --format=csv,noheader,nounits -lms 200 > "$logs/gpu_util.csv" 2>/dev/null &
smi=$!
timeout 200 "$python" benchmarks/gpu_map.py 2>&1 | tee "$logs/gpu_map.log" || status=1
kill "$smi" 2>/dev/null
wait "$smi" 2>/dev/null
"$python" - "$logs/gpu_util.csv" <<'PY'
import sys
rows = [line.split(",") for line in open(sys.argv[1]) if line.strip() and line.split(",")[0].strip().isdigit()]
util = [int(r[0]) for r in rows]
mem = [int(r[1]) for r in rows]
if util:
    print(f"GPU utilisation over {len(util)} samples (200 ms): mean {sum(util) / len(util):.0f} %, "
          f"peak {max(util)} %; memory used peak {max(mem)} MiB")
else:
    print("GPU utilisation: no nvidia-smi samples")
PY
echo "gpu_check: $([ $status -eq 0 ] && echo PASS || echo FAIL)"
exit $status
