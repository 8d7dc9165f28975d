"""Twin training: the loss against a hand computation, heading-true crops, and a short seeded run."""

from __future__ import annotations

import csv
import math

import numpy as np
import pytest
import torch

from xview_engine.errors import TrainingError
from xview_engine.model.file import load_model
from xview_engine.synth.params import SynthParams
from xview_engine.synth.world import make_world
from xview_engine.training.twin import TwinParams, pair_distances, soft_margin_triplet, train_twin
from xview_engine.training.twin_data import crop_widths, fov_batches, shift_and_crop
from xview_engine.training.twin_params import parse_fovs


def test_soft_margin_triplet_matches_a_hand_computation():
    d = torch.tensor([[0.2, 1.0, 0.5], [0.7, 0.1, 1.5], [0.3, 0.9, 0.4]])
    sp = lambda x: math.log1p(math.exp(10 * x))  # noqa: E731
    rows = [sp(0.2 - 1.0), sp(0.2 - 0.5), sp(0.1 - 0.7), sp(0.1 - 1.5), sp(0.4 - 0.3), sp(0.4 - 0.9)]
    cols = [sp(0.2 - 0.7), sp(0.2 - 0.3), sp(0.1 - 1.0), sp(0.1 - 0.9), sp(0.4 - 0.5), sp(0.4 - 1.5)]
    expected = (sum(rows) / 6 + sum(cols) / 6) / 2
    assert float(soft_margin_triplet(d, 10.0)) == pytest.approx(expected, rel=1e-6)


def test_pair_distances_are_zero_for_a_photo_cut_from_its_tile_and_have_gradients():
    overhead = torch.randn(3, 16, 4, 32, requires_grad=True)
    ground = overhead.detach()[:, :, :, [(9 + k) % 32 for k in range(8)]].clone().requires_grad_(True)
    d = pair_distances(ground, overhead)
    assert d.shape == (3, 3)
    np.testing.assert_allclose(d.diagonal().detach().numpy(), 0.0, atol=1e-5)
    assert (d.detach() - torch.diag(d.diagonal().detach()) > 0.1).sum() == 6
    soft_margin_triplet(d).backward()
    assert overhead.grad is not None and ground.grad is not None and torch.isfinite(ground.grad).all()


def test_shift_and_crop_keeps_the_heading_of_the_crop_centre():
    width, heading = 64, torch.tensor([10.0, 200.0])
    az = (heading[:, None] + ((torch.arange(width) + 0.5) / width - 0.5) * 360) % 360  # panorama column azimuths
    photos = az[:, None, None, :].expand(2, 1, 2, width).clone()
    crops, new_heading = shift_and_crop(photos, heading, 360.0, 90.0, torch.Generator().manual_seed(1))
    assert crops.shape == (2, 1, 2, 16)
    centre = crops[:, 0, 0, 7:9]  # columns either side of the crop centre
    mid = torch.rad2deg(torch.atan2(torch.sin(torch.deg2rad(centre)).mean(1), torch.cos(torch.deg2rad(centre)).mean(1)))
    np.testing.assert_allclose(((mid - new_heading + 180) % 360 - 180).numpy(), 0.0, atol=1e-3)
    same, kept = shift_and_crop(photos[:, :, :, :16], heading, 90.0, 90.0, torch.Generator().manual_seed(1))
    assert torch.equal(same, photos[:, :, :, :16]) and torch.equal(kept, heading)


def _azimuth_panoramas(heading: torch.Tensor, width: int) -> torch.Tensor:
    """Panoramas whose every pixel holds the azimuth its column looks along (two bands: sin, cos)."""
    az = torch.deg2rad(heading[:, None] + ((torch.arange(width) + 0.5) / width - 0.5) * 360)
    return torch.stack([torch.sin(az), torch.cos(az)], 1)[:, :, None, :].expand(-1, 2, 3, -1).clone()


def _centre_azimuth(crops: torch.Tensor, panorama_px: int = 64) -> torch.Tensor:
    """Azimuth (degrees) at the horizontal centre of each crop, read off its pixels: the direction its
    first column holds, plus half the crop's width less half a column (columns 360 / W apart)."""
    first = torch.rad2deg(torch.atan2(crops[:, 0, 0, 0], crops[:, 1, 0, 0]))
    return (first + (crops.shape[-1] - 1) / 2 * 360 / panorama_px) % 360


def test_parse_fovs_sets_ranges_and_refusals():
    assert parse_fovs("360") == ((360.0,), False)
    assert parse_fovs("70,360,180,90,90") == ((360.0, 180.0, 90.0, 70.0), False)
    assert parse_fovs(" 70-360 ") == ((70.0, 360.0), True)
    for bad, message in (("0", "in \\(0, 360\\]"), ("400", "in \\(0, 360\\]"), ("abc", "give degrees"),
                         ("360-70", "narrower"), ("70-", "give degrees"), ("", "give degrees")):
        with pytest.raises(TrainingError, match=message):
            parse_fovs(bad)
    assert TwinParams(train_fov=90).train_fov == (90.0,)
    assert TwinParams(train_fov=(70, 360), fov_range=True).fov_text == "70-360"


def test_crop_widths_of_a_set_and_of_a_range():
    assert crop_widths((360.0, 180.0, 90.0, 70.0), False, 128) == (25, 32, 64, 128)
    assert crop_widths((70.0, 360.0), True, 128) == tuple(range(25, 129))
    assert crop_widths((1.0,), False, 128) == (1,)


def test_every_batch_is_cut_to_one_drawn_fov_and_keeps_the_heading_of_its_centre():
    """Known answer: each panorama's pixels hold their own azimuth, so a crop's true centre heading is
    read off its pixels and must equal the heading label the crop carries, for every width drawn."""
    n, width = 40, 128
    heading = torch.linspace(0, 351, n)
    photos = _azimuth_panoramas(heading, width)
    widths = crop_widths((360.0, 180.0, 90.0, 70.0), False, width)
    seen = set()
    for idx, crops, new_heading in fov_batches(photos, heading, 360.0, widths, torch.randperm(n), 8,
                                               torch.Generator().manual_seed(5)):
        assert crops.shape[-1] in widths and len(idx) == 8
        seen.add(crops.shape[-1])
        off = (_centre_azimuth(crops, width) - new_heading + 180) % 360 - 180
        np.testing.assert_allclose(off.numpy(), 0.0, atol=1e-3)
    assert len(seen) >= 2  # the batches drew different fields of view
    first = [c.shape[-1] for _, c, _ in fov_batches(photos, heading, 360.0, widths, torch.arange(n), 8,
                                                    torch.Generator().manual_seed(5))]
    again = [c.shape[-1] for _, c, _ in fov_batches(photos, heading, 360.0, widths, torch.arange(n), 8,
                                                    torch.Generator().manual_seed(5))]
    assert first == again  # seeded


def test_a_crop_of_a_known_shift_has_a_hand_computed_heading():
    """Hand computation: a 64-column panorama looking along 100 degrees, turned by the r columns the
    generator draws (r x 5.625 degrees) and cut to its first 16 columns (90 degrees): the crop's centre
    looks along 100 - 5.625 r - 180 + 45 degrees, and its pixels say the same."""
    photos = _azimuth_panoramas(torch.tensor([100.0]), 64)
    r = int(torch.randint(0, 64, (1,), generator=torch.Generator().manual_seed(0)))  # the draw shift_and_crop makes
    crops, new_heading = shift_and_crop(photos, torch.tensor([100.0]), 360.0, 90.0, torch.Generator().manual_seed(0))
    assert crops.shape[-1] == 16 and r > 0
    assert float(new_heading[0]) == pytest.approx((100 - 5.625 * r - 180 + 45) % 360, abs=1e-4)
    assert float(_centre_azimuth(crops)[0]) == pytest.approx(float(new_heading[0]), abs=1e-3)


@pytest.fixture(scope="module")
def small_world(tmp_path_factory):
    out = tmp_path_factory.mktemp("twin_train")
    make_world(SynthParams(seed=2, size_m=200, gsd=1.0, photos=60), out / "world")
    return out


def test_train_twin_writes_a_model_log_and_resumes(small_world):
    world, out = small_world / "world", small_world / "twin.safetensors"
    params = TwinParams(tile_px=32, epochs=2, batch_size=8, train_fov=90, seed=3)
    summary = train_twin(world / "pairs.csv", world / "overhead.tif", out, params)
    loaded = load_model(out)
    assert loaded.manifest.kind == "twin" and loaded.manifest.training["train_fov"] == [90.0]
    with open(summary["log_csv"], newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert [r["epoch"] for r in rows] == ["1", "2"] and all(math.isfinite(float(r["val_loss"])) for r in rows)
    assert summary["loss_png"].stat().st_size > 1000
    again = train_twin(world / "pairs.csv", world / "overhead.tif", small_world / "again.safetensors", params)
    assert again["best_val_loss"] == pytest.approx(summary["best_val_loss"], rel=1e-5)  # seeded: repeats
    more = train_twin(world / "pairs.csv", world / "overhead.tif", out, TwinParams(**{**params.__dict__, "epochs": 3}),
                      resume=True, overwrite=True)
    assert more["epochs_run"] == 3
    with pytest.raises(TrainingError, match="other training options"):
        train_twin(world / "pairs.csv", world / "overhead.tif", out, TwinParams(tile_px=32, epochs=4, lr=1e-3),
                   resume=True, overwrite=True)


def test_a_quickly_trained_twin_model_ranks_the_true_tile_in_the_top_10_percent(tmp_path):
    """End to end on a small world: train (seconds), index, evaluate the held-out test split. A random
    ranking puts the truth in the best 10 % for 10 % of the photos and misses the heading by 90
    degrees at the median; the trained model puts it there for most photos (90 % when written)."""
    from xview_engine.localization.build import IndexParams, build_index
    from xview_engine.localization.evaluate import EvaluateParams, evaluate

    make_world(SynthParams(seed=4, size_m=300, gsd=1.0, photos=150, fov=360), tmp_path / "world")
    world = tmp_path / "world"
    params = TwinParams(tile_px=32, polar_h=16, polar_w=64, epochs=8, batch_size=16, lr=1e-3, seed=0)
    train_twin(world / "pairs.csv", world / "overhead.tif", tmp_path / "twin.safetensors", params)
    build_index(IndexParams(raster=str(world / "overhead.tif"), model=str(tmp_path / "twin.safetensors"),
                            out=str(tmp_path / "index"), device="cpu", stride_m=8.0))
    report = evaluate(EvaluateParams(index=str(tmp_path / "index"), photos=str(world / "pairs.csv"),
                                     out_dir=str(tmp_path / "report"), split="test", device="cpu"))
    with open(tmp_path / "report" / "queries.csv", newline="") as fh:
        percent = np.array([float(r["best_percent_combined"]) for r in csv.DictReader(fh) if r["true_tile"]])
    assert report["candidates"] > 1000 and percent.size >= 10
    assert np.mean(percent <= 10.0) >= 0.7, percent
    assert report["heading"]["heading_deg"]["median_error_deg"] < 45.0


def test_train_twin_from_tile_images_without_a_raster(small_world, tmp_path):
    """CVUSA-style pairs: one overhead image per photo in a tile column, no raster; neither is an error."""
    from PIL import Image

    world = small_world / "world"
    with open(world / "pairs.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    rng = np.random.default_rng(0)
    for i, row in enumerate(rows):
        Image.fromarray(rng.integers(0, 255, (48, 48, 3), dtype=np.uint8)).save(tmp_path / f"t{i}.png")
        row["path"], row["tile"] = str(world / row["path"]), f"t{i}.png"
    with open(tmp_path / "pairs.csv", "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    params = TwinParams(tile_px=32, epochs=1, batch_size=8, seed=1)
    train_twin(tmp_path / "pairs.csv", None, tmp_path / "chips.safetensors", params)
    training = load_model(tmp_path / "chips.safetensors").manifest.training
    assert training["overhead"] == "tile images" and training["synthetic"] is False
    with pytest.raises(TrainingError, match="tile"):
        train_twin(world / "pairs.csv", None, tmp_path / "none.safetensors", params)


def test_the_cli_names_every_twin_branch_and_refuses_a_bad_panorama(tmp_path, capsys):
    from xview_engine.cli.main import main
    from xview_engine.model.twin import TWIN_BRANCHES
    from xview_engine.training.twin_params import TWIN_BRANCH_NAMES

    assert sorted(TWIN_BRANCH_NAMES) == sorted(TWIN_BRANCHES)
    assert main(["train", "twin", "p.csv", "-o", str(tmp_path / "m.safetensors"), "--polar", "32x128"]) == 2
    assert "--polar '32x128' must be HEIGHT,WIDTH" in capsys.readouterr().err
    assert main(["train", "twin", "p.csv", "-o", str(tmp_path / "m.safetensors"), "--fov", "360-70"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("xview: error: --fov '360-70'") and "\n" not in err


def test_train_twin_across_fields_of_view(small_world, tmp_path):
    """One model trained on batches cut to 360, 180 and 70 degrees: the manifest says so; a set of
    fields of view needs panoramas (70-degree photos cannot be cut to 180)."""
    world = small_world / "world"
    params = TwinParams(tile_px=32, epochs=1, batch_size=8, train_fov=(360, 180, 70), seed=2)
    summary = train_twin(world / "pairs.csv", world / "overhead.tif", tmp_path / "multi.safetensors", params)
    training = load_model(tmp_path / "multi.safetensors").manifest.training
    assert training["train_fov"] == [360.0, 180.0, 70.0] and training["train_fov_text"] == "360,180,70"
    assert math.isfinite(summary["best_val_loss"])
    narrow = tmp_path / "narrow"
    make_world(SynthParams(seed=2, size_m=200, gsd=1.0, photos=30, fov=70), narrow)
    with pytest.raises(TrainingError, match="only panoramas can be cut"):
        train_twin(narrow / "pairs.csv", narrow / "overhead.tif", tmp_path / "n.safetensors",
                   TwinParams(tile_px=32, epochs=1, batch_size=8, train_fov=(70, 360), fov_range=True))
