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
