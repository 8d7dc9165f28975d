from __future__ import annotations

import pytest
import torch

from xview_engine.errors import DeviceError
from xview_engine.model.device import autocast_context, describe_device, resolve_device


def test_auto_and_cpu() -> None:
    assert resolve_device("cpu") == torch.device("cpu")
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert resolve_device("auto").type == expected
    assert describe_device(torch.device("cpu")) == f"CPU, {torch.get_num_threads()} threads"


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_cuda_without_cuda_is_a_clear_error() -> None:
    with pytest.raises(DeviceError, match="--device cuda was asked for but this torch sees no CUDA GPU"):
        resolve_device("cuda")


def test_unknown_device() -> None:
    with pytest.raises(DeviceError, match="unknown device 'tpu' \\(choose from auto, cpu, cuda\\)"):
        resolve_device("tpu")


def test_autocast_is_a_no_op_on_cpu() -> None:
    with autocast_context(torch.device("cpu")):
        y = torch.ones(2, 2) @ torch.ones(2, 2)
    assert y.dtype == torch.float32


def test_gpu_may_be_present_without_importing_torch(tmp_path, monkeypatch) -> None:
    """A CPU build of torch, or no GPU driver node on Linux, is a sure 'no' found without importing torch."""
    import importlib.util
    import subprocess
    import sys
    from pathlib import Path

    from xview_engine.model import device

    code = ("import sys; from xview_engine.model.device import gpu_may_be_present as g; "
            "print(g(), 'torch' in sys.modules)")
    root = Path(__file__).resolve().parents[2]
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={"PYTHONPATH": str(root), "PATH": "/usr/bin:/bin"})
    assert out.stdout.split()[1] == "False"
    if out.stdout.split()[0] == "False":
        assert not torch.cuda.is_available()  # a sure 'no' must agree with torch

    fake = tmp_path / "torch"
    fake.mkdir()
    spec = importlib.util.spec_from_file_location("torch", fake / "__init__.py", submodule_search_locations=[str(fake)])
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: spec if name == "torch" else None)
    (fake / "version.py").write_text("cuda: Optional[str] = None\nhip: Optional[str] = None\n")
    assert device.gpu_may_be_present() is False  # the CPU build
    (fake / "version.py").write_text("cuda: Optional[str] = '13.0'\nhip: Optional[str] = None\n")
    monkeypatch.setattr(device, "GPU_DEVICE_NODES", (str(tmp_path / "no-such-node"),))
    monkeypatch.setattr(device.sys, "platform", "linux")
    assert device.gpu_may_be_present() is False  # a CUDA build with no driver
    node = tmp_path / "nvidiactl"
    node.touch()
    monkeypatch.setattr(device, "GPU_DEVICE_NODES", (str(node),))
    assert device.gpu_may_be_present() is True
