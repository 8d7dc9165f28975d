"""Which torch build fits this machine: CPU, or the CUDA build its NVIDIA driver can run.

A CUDA build of torch runs only when the driver supports at least that CUDA version; ``nvidia-smi``
prints the highest one the driver supports ("CUDA Version: 12.4" in its header). The choice is the
newest build of the pinned torch release that the driver can run; no ``nvidia-smi`` (no NVIDIA
driver) means the CPU build. The CPU build is also what a driver too old for every build gets, with
the reason said, never silently.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from dataclasses import dataclass

from xview_engine.install.requirements import version_key

# The CUDA builds published for the pinned torch release (requirements.ENGINE_REQUIREMENTS), oldest
# first, each with the lowest driver CUDA version that runs it. Update together with the torch pin.
TORCH_CUDA_BUILDS: tuple[tuple[str, str], ...] = (("cu126", "12.6"), ("cu128", "12.8"), ("cu130", "13.0"))
BUILDS: tuple[str, ...] = ("cpu", *(name for name, _ in TORCH_CUDA_BUILDS))
TORCH_INDEX = "https://download.pytorch.org/whl/{build}"


@dataclass(frozen=True)
class NvidiaInfo:
    """What ``nvidia-smi`` says; ``error`` tells why nothing was read (no driver, failed run)."""

    driver: str | None = None
    cuda: str | None = None  # the highest CUDA version the driver supports
    gpus: tuple[str, ...] = ()
    error: str | None = None


@dataclass(frozen=True)
class BuildChoice:
    """The torch build to install and, in words, why."""

    build: str
    reason: str

    @property
    def index_url(self) -> str:
        return TORCH_INDEX.format(build=self.build)


def parse_nvidia_smi(header: str, listing: str = "") -> NvidiaInfo:
    """Driver and CUDA versions from ``nvidia-smi``'s header, GPU names from ``nvidia-smi -L``."""
    driver = re.search(r"Driver Version:\s*([\d.]+)", header)
    cuda = re.search(r"CUDA Version:\s*([\d.]+)", header)
    gpus = tuple(m.strip() for m in re.findall(r"^GPU \d+:\s*(.+?)\s*(?:\(UUID:.*)?$", listing, re.MULTILINE))
    if driver is None and cuda is None:
        return NvidiaInfo(gpus=gpus, error="nvidia-smi printed no driver or CUDA version")
    return NvidiaInfo(driver.group(1) if driver else None, cuda.group(1) if cuda else None, gpus)


def query_nvidia_smi(timeout_s: float = 15.0) -> NvidiaInfo:
    """Run ``nvidia-smi`` (from PATH) and parse it; a missing or failing tool is said in ``error``."""
    exe = shutil.which("nvidia-smi")
    if exe is None:
        return NvidiaInfo(error="no nvidia-smi on PATH (no NVIDIA driver installed)")
    try:
        header = subprocess.run([exe], capture_output=True, text=True, timeout=timeout_s)
        listing = subprocess.run([exe, "-L"], capture_output=True, text=True, timeout=timeout_s)
    except (OSError, subprocess.SubprocessError) as exc:
        return NvidiaInfo(error=f"nvidia-smi could not run: {exc}")
    if header.returncode != 0:
        said = (header.stdout + header.stderr).strip().splitlines()
        return NvidiaInfo(error=f"nvidia-smi failed (exit {header.returncode}): {said[0] if said else 'no output'}")
    return parse_nvidia_smi(header.stdout, listing.stdout if listing.returncode == 0 else "")


def choose_build(nvidia: NvidiaInfo) -> BuildChoice:
    """The newest CUDA build the driver runs; CPU when there is no driver or it is too old for all."""
    if nvidia.cuda is None:
        return BuildChoice("cpu", f"CPU: {nvidia.error or 'nvidia-smi shows no CUDA version'}")
    fitting = [name for name, needs in TORCH_CUDA_BUILDS if version_key(needs) <= version_key(nvidia.cuda)]
    gpu = f" for {nvidia.gpus[0]}" if nvidia.gpus else ""
    if not fitting:
        oldest = TORCH_CUDA_BUILDS[0][1]
        return BuildChoice("cpu", f"CPU: the NVIDIA driver {nvidia.driver} supports CUDA {nvidia.cuda}, the oldest "
                                  f"CUDA build of torch needs {oldest}; update the driver to use the GPU")
    return BuildChoice(fitting[-1], f"CUDA {fitting[-1]}{gpu}: driver {nvidia.driver} supports CUDA {nvidia.cuda}")
