"""Side by side with the Deepness QGIS plugin: the same ONNX network on the same raster, fresh processes.

The network is ResNet-18 with the default heads of ``bench_map`` (one 365-class Dirichlet head,
random weights: speed does not depend on them), exported by xview's own exporter; the one ONNX file
carries both xview's manifest and Deepness' standardisation metadata (the manifest's mean/std), so
both normalise alike. The raster is ``bench_map``'s: 4096^2 px bytes at 0.5 m on a scale-1 transverse
Mercator; 224 px tiles, 50 % overlap (stride 112 px).

* xview: the default `xview map` (``run_map`` with no runtime flag, default threads and batch) on
  the ONNX file: every product written.
* Deepness: its own processing code headless in real QGIS: a ``QgsRasterLayer``, its ``Recognition``
  model wrapper (onnxruntime, as the plugin builds it) and ``MapProcessorRecognition.run()`` (its
  per-tile QGIS data-provider reads, batching, preprocessing, inference, per-tile cosine score
  accumulated into the full-resolution result, the result GeoTIFF and layer), batch 16, entire layer.
  Recognition is the Deepness processor whose network output is one (B, C) vector per tile, as
  xview's heads are. It reads its query image with OpenCV; where OpenCV is not installed a stand-in
  ``cv2`` module with the three calls used on that one image (imread, cvtColor, resize, via Pillow)
  is put on the path: no tile goes through it.

Each is timed from building its model to the outputs written (interpreter, imports and QGIS start-up
excluded on both sides) and its peak memory is the process' VmHWM. ``--repeats`` runs alternate
xview / Deepness: the speed ratio is the median of the pairs' ratios (each xview run with the
Deepness run after it, so the drift of a shared machine's speed cancels), the memory ratio that of
the highest peaks. Targets (issue 12): xview >= 1.1x Deepness' tiles/s; peak memory <= Deepness'.

Deepness' source is expected in the ignored folder benchmarks/_peers/deepness (``src/deepness``);
``--fetch-deepness GIT`` (a URL or a local clone, bare or not) puts it there with ``git archive``.
Without it, or without QGIS or onnxruntime, the benchmark says so and skips Deepness.

Usage: python benchmarks/bench_deepness.py [--size-px 4096] [--repeats 1] [--fetch-deepness GIT]
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

from bench_map import make_model, make_raster, measure  # noqa: E402  (the same raster, model and xview run)

PEER = HERE / "_peers" / "deepness"
DEEPNESS_URL = "https://github.com/PUTvision/qgis-plugin-deepness"
DEEPNESS_BATCH = 16
OVERLAP_PERCENT = 50


def fetch_deepness(git_source: str) -> Path:
    """``src/`` of the Deepness repository at ``git_source`` (its HEAD) into the ignored peers folder."""
    PEER.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="xview-deepness-") as tmp:
        repo = git_source
        if not Path(git_source).exists():  # a URL: a shallow clone first
            subprocess.run(["git", "clone", "--quiet", "--depth", "1", git_source, f"{tmp}/repo"], check=True)
            repo = f"{tmp}/repo"
        archive = subprocess.run(["git", "-C", repo, "archive", "HEAD", "src"], check=True, capture_output=True)
        subprocess.run(["tar", "-x", "-C", str(PEER)], input=archive.stdout, check=True)
    return PEER / "src"


def deepness_missing() -> str | None:
    """Why Deepness cannot run here, or None."""
    if not (PEER / "src" / "deepness" / "processing").is_dir():
        return (f"Deepness' source is not in {PEER} (fetch it with: python benchmarks/bench_deepness.py "
                f"--fetch-deepness {DEEPNESS_URL})")
    for module in ("qgis", "onnxruntime", "PIL"):
        if importlib.util.find_spec(module) is None:
            return f"Deepness needs {module}, which this Python lacks"
    return None


def write_onnx(tmp: Path) -> tuple[Path, Path]:
    """The safetensors ResNet-18 and its ONNX export with Deepness' standardisation metadata added."""
    import onnx

    from xview_engine.model.file import read_manifest
    from xview_engine.model.onnx_export import export_onnx

    model = make_model(tmp / "resnet18.safetensors", "resnet18", {})
    path = export_onnx(model, tmp / "resnet18.onnx")
    spec = read_manifest(model).input
    proto = onnx.load(str(path))
    for key, value in (("standardization_mean", list(spec.mean)), ("standardization_std", list(spec.std))):
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, json.dumps(value)
    onnx.save(proto, str(path))
    return model, path


def _peak_rss_mb() -> float:
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmHWM:")) / 1024


def _cv2_for_the_query_image(folder: Path) -> None:
    """A ``cv2`` with imread / cvtColor / resize (Pillow) for Deepness' query image, if OpenCV is absent."""
    if importlib.util.find_spec("cv2") is not None:
        return
    (folder / "cv2.py").write_text(
        '"""Stand-in for the three OpenCV calls Deepness makes on its query image (bench_deepness)."""\n'
        "import numpy as np\nfrom PIL import Image\n\nCOLOR_BGR2RGB = 4\n\n\n"
        "def imread(path):\n    return np.asarray(Image.open(path).convert('RGB'))[:, :, ::-1].copy()\n\n\n"
        "def cvtColor(img, code):\n    return img[:, :, ::-1].copy()\n\n\n"
        "def resize(img, size):\n    return np.asarray(Image.fromarray(img).resize(tuple(size), Image.BILINEAR))\n",
        encoding="utf-8")
    sys.path.insert(0, str(folder))


def deepness_child(raster: str, onnx_path: str, work: str) -> None:
    """One Deepness Recognition run over the whole layer in this process (see the module docstring)."""
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    sys.path.insert(0, str(PEER / "src"))
    _cv2_for_the_query_image(Path(work))
    import numpy as np
    from PIL import Image
    from qgis.core import QgsApplication, QgsRasterLayer

    app = QgsApplication([], False)
    app.initQgis()
    from deepness.common.channels_mapping import ChannelsMapping, ImageChannelStandaloneBand
    from deepness.common.processing_overlap import ProcessingOverlap, ProcessingOverlapOptions
    from deepness.common.processing_parameters.map_processing_parameters import ProcessedAreaType
    from deepness.common.processing_parameters.recognition_parameters import RecognitionParameters
    from deepness.processing.map_processor.map_processing_result import MapProcessingResultSuccess
    from deepness.processing.map_processor.map_processor_recognition import MapProcessorRecognition
    from deepness.processing.models.recognition import Recognition

    query = Path(work) / "query.png"
    Image.fromarray(np.random.default_rng(3).integers(0, 256, (224, 224, 3), np.uint8)).save(query)
    layer = QgsRasterLayer(raster, "raster")
    if not layer.isValid():
        raise SystemExit(f"QGIS cannot open {raster}")
    channels = ChannelsMapping()  # as the plugin's dock sets it for an RGB layer
    channels.set_image_channels([ImageChannelStandaloneBand(band_number=b, name=n)
                                 for b, n in ((1, "red"), (2, "green"), (3, "blue"))])
    channels.set_number_of_model_inputs_same_as_image_channels()
    start = time.perf_counter()
    model = Recognition(onnx_path)
    params = RecognitionParameters(
        resolution_cm_per_px=50, tile_size_px=model.get_input_size_in_pixels()[0], batch_size=DEEPNESS_BATCH,
        local_cache=False, processed_area_type=ProcessedAreaType.ENTIRE_LAYER, mask_layer_id=None,
        input_layer_id=layer.id(), input_channels_mapping=channels,
        processing_overlap=ProcessingOverlap(ProcessingOverlapOptions.OVERLAP_IN_PERCENT, percentage=OVERLAP_PERCENT),
        model=model, query_image_path=str(query))
    processor = MapProcessorRecognition(rlayer=layer, vlayer_mask=None, map_canvas=None, params=params)
    with open(os.devnull, "w") as quiet, contextlib.redirect_stdout(quiet):  # it prints a line per tile
        processor.run()
    seconds = time.perf_counter() - start
    result = processor._processing_result
    if not isinstance(result, MapProcessingResultSuccess):
        raise SystemExit(f"Deepness failed: {result.message} {getattr(result, 'exception', '')}")
    tiles = processor.x_bins_number * processor.y_bins_number
    print(json.dumps({"tiles": tiles, "seconds": seconds, "maxrss_mb": _peak_rss_mb(),
                      "runtime": f"onnxruntime, batch {DEEPNESS_BATCH}, {result.message}"}))


def run_deepness(raster: Path, onnx_path: Path, work: Path) -> dict:
    work.mkdir(exist_ok=True)
    env = {**os.environ, "TMPDIR": str(work)}  # its result GeoTIFF goes to a temporary folder of its own
    # ... and its 'grid_data' scratch raster (GDAL Create('grid_data', ...)) to the working directory: the work folder
    out = subprocess.run([sys.executable, str(Path(__file__).resolve()), "--deepness-child", str(raster),
                          str(onnx_path), str(work)], check=True, capture_output=True, text=True, env=env, cwd=work)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-px", type=int, default=4096)
    parser.add_argument("--repeats", type=int, default=3, help="alternating runs of each")
    parser.add_argument("--fetch-deepness", metavar="GIT", help=f"put Deepness' source in {PEER} first "
                        f"(e.g. {DEEPNESS_URL} or a local clone)")
    parser.add_argument("--deepness-child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.deepness_child:
        deepness_child(*args.deepness_child)
        return 0
    if args.fetch_deepness:
        fetch_deepness(args.fetch_deepness)
    missing = deepness_missing()
    if missing:
        print(f"bench_deepness: skipped: {missing}")
        return 0
    with tempfile.TemporaryDirectory(prefix="xview-bench-deepness-") as tmp:
        tmp = Path(tmp)
        os.environ["XVIEW_HOME"] = str(tmp / "home")
        _, onnx_path = write_onnx(tmp)
        raster = make_raster(tmp / "raster.tif", args.size_px)
        runs: dict[str, list[dict]] = {"xview": [], "Deepness": []}
        for i in range(args.repeats):
            runs["xview"].append(measure(raster, onnx_path, tmp / f"xview-{i}", 32))
            runs["Deepness"].append(run_deepness(raster, onnx_path, tmp / f"deepness-{i}"))
        _report(runs, args.size_px)
    return 0


def _report(runs: dict[str, list[dict]], size_px: int) -> None:
    print(f"xview vs Deepness, ResNet-18 (one 365-class head) as one ONNX file, {size_px}^2 px at 0.5 m, 224 px tiles, "
          f"{OVERLAP_PERCENT} % overlap, CPU ({os.cpu_count()} CPUs), load average {os.getloadavg()[0]:.1f}:")
    rates = {name: [r["tiles"] / r["seconds"] for r in entries] for name, entries in runs.items()}
    peaks = {name: max(r["maxrss_mb"] for r in entries) for name, entries in runs.items()}
    for name, entries in runs.items():
        each = ", ".join(f"{rate:.1f}" for rate in rates[name])
        print(f"  {name:8s} {entries[0]['tiles']:5d} tiles  median {statistics.median(rates[name]):6.1f} tiles/s "
              f"(runs: {each})  peak RSS {peaks[name]:6.0f} MB  ({entries[0]['runtime']})")
    # pair by pair (each xview run with the Deepness run right after it): drift in the machine's speed cancels
    speed = statistics.median(x / d for x, d in zip(rates["xview"], rates["Deepness"]))
    memory = peaks["xview"] / peaks["Deepness"]
    print(f"  xview / Deepness: speed {speed:.2f}x, median of {len(rates['xview'])} pairs (target >= 1.1: "
          f"{'MET' if speed >= 1.1 else 'MISS'}); peak memory {memory:.2f} (target <= 1: "
          f"{'MET' if memory <= 1.0 else 'MISS'})")


if __name__ == "__main__":
    sys.exit(main())
