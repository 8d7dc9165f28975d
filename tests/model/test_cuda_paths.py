"""The CUDA paths: device choice, autocast, pinned copies, `xview map --device cuda`, an index, a training step.

Skipped where torch sees no CUDA GPU (CI, this project's machines); ``benchmarks/gpu_check.sh``
runs them on a GPU machine. Without CUDA, ``--device cuda`` must be a one-line error: that is
tested in test_device.py and tests/mapping/test_map_cli.py.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from mapping_fixtures import random_rgb, tiny_model

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="torch sees no CUDA GPU")


@pytest.fixture()
def inputs(tmp_path):
    random_rgb(tmp_path / "rgb.tif", width=96, height=80)
    return tmp_path / "rgb.tif", tiny_model(tmp_path / "m.safetensors", gsd_m=10.0)


def test_device_choice_and_description() -> None:
    from xview_engine.errors import DeviceError
    from xview_engine.model.device import describe_device, resolve_device

    assert resolve_device("auto").type == "cuda"
    assert resolve_device("cuda") == torch.device("cuda")
    assert resolve_device("cuda:0").index == 0
    assert describe_device(resolve_device("cuda")).startswith("CUDA: ")
    with pytest.raises(DeviceError, match="does not exist"):
        resolve_device(f"cuda:{torch.cuda.device_count()}")


def test_autocast_runs_matrix_products_in_float16_and_keeps_float32_outside() -> None:
    from xview_engine.model.device import autocast_context

    a = torch.randn(64, 64, device="cuda")
    with autocast_context(torch.device("cuda")):
        inside = a @ a
    assert inside.dtype == torch.float16 and (a @ a).dtype == torch.float32
    assert torch.allclose(inside.float(), a @ a, rtol=1e-2, atol=0.5)


def test_pinned_non_blocking_copy_arrives_intact() -> None:
    host = torch.from_numpy(np.arange(4 * 3 * 16 * 16, dtype=np.float32).reshape(4, 3, 16, 16)).pin_memory()
    assert host.is_pinned()
    on_gpu = host.to("cuda", non_blocking=True)
    torch.cuda.synchronize()
    assert torch.equal(on_gpu.cpu(), host)


def test_torch_runtime_on_cuda_matches_the_cpu(inputs) -> None:
    from xview_engine.model.runtime import load_runtime

    _, model = inputs
    tiles = np.random.default_rng(0).uniform(-1, 1, (8, 3, 16, 16)).astype(np.float32)
    gpu, cpu = load_runtime(model, "torch", "cuda"), load_runtime(model, "torch", "cpu")
    assert "CUDA" in gpu.description
    from xview_engine.model.device import reader_budget

    assert gpu.readers == reader_budget() and cpu.readers == 1  # several readers feed a GPU
    assert gpu.batch_options["readers"] == gpu.readers and f"{gpu.readers} tile reader" in gpu.description
    out_gpu, out_cpu = gpu.run(tiles), cpu.run(tiles)
    for name, value in out_cpu.items():
        assert out_gpu[name].dtype == np.float32 and out_gpu[name].shape == value.shape
        np.testing.assert_allclose(out_gpu[name], value, rtol=2e-2, atol=2e-3)  # float16 autocast


def test_map_with_device_cuda_writes_the_same_products(tmp_path, inputs, capsys) -> None:
    from xview_engine.cli.main import main

    raster, model = inputs
    outs = {}
    for device in ("cuda", "cpu"):
        rc = main(["map", str(raster), "--model", str(model), "--out-dir", str(tmp_path / device),
                   "--products", "prob,concentration", "--classes", "class0,class1", "--device", device])
        assert rc == 0, capsys.readouterr().err
        outs[device] = json.loads((tmp_path / device / "products.json").read_text())
    assert "CUDA" in outs["cuda"]["runtime"] and "CPU" in outs["cpu"]["runtime"]
    import rasterio

    for name in ("scene_prob.tif", "scene_concentration.tif"):
        with rasterio.open(tmp_path / "cuda" / name) as a, rasterio.open(tmp_path / "cpu" / name) as b:
            np.testing.assert_allclose(a.read(), b.read(), rtol=2e-2, atol=2e-3)


def test_index_on_cuda_scores_like_the_cpu(tmp_path, inputs) -> None:
    from xview_engine.localization.build import IndexParams, build_index
    from xview_engine.localization.distill import head_tables
    from xview_engine.localization.index import load_index
    from xview_engine.localization.likelihood import score_head

    raster, model = inputs
    scores = {}
    for device in ("cuda", "cpu"):
        build_index(IndexParams(raster=str(raster), model=str(model), out=str(tmp_path / device), device=device))
        table = head_tables(load_index(tmp_path / device))["scene"]
        photo = np.full((1, table.num_classes), 1.0 / table.num_classes)
        scores[device] = score_head(table, photo)[0]
    np.testing.assert_allclose(scores["cuda"], scores["cpu"], rtol=2e-2, atol=0.05)


def test_training_step_on_cuda_lowers_the_loss_with_autocast_and_grad_scaling(tmp_path, inputs) -> None:
    from xview_engine.model.file import load_model
    from xview_engine.training.loop import EpochData, Pass, run_pass
    from xview_engine.training.losses import head_losses

    _, model_path = inputs
    loaded = load_model(model_path, device="cuda")
    model, manifest = loaded.model.train(), loaded.manifest
    rng = np.random.default_rng(0)
    tiles = rng.uniform(0, 1, (64, 3, 16, 16)).astype(np.float32)
    targets = {"scene": rng.dirichlet(np.ones(12), 64), "objects": rng.poisson(1.0, (64, 2))}
    data = EpochData.from_arrays(tiles, targets)
    setup = Pass(mean=torch.full((1, 3, 1, 1), 0.5), std=torch.full((1, 3, 1, 1), 0.5),  # on the CPU, as training has
                 device=torch.device("cuda"), batch_size=16)
    before = [p.detach().clone() for p in model.parameters()]
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    generator = torch.Generator().manual_seed(0)
    first = run_pass(model, data, lambda out, tgt: head_losses(manifest, out, tgt), setup, optimizer, generator)
    for _ in range(5):
        last = run_pass(model, data, lambda out, tgt: head_losses(manifest, out, tgt), setup, optimizer, generator)
    assert np.isfinite(first["total"]) and last["total"] < first["total"]
    assert any(not torch.equal(a, b) for a, b in zip(before, model.parameters()))
    assert all(p.device.type == "cuda" for p in model.parameters())
