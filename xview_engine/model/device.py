"""Compute device choice. Never fall back to the CPU silently: the UI shows what is really used."""

from __future__ import annotations

import importlib.util
import os
import re
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Optional

from xview_engine.errors import DeviceError

if TYPE_CHECKING:  # torch is imported where a device is used: the ONNX runtime's thread budget needs none
    import torch

    from xview_engine.model.manifest import Manifest

DEVICE_CHOICES = ("auto", "cpu", "cuda")
READER_RESERVE_FROM = 3  # from this many cores on, one is left to the tile reader (and GDAL's decoding)
LIGHT_BACKBONES = frozenset({"tiny_cnn"})  # small operators: one thread per run, several runs at once
GPU_READERS_MAX = 4  # tile readers side by side feeding one GPU (each ~2 300 224 px tiles/s on a core here)


# Device nodes a GPU torch needs on Linux: NVIDIA's driver, WSL2's GPU bridge, ROCm's kernel driver.
GPU_DEVICE_NODES = ("/proc/driver/nvidia/version", "/dev/nvidiactl", "/dev/nvidia0", "/dev/dxg", "/dev/kfd")


def gpu_may_be_present() -> bool:
    """False when torch surely sees no GPU, found without importing torch (1-3 s of start-up).

    A CPU build of torch (its ``version.py`` names no CUDA or HIP version) or, on Linux, no GPU driver
    node means no GPU. Anything else is a maybe, for torch itself to settle: the ONNX runtime on a
    CPU machine then starts without torch ever loading.
    """
    spec = importlib.util.find_spec("torch")
    if spec is None or not spec.submodule_search_locations:
        return False
    try:
        text = (Path(next(iter(spec.submodule_search_locations))) / "version.py").read_text(encoding="utf-8")
    except (OSError, StopIteration):
        return True
    builds = re.findall(r"^(cuda|hip)\b[^=\n]*=\s*(.+?)\s*$", text, re.M)
    if builds and all(value == "None" for _, value in builds):
        return False
    if sys.platform.startswith("linux"):
        return any(Path(node).exists() for node in GPU_DEVICE_NODES)
    return True


def resolve_device(name: str = "auto") -> torch.device:
    """'auto' -> CUDA when present, else CPU; 'cuda' (or 'cuda:N') without CUDA is an error."""
    import torch

    name = (name or "auto").lower()
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cpu":
        return torch.device("cpu")
    if name.startswith("cuda"):
        if not torch.cuda.is_available():
            raise DeviceError(
                "--device cuda was asked for but this torch sees no CUDA GPU "
                f"(torch {torch.__version__}, CUDA build {torch.version.cuda or 'none'}); "
                "use --device cpu, or install a CUDA build of torch and an NVIDIA driver"
            )
        device = torch.device(name)
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise DeviceError(f"{name} does not exist: this machine has {torch.cuda.device_count()} CUDA device(s)")
        return device
    raise DeviceError(f"unknown device '{name}' (choose from {', '.join(DEVICE_CHOICES)})")


def describe_device(device: torch.device) -> str:
    """What a person should read in the UI, e.g. 'CPU, 2 threads' or 'CUDA: NVIDIA H100 (80 GB)'."""
    import torch

    if device.type == "cuda":
        props = torch.cuda.get_device_properties(device)
        return f"CUDA: {props.name} ({props.total_memory / 2**30:.0f} GB)"
    return f"CPU, {torch.get_num_threads()} threads"


def autocast_context(device: torch.device):
    """Mixed precision on CUDA (float16 autocast); a no-op context on the CPU."""
    import contextlib

    import torch

    if device.type == "cuda":
        return torch.autocast(device_type="cuda", dtype=torch.float16)
    return contextlib.nullcontext()


def available_cores() -> int:
    """Cores this process may run on (its affinity mask, e.g. a container's or taskset's), not the machine's."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return max(1, os.cpu_count() or 1)


def thread_budget(threads: Optional[int] = None, cores: Optional[int] = None, light: bool = False) -> int:
    """Intra-op threads for each model run: ``threads`` when given, else the cores less the tile reader's.

    The reader thread (GDAL decoding, the table normalisation, the batch copy) runs beside the
    model. An intra-op pool as wide as the machine makes every operator wait for its slowest
    thread, and the reader's thread, sharing a core with one of them, made that the rule: slow
    batches, up to 5x under load. From three cores on, one is left to the reader. On two cores
    the reader's fast path needs a few percent of one for a large model, and a pool of one would
    halve its speed, so the model gets both (``--threads 1`` when something else runs too). A
    ``light`` model (``LIGHT_BACKBONES``: the shipped 48 px tiny CNN) gets one thread per run:
    its small operators gain little from a second thread (1.3-1.5x for two cores), so it runs
    several batches side by side instead (``stream_budget``).
    """
    if threads is not None:
        if threads < 1:
            raise DeviceError(f"--threads {threads} must be at least 1")
        return threads
    if light:
        return 1
    return _beside_the_reader(cores or available_cores())


def stream_budget(threads: Optional[int] = None, cores: Optional[int] = None, light: bool = False) -> int:
    """Batches a model runs at once (each on ``thread_budget`` threads): several only for a light model.

    Two one-thread runs of the shipped tiny CNN side by side forward 1.3-1.6x the tiles of one run
    on a two-thread pool here: the runs never wait for each other's threads. The tile reader shares
    the cores on two (it needs about a third of one); from three on it keeps one. ``--threads``
    given: one run at a time on that many threads, as asked.
    """
    if threads is not None or not light:
        return 1
    return _beside_the_reader(cores or available_cores())


def reader_budget(threads: Optional[int] = None, cores: Optional[int] = None) -> int:
    """Tile readers side by side feeding a model on a GPU: the host's cores (or ``threads``) less one, up to 4.

    One reader (decoding, the table normalisation, the copy into batches) reads about 2 300 tiles of
    224 px a second on one core here, two side by side on two cores 1.3-1.4x that, sharing them with
    the consumer (``benchmarks/bench_readers.py``): one is about the issue's GPU figure for a ResNet
    (2 000 tiles/s), and below what a current GPU forwards. The remaining core runs the model's
    launches, copies and answers. A cluster worker's ``threads`` (its share of the machine's cores)
    bounds its readers.
    """
    host = threads if threads is not None else (cores or available_cores())
    return max(1, min(GPU_READERS_MAX, host - 1))


def _beside_the_reader(cores: int) -> int:
    """Cores for the model: all of them up to two, then all but the tile reader's (``READER_RESERVE_FROM``)."""
    return max(1, cores - 1) if cores >= READER_RESERVE_FROM else cores


def is_light_model(manifest: Manifest) -> bool:
    """A model whose forward costs about as much as reading its tiles (``LIGHT_BACKBONES``)."""
    return manifest.backbone.name in LIGHT_BACKBONES


def apply_torch_threads(threads: int) -> None:
    """Set torch's intra-op pool to ``threads`` (process-wide; inter-op work is not used here)."""
    import torch

    if torch.get_num_threads() != threads:
        torch.set_num_threads(threads)
