"""Time-aware models: cyclic time features, the manifest option, the forward passes, ONNX and the runtimes."""

from __future__ import annotations

import json
import math
from datetime import datetime, timedelta, timezone

import numpy as np
import pytest
import torch
from time_fixtures import time_manifest, tiny_time_model

from xview_engine.errors import ManifestError, ModelFileError
from xview_engine.model.crossview import build_model
from xview_engine.model.file import load_model, read_manifest
from xview_engine.model.manifest import Manifest, default_manifest
from xview_engine.model.time_features import (
    TimeFormatError,
    cycle_fractions,
    month_range,
    month_steps,
    parse_months,
    parse_time,
    time_matrix,
    time_vector,
)


def test_cyclic_features_by_hand() -> None:
    # 1 January 00:00: both cycles at 0 -> sin 0, cos 1
    np.testing.assert_allclose(time_vector(datetime(2026, 1, 1), ("month", "hour")), [0, 1, 0, 1], atol=1e-7)
    # 1 July 00:00 is half the year (6 / 12); 18:00 three quarters of the day
    np.testing.assert_allclose(time_vector(datetime(2026, 7, 1), ("month",)), [0, -1], atol=1e-6)
    np.testing.assert_allclose(time_vector(datetime(2026, 1, 1, 18), ("hour",)), [-1, 0], atol=1e-6)
    # 15 January 12:00 of a 31-day month: (0 + 14.5 / 31) / 12 of the year
    frac = cycle_fractions(datetime(2026, 1, 15, 12))
    assert frac["month"] == pytest.approx(14.5 / 31 / 12)
    assert frac["hour"] == pytest.approx(0.5)
    np.testing.assert_allclose(time_vector(datetime(2026, 1, 15, 12), ("hour",)), [0, -1], atol=1e-7)


def test_december_sits_next_to_january() -> None:
    dec, jan, jul = (time_vector(t, ("month",)) for t in (datetime(2025, 12, 31, 23), datetime(2026, 1, 1, 1),
                                                            datetime(2026, 7, 1)))
    assert np.linalg.norm(dec - jan) < 0.01 < 1.9 < np.linalg.norm(jan - jul)


def test_local_time_as_given_with_an_offset() -> None:
    aware = parse_time("2026-01-15T08:00+09:00")
    assert aware.utcoffset() == timedelta(hours=9)
    np.testing.assert_array_equal(time_vector(aware, ("hour",)), time_vector(parse_time("2026-01-15T08:00"), ("hour",)))
    assert parse_time("2026-03-02").hour == 12  # a bare date: noon
    assert parse_time("2026-01-15T08:00Z").tzinfo == timezone.utc
    for bad in ("", "15/01/2026", "2026-13-01T00:00", "noon"):
        with pytest.raises(TimeFormatError):
            parse_time(bad)


def test_months_spec() -> None:
    assert parse_months("1-12") == tuple(range(1, 13))
    assert parse_months("11-2") == (11, 12, 1, 2)
    assert parse_months("12,1,2") == (12, 1, 2)
    assert parse_months("6") == (6,)
    for bad in ("0-3", "1-13", "a", "1,1", ""):
        with pytest.raises(TimeFormatError):
            parse_months(bad)
    steps = month_steps((1, 2), datetime(2026, 1, 31, 8))
    assert steps == [datetime(2026, 1, 31, 8), datetime(2026, 2, 28, 8)]  # the day capped to the month
    assert month_range(datetime(2026, 12, 15, 12)) == (datetime(2026, 12, 1), datetime(2027, 1, 1))


def test_manifest_round_trip_and_validation() -> None:
    manifest = time_manifest()
    assert manifest.takes_time and Manifest.from_json(manifest.to_json()) == manifest
    assert json.loads(manifest.to_json())["time_features"] == ["month", "hour"]
    blind = default_manifest("tiny_cnn", tile_px=32)
    assert "time_features" not in json.loads(blind.to_json())  # time-blind manifests are as before
    assert not blind.takes_time
    data = json.loads(manifest.to_json())
    for bad, match in ((["season"], "must name cycles"), (["month", "month"], "repeat"), ("month", "must be a list")):
        with pytest.raises(ManifestError, match=match):
            Manifest.from_dict({**data, "time_features": bad})
    with pytest.raises(ManifestError, match="only a distillation model"):
        Manifest.from_dict({**data, "kind": "siamese", "heads": []})


def test_forward_with_time_and_forward_times_agree() -> None:
    model = build_model(time_manifest(), seed=1).eval()
    x = torch.randn(3, 3, 16, 16)
    times = torch.from_numpy(time_matrix([datetime(2026, 1, 15, 8), datetime(2026, 7, 15, 20)], ("month", "hour")))
    with torch.inference_mode():
        grid = model.forward_times(x, times)
        for s in range(2):
            per_tile = model(x, times[s:s + 1].expand(3, -1))
            for head in ("snow", "cars"):
                torch.testing.assert_close(grid[head][:, s], per_tile[head])
        assert grid["snow"].shape == (3, 2, 2)
        assert not torch.allclose(grid["snow"][:, 0], grid["snow"][:, 1])  # the time changes the answer
    with pytest.raises(ModelFileError, match="takes the time"):
        model(x)
    with pytest.raises(ModelFileError, match="cyclic features"):
        model(x, torch.zeros(3, 2))
    blind = build_model(default_manifest("tiny_cnn", tile_px=16, width=4, depth=2), seed=0)
    with pytest.raises(ModelFileError, match="does not take the time"):
        blind.forward_times(x, times)


def test_time_model_file_round_trip(tmp_path) -> None:
    path = tiny_time_model(tmp_path)
    assert read_manifest(path).time_features == ("month", "hour")
    loaded = load_model(path)
    assert loaded.model.heads["snow"].fc1.in_features == loaded.model.feature_dim + 4


def test_onnx_export_takes_the_times(tmp_path) -> None:
    import onnxruntime as ort

    from xview_engine.model.onnx_export import INPUT_NAME, TIME_INPUT_NAME, export_onnx, read_onnx_manifest

    path = tiny_time_model(tmp_path)
    onnx_path = export_onnx(path, tmp_path / "time.onnx")
    assert read_onnx_manifest(onnx_path).takes_time
    session = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    assert [i.name for i in session.get_inputs()] == [INPUT_NAME, TIME_INPUT_NAME]
    model = load_model(path).model
    rng = np.random.default_rng(0)
    for batch, steps in ((1, 1), (4, 12)):
        x = rng.uniform(-1, 1, (batch, 3, 16, 16)).astype(np.float32)
        t = time_matrix(month_steps(range(1, steps + 1)), ("month", "hour"))
        outs = session.run(None, {INPUT_NAME: x, TIME_INPUT_NAME: t})
        with torch.inference_mode():
            ref = model.forward_times(torch.from_numpy(x), torch.from_numpy(t))
        for name, value in zip(("snow", "cars"), outs):
            assert value.shape == (batch, steps, 2)
            np.testing.assert_allclose(value, ref[name].numpy(), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("runtime", ["torch", "onnx"])
def test_runtimes_at_times(tmp_path, runtime) -> None:
    from xview_engine.model.runtime import at_times, load_runtime

    path = tiny_time_model(tmp_path)
    loaded = load_runtime(path, runtime, "cpu", threads=1)
    t = time_matrix(month_steps((1, 7)), ("month", "hour"))
    x = np.random.default_rng(1).uniform(-1, 1, (5, 3, 16, 16)).astype(np.float32)
    flat = at_times(loaded, t)(x)
    with torch.inference_mode():
        ref = load_model(path).model.forward_times(torch.from_numpy(x), torch.from_numpy(t))
    assert flat["snow"].shape == (5, 4)  # (B, S * K), time step major
    np.testing.assert_allclose(flat["snow"].reshape(5, 2, 2), ref["snow"].numpy(), rtol=1e-4, atol=1e-5)


def test_a_time_blind_runtime_ignores_times(tmp_path) -> None:
    from xview_engine.model.file import save_model
    from xview_engine.model.runtime import at_times, load_runtime

    manifest = default_manifest("tiny_cnn", tile_px=16, width=4, depth=2)
    path = save_model(build_model(manifest, seed=0), manifest, tmp_path / "b.safetensors")
    loaded = load_runtime(path, "torch", "cpu", threads=1)
    assert at_times(loaded, np.zeros((3, 4), np.float32)) is loaded.run
    assert math.isfinite(float(loaded.run(np.zeros((1, 3, 16, 16), np.float32))["coco"].sum()))


@pytest.mark.parametrize("runtime", ["torch", "onnx"])
def test_a_time_aware_runtime_without_times_is_one_line(tmp_path, runtime) -> None:
    from xview_engine.model.runtime import load_runtime

    loaded = load_runtime(tiny_time_model(tmp_path), runtime, "cpu", threads=1)
    with pytest.raises(ModelFileError, match="takes the time"):
        loaded.run(np.zeros((1, 3, 16, 16), np.float32))


def test_info_says_the_model_takes_the_time(tmp_path, capsys) -> None:
    from xview_engine.cli.main import main

    assert main(["info", str(tiny_time_model(tmp_path))]) == 0
    assert "time:       the heads take when the photo was taken: month, hour" in capsys.readouterr().out
