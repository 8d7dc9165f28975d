"""The twin method: circular correlation known answers, and index + localize end to end on a small world."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from xview_engine.errors import IndexFileError, LabelFileError
from xview_engine.localization.azimuth import heading_deg, match_tiles, overhead_arrays
from xview_engine.localization.build import IndexParams, build_index
from xview_engine.localization.index import load_index
from xview_engine.localization.localize import LocalizeParams, localize
from xview_engine.localization.methods import PhotoOptions, method_for
from xview_engine.localization.photos import Queries
from xview_engine.localization.twin import TwinCorrelation, score_from_cosine
from xview_engine.model.file import save_model
from xview_engine.model.twin import build_twin, feature_shape, twin_manifest
from xview_engine.synth.params import SynthParams
from xview_engine.synth.world import make_world


def _maps(n: int, seed: int = 0, width: int = 32) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((n, 16, 4, width)).astype(np.float32)


@pytest.mark.parametrize("cols,shift", [(32, 5), (8, 3), (8, 29), (7, 30)])
def test_a_ground_map_cut_from_a_tile_is_found_there_at_its_shift(cols, shift):
    """Shifts 29 and 30 with 8 / 7 columns cross the 360 -> 0 seam of a 32-column map."""
    overhead = _maps(50)
    truth = 17
    ground = overhead[truth][None, :, :, (shift + np.arange(cols)) % 32] * 3.0  # scale does not matter
    valid = np.ones(50, bool)
    cosine, best = match_tiles(ground, *overhead_arrays(overhead), valid)
    assert int(np.argmax(cosine[0])) == truth
    assert cosine[0, truth] == pytest.approx(1.0, abs=1e-5)
    assert best[0, truth] == shift
    fov = cols * 360 / 32
    assert heading_deg(best[:, truth], 32, fov)[0] == pytest.approx((shift * 360 / 32 + fov / 2) % 360)


def test_correlation_matches_a_loop_over_tiles_and_shifts():
    overhead, ground = _maps(6, 1), _maps(2, 2)[:, :, :, :9]
    valid = np.array([True, True, False, True, True, True])
    cosine, best = match_tiles(ground, *overhead_arrays(overhead), valid)
    for p in range(2):
        g = ground[p] / np.linalg.norm(ground[p])
        for t in range(6):
            if not valid[t]:
                assert cosine[p, t] == -np.inf and best[p, t] == -1
                continue
            cos = [np.sum(g * (c := overhead[t][:, :, (s + np.arange(9)) % 32])) / np.linalg.norm(c)
                   for s in range(32)]
            assert cosine[p, t] == pytest.approx(max(cos), abs=1e-5)
            assert best[p, t] == int(np.argmax(cos))


def test_scoring_float16_maps_and_a_subset_of_tiles_agree():
    overhead, ground = _maps(40, 3), _maps(3, 4)[:, :, :, :12]
    valid = np.ones(40, bool)
    full, shift = match_tiles(ground, *overhead_arrays(overhead), valid)
    some, some_shift = match_tiles(ground, *overhead_arrays(overhead), valid, tiles=np.array([39, 4, 5]))
    np.testing.assert_allclose(some, full[:, [39, 4, 5]], atol=1e-5)
    np.testing.assert_array_equal(some_shift, shift[:, [39, 4, 5]])
    half, _ = match_tiles(ground, *(a.astype(np.float16) for a in overhead_arrays(overhead)), valid)
    np.testing.assert_allclose(half, full, atol=3e-3)
    assert score_from_cosine(np.array([1.0, -np.inf])).tolist() == [0.0, -np.inf]


@pytest.fixture(scope="module")
def twin_world(tmp_path_factory):
    out = tmp_path_factory.mktemp("twin")
    make_world(SynthParams(seed=5, size_m=200, gsd=1.0, photos=6, fov=90), out / "world")
    manifest = twin_manifest(tile_px=32, gsd_m=1.0)
    model = save_model(build_twin(manifest, seed=0), manifest, out / "twin.safetensors")
    build_index(IndexParams(raster=str(out / "world" / "overhead.tif"), model=str(model), out=str(out / "index"),
                            device="cpu", stride_m=16.0))
    photos = sorted((out / "world" / "photos").glob("*.jpg"))
    return {"dir": out, "model": model, "index": out / "index", "photos": photos, "manifest": manifest}


def test_twin_index_holds_spectra_of_unit_overhead_maps(twin_world):
    """The stored spectrum turned back into maps has unit norm and the stored per-column energy."""
    index = load_index(twin_world["index"])
    header = json.loads((twin_world["index"] / "index.json").read_text())
    assert index.method == "twin" and header["twin"]["azimuth_bins"] == 32 and header["twin"]["bin_deg"] == 11.25
    c, h, w = feature_shape(twin_world["manifest"])
    spectrum, energy = np.asarray(index.arrays["spectrum"]), np.asarray(index.arrays["column_energy"])
    assert spectrum.shape == (index.n_tiles, w // 2 + 1, 2 * c * h) and energy.shape == (index.n_tiles, w)
    packed = spectrum[index.valid]
    maps = np.fft.irfft(packed[:, :, :c * h] + 1j * packed[:, :, c * h:], n=w, axis=1)  # (n, w, C h)
    np.testing.assert_allclose(np.linalg.norm(maps.reshape(index.n_valid, -1), axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose((maps ** 2).sum(axis=2), energy[index.valid], atol=1e-5)


def test_localize_a_twin_index_gives_headings_per_candidate(twin_world, tmp_path):
    photos = [str(p) for p in twin_world["photos"][:2]]
    results = localize(LocalizeParams(photos=tuple(photos), out=str(tmp_path / "maps"),
                                      index=str(twin_world["index"]), top_k=5, device="cpu", fov_deg=90))
    index = load_index(twin_world["index"])
    assert len(results) == 2
    for result in results:
        assert len(result.candidates) == 5 and (tmp_path / "maps" / f"{result.photo.split('/')[-1][:-4]}.tif").is_file()
        scores = [c.score for c in result.candidates]
        assert scores == sorted(scores, reverse=True) and all(-40.0 <= s <= 0.0 for s in scores)
        for c in result.candidates:
            h = c.extras["heading_deg"]
            assert 0.0 <= h < 360.0
            grid = h - index.grid_north_deg[c.tile] - 45.0  # from true north back to the tile's grid
            assert abs(index.grid_north_deg[c.tile]) > 0.5  # Split lies 1.4 degrees east of zone 33's meridian
            assert (grid / (360 / 32)) == pytest.approx(round(grid / (360 / 32)), abs=1e-3)  # a bin
        assert result.truth is not None and 1 <= result.truth["rank"]["combined"] <= index.n_valid
    one = method_for("twin").score_tile(index, results[0].candidates[0].tile, method_for("twin").describe_photos(
        photos[:1], PhotoOptions(model=str(twin_world["model"]), fov_deg=90)))
    assert one[0] == pytest.approx(results[0].candidates[0].score, abs=1e-4)


def test_twin_photos_need_a_model_and_its_index_refuses_distill_photos(twin_world, tmp_path):
    with pytest.raises(LabelFileError, match="--model"):
        TwinCorrelation().describe_photos(["a.jpg"], PhotoOptions())
    index = load_index(twin_world["index"])
    from xview_engine.localization.index import check_method

    with pytest.raises(IndexFileError, match="'twin' model"):
        check_method(index, "distill")


def test_evaluate_a_twin_index_reports_heading_errors_at_the_true_tile(twin_world, tmp_path):
    """The FOV comes from the pairs CSV (90); errors in queries.csv are the wrapped differences of the
    heading found at the true tile and the pairs' heading, and metrics.json summarises exactly those."""
    import csv

    from xview_engine.localization.evaluate import EvaluateParams, evaluate
    from xview_engine.localization.metrics import heading_error_deg

    pairs = twin_world["dir"] / "world" / "pairs.csv"
    report = evaluate(EvaluateParams(index=str(twin_world["index"]), photos=str(pairs), out_dir=str(tmp_path / "r"),
                                     device="cpu"))
    heading = report["heading"]["heading_deg"]
    index = load_index(twin_world["index"])
    assert heading["fov_deg"] == 90.0 and heading["bin_deg"] == 11.25
    truth = {r["path"]: float(r["heading"]) for r in csv.DictReader(pairs.open())}
    rows = [r for r in csv.DictReader((tmp_path / "r" / "queries.csv").open()) if r["heading_deg"]]
    assert len(rows) == heading["queries"] == report["queries_total"] - report["queries_outside_area"] > 0
    errors = []
    for r in rows:
        true_heading = truth[str(Path(r["photo"]).relative_to(pairs.parent))]
        assert float(r["true_heading"]) == pytest.approx(true_heading, abs=0.01)
        found = float(r["heading_deg"])
        grid = found - index.grid_north_deg[int(r["true_tile"])] - 45.0
        assert (grid / 11.25) == pytest.approx(round(grid / 11.25), abs=1e-3)  # a bin centre of the grid
        errors.append(float(heading_error_deg(found, true_heading)))
        assert float(r["heading_deg_error"]) == pytest.approx(errors[-1], abs=0.01)
    assert heading["median_error_deg"] == pytest.approx(np.median(errors), abs=0.01)
    assert heading["within_10pct_fov"] == pytest.approx(np.mean(np.array(errors) <= 9.0 + 1e-9), abs=1e-6)
    assert heading["exact_bin"] == pytest.approx(np.mean(np.array(errors) <= 5.625 + 1e-9), abs=1e-6)


def _far_index(tmp_path: Path, overhead: np.ndarray) -> Path:
    """A real twin index of the given unit overhead maps on a UTM 33N grid at 20.5 E, 60 N: 5.5 degrees
    east of the zone's central meridian, where grid north is 4.8 degrees east of true north."""
    from pyproj import Transformer

    from xview_engine.localization.index import write_index
    from xview_engine.model.twin import OVERHEAD
    from xview_engine.raster.grid import TileGrid

    x, y = Transformer.from_crs("EPSG:4326", "EPSG:32633", always_xy=True).transform(20.5, 60.0)
    cols, rows = 10, len(overhead) // 10
    grid = TileGrid("EPSG:32633", x, y, rows, cols, 32, 2000, 1.0, 1.0, 1.0)  # tiles 2 km apart
    flat = overhead.reshape(len(overhead), -1)
    return write_index(tmp_path / "far", grid, ((r, {OVERHEAD: flat[r * cols:(r + 1) * cols]}) for r in range(rows)),
                       twin_manifest(tile_px=32, gsd_m=1.0))


@pytest.mark.parametrize("cols,shift", [(32, 5), (8, 29)])
def test_headings_are_from_true_north_far_from_the_central_meridian(tmp_path, cols, shift):
    """Known answer: a ground map cut from tile 17 at shift s looks along s x 11.25 + fov / 2 on the
    tile's grid; the twin method reports that plus the meridian convergence at the tile, checked against
    PROJ's own (pyproj ``get_factors``), several degrees here; the match itself is untouched."""
    from pyproj import Proj

    overhead = _maps(40, 7)
    index = load_index(_far_index(tmp_path, overhead))
    ground = overhead[17][None, :, :, (shift + np.arange(cols)) % 32]
    fov = cols * 360 / 32
    queries = Queries([Path("p.jpg")], {"ground": ground, "fov_deg": np.array([fov])}, {"ground": (), "fov_deg": ()},
                      np.full((1, 2), np.nan))
    scores = TwinCorrelation().score(index, queries)
    lon, lat = index.lonlat.T
    convergence = Proj("EPSG:32633").get_factors(lon, lat).meridian_convergence
    assert convergence[17] > 4.5 and np.ptp(convergence) > 0.2  # it changes across the index
    np.testing.assert_allclose(index.grid_north_deg, convergence, atol=1e-4)
    assert int(np.argmax(scores.heads["combined"][0])) == 17
    found = scores.extras["heading_deg"][0, 17]
    assert found == pytest.approx((shift * 11.25 + fov / 2 + convergence[17]) % 360, abs=1e-3)
    one = TwinCorrelation().score_tile(index, 17, queries)
    assert one[0] == pytest.approx(scores.heads["combined"][0, 17], abs=1e-5)
