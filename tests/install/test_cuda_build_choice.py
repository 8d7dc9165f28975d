"""The torch build chosen from a fake ``nvidia-smi`` on PATH (real subprocess, fake driver answers)."""

from __future__ import annotations

import os
import stat

import pytest

from xview_engine.install.cuda import choose_build, parse_nvidia_smi, query_nvidia_smi

HEADER = """Tue Jun 10 12:00:00 2025
+-----------------------------------------------------------------------------------------+
| NVIDIA-SMI {driver}             Driver Version: {driver}     CUDA Version: {cuda}     |
|-----------------------------------------+------------------------+----------------------+
| GPU  Name                 Persistence-M | Bus-Id          Disp.A | Volatile Uncorr. ECC |
|   0  {gpu}                    On  |   00000000:18:00.0 Off |                    0 |
+-----------------------------------------+------------------------+----------------------+
"""
LISTING = "GPU 0: {gpu} (UUID: GPU-0b3c5e1a-1111-2222-3333-444455556666)\n"
FAILED = ("NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver. "
          "Make sure that the latest NVIDIA driver is installed and running.\n")


def fake_nvidia_smi(folder, monkeypatch, header: str, listing: str = "", code: int = 0) -> None:
    """An executable ``nvidia-smi`` script first on PATH: prints ``listing`` for -L, else ``header``."""
    (folder / "header.txt").write_text(header)
    (folder / "listing.txt").write_text(listing)
    script = folder / "nvidia-smi"
    script.write_text(f'#!/bin/sh\nif [ "$1" = "-L" ]; then cat "{folder}/listing.txt"; '
                      f'else cat "{folder}/header.txt"; fi\nexit {code}\n')
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setenv("PATH", f"{folder}{os.pathsep}{os.environ['PATH']}")


pytestmark = pytest.mark.skipif(os.name == "nt", reason="the fake nvidia-smi is a shell script")


@pytest.mark.parametrize(("driver", "cuda", "build"), [
    ("580.65.06", "13.0", "cu130"),
    ("570.124.06", "12.8", "cu128"),
    ("560.35.03", "12.6", "cu126"),
    ("575.51.03", "12.9", "cu128"),
])
def test_newest_build_the_driver_runs(tmp_path, monkeypatch, driver, cuda, build):
    fake_nvidia_smi(tmp_path, monkeypatch, HEADER.format(driver=driver, cuda=cuda, gpu="NVIDIA H200"),
                    LISTING.format(gpu="NVIDIA H200"))
    info = query_nvidia_smi()
    assert (info.driver, info.cuda, info.gpus, info.error) == (driver, cuda, ("NVIDIA H200",), None)
    choice = choose_build(info)
    assert choice.build == build
    assert choice.reason == f"CUDA {build} for NVIDIA H200: driver {driver} supports CUDA {cuda}"
    assert choice.index_url == f"https://download.pytorch.org/whl/{build}"


def test_driver_too_old_for_every_build_gives_cpu_and_says_why(tmp_path, monkeypatch):
    fake_nvidia_smi(tmp_path, monkeypatch, HEADER.format(driver="470.82.01", cuda="11.4", gpu="Tesla T4"))
    choice = choose_build(query_nvidia_smi())
    assert choice.build == "cpu"
    assert "driver 470.82.01 supports CUDA 11.4" in choice.reason and "update the driver" in choice.reason


def test_failing_nvidia_smi_gives_cpu_with_its_message(tmp_path, monkeypatch):
    fake_nvidia_smi(tmp_path, monkeypatch, FAILED, code=9)
    info = query_nvidia_smi()
    assert info.cuda is None and info.error.startswith("nvidia-smi failed (exit 9): NVIDIA-SMI has failed")
    assert choose_build(info).build == "cpu"


def test_no_nvidia_smi_means_cpu(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    info = query_nvidia_smi()
    assert info.error == "no nvidia-smi on PATH (no NVIDIA driver installed)"
    choice = choose_build(info)
    assert choice.build == "cpu" and choice.reason == "CPU: no nvidia-smi on PATH (no NVIDIA driver installed)"


def test_header_without_versions():
    info = parse_nvidia_smi("No devices were found\n")
    assert info.cuda is None and info.error == "nvidia-smi printed no driver or CUDA version"


def test_several_gpus_listed():
    listing = LISTING.format(gpu="NVIDIA A100-SXM4-80GB") + "GPU 1: NVIDIA A100-SXM4-80GB (UUID: GPU-x)\n"
    info = parse_nvidia_smi(HEADER.format(driver="550.54.15", cuda="12.4", gpu="A100"), listing)
    assert info.gpus == ("NVIDIA A100-SXM4-80GB", "NVIDIA A100-SXM4-80GB")
    assert choose_build(info).build == "cpu"  # 12.4 is older than the oldest build of the pinned torch
