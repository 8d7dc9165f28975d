"""Compute device choice. Never fall back to the CPU silently: the UI shows what is really used."""

from __future__ import annotations

import torch

from xview_engine.errors import DeviceError

DEVICE_CHOICES = ("auto", "cpu", "cuda")


def resolve_device(name: str = "auto") -> torch.device:
    """'auto' -> CUDA when present, else CPU; 'cuda' (or 'cuda:N') without CUDA is an error."""
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
    if device.type == "cuda":
        props = torch.cuda.get_device_properties(device)
        return f"CUDA: {props.name} ({props.total_memory / 2**30:.0f} GB)"
    return f"CPU, {torch.get_num_threads()} threads"


def autocast_context(device: torch.device):
    """Mixed precision on CUDA (float16 autocast); a no-op context on the CPU."""
    import contextlib

    if device.type == "cuda":
        return torch.autocast(device_type="cuda", dtype=torch.float16)
    return contextlib.nullcontext()
