"""Model runtimes: a model file turned into a function batch -> head parameters, on a chosen device.

``torch``: the safetensors model on CPU (channels_last memory, inference_mode) or CUDA (pinned host
memory, non-blocking copies, float16 autocast). ``onnx``: the exported ONNX graph in onnxruntime
(an .onnx file, or a safetensors file exported once into the cache, ``onnx_export.cached_export``).
``auto`` (the default) picks onnxruntime on the CPU when it is installed (1.5-1.6x torch's CPU
forward for ResNets here) and torch on CUDA. Both use ``device.thread_budget`` threads per run, and
a light model runs ``device.stream_budget`` batches at once (``ModelRuntime.streams``). The device
is never chosen silently: the description says which runtime, how many threads, and where.
"""

from __future__ import annotations

import importlib.util
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional

import numpy as np

from xview_engine.errors import DependencyError, DeviceError, ModelFileError
from xview_engine.model.manifest import Manifest

RUNTIMES = ("auto", "torch", "onnx")


@dataclass
class ModelRuntime:
    """A ready-to-call model: ``run(tiles (B, C, H, W) float32) -> {head: (B, K) float32}``.

    A time-aware model's ``run(tiles, times (S, F))`` gives {head: (B, S, K)}: each tile at each time
    (``model.time_features.time_matrix``); ``at_times`` binds the times into a plain tile runner.
    """

    manifest: Manifest
    run: Callable[..., dict[str, np.ndarray]]
    runtime: str  # what runs: 'torch' or 'onnx', never 'auto'
    description: str  # 'runtime onnx, 2 threads (onnxruntime 1.x with CPUExecutionProvider; ...)'
    threads: int = 0  # intra-op threads of each run on the CPU; 0 on a GPU
    streams: int = 1  # batches to run at once from as many threads (``device.stream_budget``); ``run`` is thread-safe
    readers: int = 1  # tile readers side by side feeding it (``device.reader_budget``; several on a GPU)

    @property
    def reader_yields(self) -> bool:
        """One pool of several CPU threads: the tile reader should run behind it (``mapping.batches``)."""
        return self.threads > 1 and self.streams == 1

    @property
    def batch_options(self) -> dict[str, object]:
        """How ``mapping.batches.predict_rows`` should feed this runtime: streams, readers, reader_yields."""
        return {"streams": self.streams, "readers": self.readers, "reader_yields": self.reader_yields}


def at_times(runtime: ModelRuntime, times: np.ndarray) -> Callable[[np.ndarray], dict[str, np.ndarray]]:
    """A tile runner for a time-aware model at S fixed times: {head: (B, S * K)}, time step major per row.

    A time-blind model (no ``time_features``) gets its own runner back: its maps do not change with time.
    """
    if not runtime.manifest.takes_time:
        return runtime.run
    steps = np.ascontiguousarray(times, np.float32)

    def run(tiles: np.ndarray) -> dict[str, np.ndarray]:
        return {name: value.reshape(len(value), -1) for name, value in runtime.run(tiles, steps).items()}

    return run


def read_model_manifest(path: str | Path) -> Manifest:
    """The manifest of a .safetensors or exported .onnx model file, without loading weights."""
    if Path(path).suffix.lower() == ".onnx":
        from xview_engine.model.onnx_export import read_onnx_manifest

        return read_onnx_manifest(path)
    from xview_engine.model.file import read_manifest

    return read_manifest(path)


def load_runtime(model_path: str | Path, runtime: str = "auto", device: str = "auto",
                 threads: Optional[int] = None) -> ModelRuntime:
    """Load ``model_path`` for ``runtime`` ('auto', 'torch', 'onnx') on ``device`` ('auto', 'cpu', 'cuda').

    ``threads``: intra-op threads on the CPU (default: ``device.thread_budget``).
    """
    path = Path(model_path)
    chosen = choose_runtime(runtime, device, path)
    if chosen == "torch":
        return _torch_runtime(path, device, threads)
    if runtime == "auto":
        try:
            return _onnx_runtime(path, device, threads)
        except DependencyError:
            raise
        except Exception as exc:  # a network the exporter cannot trace: torch runs it, and says why
            fallback = _torch_runtime(path, device, threads)
            fallback.description += f"; onnx export failed ({type(exc).__name__}), so torch"
            return fallback
    return _onnx_runtime(path, device, threads)


def choose_runtime(runtime: str, device: str, model_path: str | Path) -> str:
    """'auto' -> 'onnx' for an .onnx file, 'torch' on CUDA, 'onnx' on the CPU when onnxruntime is installed."""
    if runtime not in RUNTIMES:
        raise DeviceError(f"unknown runtime '{runtime}' (choose from {', '.join(RUNTIMES)})")
    if runtime != "auto":
        return runtime
    if Path(model_path).suffix.lower() == ".onnx":
        return "onnx"
    name = (device or "auto").lower()
    if name.startswith("cuda"):
        return "torch"
    if name == "auto":
        from xview_engine.model.device import gpu_may_be_present, resolve_device

        if gpu_may_be_present() and resolve_device("auto").type == "cuda":
            return "torch"
    return "onnx" if _onnx_installed() else "torch"


def _onnx_installed() -> bool:
    return all(importlib.util.find_spec(name) is not None for name in ("onnxruntime", "onnx"))


def check_device(runtime: str, device: str, model_path: str | Path = "") -> None:
    """Fail fast, before any work, when the runtime or device asked for is not there."""
    runtime = choose_runtime(runtime, device, model_path)
    if runtime == "torch":
        from xview_engine.model.device import resolve_device

        resolve_device(device)
    else:
        try:
            import onnxruntime as ort
        except ImportError:
            raise DependencyError("onnxruntime is not installed; install it with: pip install onnxruntime") from None
        _onnx_providers(ort, device)


def _torch_runtime(path: Path, device_name: str, threads: Optional[int]) -> ModelRuntime:
    import torch

    from xview_engine.model.device import (
        apply_torch_threads,
        autocast_context,
        describe_device,
        is_light_model,
        reader_budget,
        resolve_device,
        stream_budget,
        thread_budget,
    )
    from xview_engine.model.file import load_model

    if path.suffix.lower() == ".onnx":
        raise DeviceError(f"{path} is an ONNX model; run it with --runtime onnx")
    device = resolve_device(device_name)
    loaded = load_model(path, device=device)
    light = is_light_model(loaded.manifest)
    n = thread_budget(threads, light=light)
    streams = stream_budget(threads, light=light) if device.type == "cpu" else 1
    apply_torch_threads(n)  # also on CUDA: the host side (copies, the reader's numpy) shares the cores
    model = loaded.model.to(memory_format=torch.channels_last)

    def run(tiles: np.ndarray, times: Optional[np.ndarray] = None) -> dict[str, np.ndarray]:
        x = torch.from_numpy(tiles)
        if device.type == "cuda":
            x = x.pin_memory().to(device, non_blocking=True)
        x = x.contiguous(memory_format=torch.channels_last)
        with torch.inference_mode(), autocast_context(device):
            out = model(x) if times is None else model.forward_times(x, torch.from_numpy(times).to(device))
        return {name: value.float().cpu().numpy() for name, value in out.items()}

    on_cpu = device.type == "cpu"
    readers = 1 if on_cpu else reader_budget(threads)
    what = f"runtime torch, {_threads(n, streams)}" if on_cpu else f"runtime torch, {_readers(readers)}"
    detail = f"torch {torch.__version__} on {describe_device(device)}"
    return ModelRuntime(loaded.manifest, run, "torch", f"{what} ({detail})", n if on_cpu else 0, streams, readers)


def _onnx_runtime(path: Path, device_name: str, threads: Optional[int]) -> ModelRuntime:
    try:
        import onnxruntime as ort
    except ImportError:
        raise DependencyError("onnxruntime is not installed; install it with: pip install onnxruntime") from None
    from xview_engine.model.device import is_light_model, reader_budget, stream_budget
    from xview_engine.model.onnx_export import INPUT_NAME, TIME_INPUT_NAME, cached_export, export_onnx

    providers = _onnx_providers(ort, device_name)
    if path.suffix.lower() == ".onnx":
        onnx_path, note = path, "ONNX file"
    else:
        try:
            onnx_path, exported = cached_export(path)
            note = f"export {'written to' if exported else 'reused from'} {onnx_path.parent}"
        except OSError:  # a read-only home: export for this run only
            onnx_path, note = None, "export for this run only (the cache folder is not writable)"
    if onnx_path is None:
        with tempfile.TemporaryDirectory(prefix="xview-onnx-") as tmp:
            manifest, session, n = _session(ort, export_onnx(path, Path(tmp) / "model.onnx"), threads, providers)
    else:
        manifest, session, n = _session(ort, onnx_path, threads, providers)
    names = [o.name for o in session.get_outputs()]

    def run(tiles: np.ndarray, times: Optional[np.ndarray] = None) -> dict[str, np.ndarray]:
        feed = {INPUT_NAME: np.ascontiguousarray(tiles, np.float32)}
        if manifest.takes_time and times is None:
            raise ModelFileError(f"{path} takes the time ({', '.join(manifest.time_features)}); give the time to map "
                                 "at (--time or --months)")
        if times is not None:
            feed[TIME_INPUT_NAME] = np.ascontiguousarray(times, np.float32)
        outputs = session.run(names, feed)
        return {name: np.asarray(value, np.float32) for name, value in zip(names, outputs)}

    used = session.get_providers()[0]
    on_cpu = used == "CPUExecutionProvider"
    # InferenceSession.run is thread-safe: side-by-side runs share the session's weights
    streams = stream_budget(threads, light=is_light_model(manifest)) if on_cpu else 1
    readers = 1 if on_cpu else reader_budget(threads)
    what = f"runtime onnx, {_threads(n, streams)}" if on_cpu else f"runtime onnx, {_readers(readers)}"
    return ModelRuntime(manifest, run, "onnx", f"{what} (onnxruntime {ort.__version__} with {used}; {note})",
                        n if on_cpu else 0, streams, readers)


def _session(ort: object, onnx_path: Path, threads: Optional[int],
             providers: list[str]) -> tuple[Manifest, object, int]:
    """The file's manifest, an inference session with ``device.thread_budget`` threads, and that count."""
    from xview_engine.model.device import is_light_model, thread_budget
    from xview_engine.model.onnx_export import read_onnx_manifest

    manifest = read_onnx_manifest(onnx_path)
    n = thread_budget(threads, light=is_light_model(manifest))
    options = ort.SessionOptions()  # type: ignore[attr-defined]
    options.intra_op_num_threads = n
    options.inter_op_num_threads = 1  # one graph, run operator after operator: no second pool
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL  # type: ignore[attr-defined]
    # Idle pool threads sleep instead of spinning: between runs they burned the cores the tile reader
    # (and QGIS, and anything else) needs; under load a spinning pool made the whole map 10-40 % slower.
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return manifest, ort.InferenceSession(str(onnx_path), options, providers=providers), n  # type: ignore


def _readers(n: int) -> str:
    return f"{n} tile readers side by side" if n > 1 else "1 tile reader"


def _threads(n: int, streams: int = 1) -> str:
    threads = f"{n} thread" if n == 1 else f"{n} threads"
    return threads if streams == 1 else f"{streams} batches at once, {threads} each"


def _onnx_providers(ort: object, device_name: str) -> list[str]:
    available = ort.get_available_providers()  # type: ignore[attr-defined]
    name = (device_name or "auto").lower()
    has_cuda = "CUDAExecutionProvider" in available
    if name.startswith("cuda") and not has_cuda:
        raise DeviceError(
            "--device cuda was asked for but this onnxruntime has no CUDA provider "
            f"(available: {', '.join(available)}); use --device cpu or install onnxruntime-gpu"
        )
    if name not in ("auto", "cpu") and not name.startswith("cuda"):
        raise DeviceError(f"unknown device '{device_name}' (choose from auto, cpu, cuda)")
    if has_cuda and name != "cpu":
        return ["CUDAExecutionProvider", "CPUExecutionProvider"]
    return ["CPUExecutionProvider"]
