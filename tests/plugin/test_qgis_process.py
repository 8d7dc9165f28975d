"""The xview Processing provider through the real ``qgis_process`` binary, as batch users and servers meet it.

``qgis_process`` loads plugins from a profile and calls ``initProcessing`` only, never ``initGui``.
The plugin zip (built as ``make plugin-zip`` does) is unzipped into a throwaway profile
(``QGIS_CUSTOM_CONFIG_PATH``) and enabled there; the binary runs as a subprocess. It is
``qgis_process.bin``: the Debian wrapper passes ``--noversioncheck``, which QGIS 3.22 rejects.
QGIS' Python finds torch through ``PYTHONPATH`` (this venv's site-packages), as a user's pip install would.
"""

from __future__ import annotations

import json
import os
import shutil
import site
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
import rasterio
from qgis_support import world_files

ROOT = Path(__file__).resolve().parents[2]
QGIS_PROCESS = Path("/usr/bin/qgis_process.bin")

pytestmark = pytest.mark.skipif(not QGIS_PROCESS.is_file(), reason="qgis_process not installed (apt package qgis)")


@pytest.fixture(scope="module")
def profile(tmp_path_factory) -> Path:
    """A QGIS settings folder whose default profile has the xview plugin installed and enabled."""
    config = tmp_path_factory.mktemp("qgis_config")
    plugin_zip = config / "xview.zip"
    made = subprocess.run([sys.executable, str(ROOT / "tools" / "make_plugin_zip.py"), "-o", str(plugin_zip)],
                          capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert made.returncode == 0, made.stderr
    default = config / "profiles" / "default"
    with zipfile.ZipFile(plugin_zip) as archive:
        archive.extractall(default / "python" / "plugins")
    (default / "QGIS").mkdir(parents=True)
    (default / "QGIS" / "QGIS3.ini").write_text("[PythonPlugins]\nxview=true\n")
    return config


def qgis_process(profile: Path, *args: str, cwd: Path) -> subprocess.CompletedProcess:
    """Run ``qgis_process`` with the throwaway profile; nothing of this checkout is on its path."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env.update(QGIS_CUSTOM_CONFIG_PATH=str(profile), QT_QPA_PLATFORM="offscreen",
               PYTHONPATH=os.pathsep.join(site.getsitepackages()), XDG_RUNTIME_DIR=str(cwd))
    return subprocess.run([str(QGIS_PROCESS), *args], capture_output=True, text=True, env=env, cwd=cwd,
                          timeout=300)


def test_list_shows_the_xview_provider(profile, tmp_path):
    result = qgis_process(profile, "list", cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "error starting plugin" not in result.stdout + result.stderr
    lines = result.stdout.splitlines()
    algorithms = lines[lines.index("xview") + 1:][:8]
    assert sorted(line.split("\t")[1] for line in algorithms) == [
        "xview:export_onnx", "xview:index", "xview:localize", "xview:map", "xview:pca", "xview:photo_search",
        "xview:search", "xview:verify"]


def test_help_describes_the_map_parameters(profile, tmp_path):
    result = qgis_process(profile, "help", "xview:map", cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    for parameter in ("INPUT:", "MODEL:", "HEAD:", "CLASSES:", "PRODUCTS:", "STRIDE:", "OUTPUT:"):
        assert parameter in result.stdout


def test_run_map_writes_the_products(profile, tmp_path_factory, tmp_path):
    world = world_files(tmp_path_factory)
    out = tmp_path / "map"
    result = qgis_process(profile, "run", "xview:map", f"--INPUT={world['raster']}", f"--MODEL={world['model']}",
                          "--HEAD=scene", "--PRODUCTS=0,1", "--DEVICE=1", "--LOAD=0", f"--OUTPUT={out}",
                          cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    products = json.loads((out / "products.json").read_text())["products"]
    assert [p["product"] for p in products] == ["prob", "top"]
    with rasterio.open(world["raster"]) as source:
        crs, bounds = source.crs, source.bounds
    tifs = sorted(out.glob("*.tif"))
    assert len(tifs) == 2
    for tif in tifs:
        with rasterio.open(tif) as ds:
            assert ds.crs == crs
            assert abs(ds.bounds.left - bounds.left) < 16 and abs(ds.bounds.top - bounds.top) < 16
            data = ds.read(1, masked=True)
            assert data.count() > 0
    with rasterio.open(next(t for t in tifs if "prob" in t.name)) as ds:
        probabilities = ds.read(masked=True)
        assert 0.0 <= probabilities.min() and probabilities.max() <= 1.0
    assert str(out / "products.json") in result.stdout


def test_run_map_with_a_file_that_is_not_a_model_says_what_is_wrong(profile, tmp_path_factory, tmp_path):
    world = world_files(tmp_path_factory)
    not_a_model = tmp_path / "notes.safetensors"
    not_a_model.write_text("not a model")
    out = tmp_path / "map"
    result = qgis_process(profile, "run", "xview:map", f"--INPUT={world['raster']}", f"--MODEL={not_a_model}",
                          f"--OUTPUT={out}", cwd=tmp_path)
    assert result.returncode != 0
    assert "notes.safetensors" in result.stdout + result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    assert not out.exists() or not any(out.iterdir())
    shutil.rmtree(out, ignore_errors=True)


def test_run_verify_prints_the_distance_and_p_same_place(profile, tmp_path_factory, tmp_path):
    """`xview:verify` in batch: the answer in the JSON results, the engine's own numbers."""
    import csv

    from qgis_support import siamese_model

    from xview_engine.localization.verification import verify_point

    world = world_files(tmp_path_factory)
    model = siamese_model(tmp_path)
    with open(world["labels"].parent / "pairs.csv", newline="") as fh:
        row = next(csv.DictReader(fh))
    photo = world["labels"].parent / row["path"]
    result = qgis_process(profile, "run", "xview:verify", "--json", f"--PHOTO={photo}", f"--MODEL={model}",
                          f"--INPUT={world['raster']}", f"--POINT={row['x']},{row['y']} [EPSG:32633]", "--DEVICE=1",
                          cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    results = json.loads(result.stdout[result.stdout.index("{"):])["results"]
    engine = verify_point(photo, model, world["raster"], xy=(float(row["x"]), float(row["y"])), device="cpu")
    assert results["DISTANCE"] == pytest.approx(engine["distance"], abs=1e-6)
    assert results["P_SAME_PLACE"] == pytest.approx(engine["p_same_place"], abs=1e-6)
    assert json.loads(results["RESULT"])["photo"] == str(photo)


def test_run_map_of_a_time_aware_model_by_months_and_at_a_time(profile, tmp_path):
    """MONTHS gives one band per month and label, each with its time range; TIME one time; neither: one line."""
    from qgis_support import rgb_geotiff
    from time_fixtures import SNOW, tiny_time_model

    raster = rgb_geotiff(tmp_path / "rgb.tif", size=(48, 64), pixel=2.0)
    model = tiny_time_model(tmp_path)
    common = ("run", "xview:map", f"--INPUT={raster}", f"--MODEL={model}", "--HEAD=snow", "--PRODUCTS=0",
              "--DEVICE=1", "--LOAD=0")
    months = qgis_process(profile, *common, "--MONTHS=11-2", f"--OUTPUT={tmp_path / 'months'}", cwd=tmp_path)
    assert months.returncode == 0, months.stdout + months.stderr
    with rasterio.open(tmp_path / "months" / "snow_prob.tif") as ds:
        assert ds.count == 4 * len(SNOW)
        starts = [ds.tags(band)["xview_time_start"] for band in range(1, ds.count + 1)]
        by_month = ds.read(masked=True).reshape(4, len(SNOW), ds.height, ds.width)
    assert [s[5:7] for s in starts[::len(SNOW)]] == ["11", "12", "01", "02"]  # Nov-Feb, across the new year
    assert by_month.count() > 0 and not np.allclose(by_month[0], by_month[2])  # the months differ
    at = qgis_process(profile, *common, "--TIME=2026-01-15T08:00", f"--OUTPUT={tmp_path / 'at'}", cwd=tmp_path)
    assert at.returncode == 0, at.stdout + at.stderr
    with rasterio.open(tmp_path / "at" / "snow_prob.tif") as ds:
        assert ds.count == len(SNOW)
    neither = qgis_process(profile, *common, f"--OUTPUT={tmp_path / 'neither'}", cwd=tmp_path)
    assert neither.returncode != 0 and "give --time" in neither.stdout + neither.stderr
    assert "Traceback" not in neither.stdout + neither.stderr


def test_run_map_exceed_with_a_threshold_is_the_poisson_tail(profile, tmp_path_factory, tmp_path):
    """THRESHOLD through the binary: P(N > t) of the count head is scipy's Poisson survival at floor(t)."""
    from scipy import stats

    from xview_engine.model.file import read_manifest

    world = world_files(tmp_path_factory)
    counts = next(h.name for h in read_manifest(world["model"]).heads if h.distribution == "poisson")
    out = tmp_path / "exceed"
    result = qgis_process(profile, "run", "xview:map", f"--INPUT={world['raster']}", f"--MODEL={world['model']}",
                          f"--HEAD={counts}", "--PRODUCTS=4,7", "--THRESHOLD=1.5", "--DEVICE=1", "--LOAD=0",
                          f"--OUTPUT={out}", cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    with rasterio.open(out / f"{counts}_count.tif") as ds:
        rate = ds.read(masked=True).astype(np.float64)
    with rasterio.open(out / f"{counts}_exceed.tif") as ds:
        exceed = ds.read(masked=True).astype(np.float64)
    assert rate.count() > 0 and exceed.shape == rate.shape
    np.testing.assert_allclose(exceed.compressed(), stats.poisson.sf(1, rate.compressed()), rtol=1e-4, atol=1e-6)
    assert 0.0 < exceed.max() <= 1.0


def test_run_search_of_a_time_aware_model_takes_the_time(profile, tmp_path):
    from qgis_support import rgb_geotiff
    from time_fixtures import tiny_time_model

    raster = rgb_geotiff(tmp_path / "rgb.tif", size=(48, 64), pixel=2.0)
    common = ("run", "xview:search", f"--INPUT={raster}", f"--MODEL={tiny_time_model(tmp_path)}",
              "--QUERY=snow:snow > 0.4", "--DEVICE=1")
    at = qgis_process(profile, *common, "--TIME=2026-01-15T08:00", f"--OUTPUT={tmp_path / 's.tif'}", cwd=tmp_path)
    assert at.returncode == 0, at.stdout + at.stderr
    with rasterio.open(tmp_path / "s.tif") as ds:
        assert ds.tags()["xview_time"] == "2026-01-15T08:00"
        assert set(np.unique(ds.read(1, masked=True).compressed())) <= {0.0, 1.0}
    without = qgis_process(profile, *common, f"--OUTPUT={tmp_path / 'n.tif'}", cwd=tmp_path)
    assert without.returncode != 0 and "give --time" in without.stdout + without.stderr
    assert "Traceback" not in without.stdout + without.stderr and not (tmp_path / "n.tif").exists()


def test_run_map_on_a_dask_cluster_gives_the_local_products(profile, tmp_path):
    """CLUSTER through the binary: a real scheduler with 2 worker processes; the same map and PCA as run here."""
    pytest.importorskip("distributed")
    from cluster_fixtures import same_products
    from mapping_fixtures import random_rgb, tiny_model

    from xview_engine.mapping.cluster.client import environ_kept

    random_rgb(tmp_path / "rgb.tif", width=200, height=160)
    model = tiny_model(tmp_path / "m.safetensors", gsd_m=10.0)
    common = ("run", "xview:map", f"--INPUT={tmp_path / 'rgb.tif'}", f"--MODEL={model}", "--DEVICE=1", "--LOAD=0")
    here = qgis_process(profile, *common, f"--OUTPUT={tmp_path / 'here'}", cwd=tmp_path)
    assert here.returncode == 0, here.stdout + here.stderr
    pca = ("run", "xview:pca", f"--INPUT={tmp_path / 'rgb.tif'}", f"--MODEL={model}", "--DEVICE=1")
    pca_here = qgis_process(profile, *pca, f"--OUTPUT={tmp_path / 'pca_here.tif'}", cwd=tmp_path)
    assert pca_here.returncode == 0, pca_here.stdout + pca_here.stderr
    import distributed

    with environ_kept(), distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                                  dashboard_address=None) as cluster:
        there = qgis_process(profile, *common, f"--CLUSTER={cluster.scheduler_address}", "--BLOCK_TILES=100",
                             f"--OUTPUT={tmp_path / 'there'}", cwd=tmp_path)
        pca_there = qgis_process(profile, *pca, f"--CLUSTER={cluster.scheduler_address}", "--BLOCK_TILES=100",
                                 f"--OUTPUT={tmp_path / 'pca_there.tif'}", cwd=tmp_path)
    assert there.returncode == 0, there.stdout + there.stderr
    assert pca_there.returncode == 0, pca_there.stdout + pca_there.stderr
    with rasterio.open(tmp_path / "pca_here.tif") as a, rasterio.open(tmp_path / "pca_there.tif") as b:
        np.testing.assert_array_equal(a.read(), b.read())  # the same false colours from the cluster's blocks
        assert a.read(1).std() > 0
    meta = json.loads((tmp_path / "there" / "products.json").read_text())
    assert meta["cluster"]["address"] == cluster.scheduler_address and meta["cluster"]["workers"] == 2
    assert meta["cluster"]["block_tiles"] == 100 and meta["cluster"]["blocks"] == 5  # 19 x 24 tiles, 4 rows a block
    same_products(tmp_path / "here", tmp_path / "there")
    alone = qgis_process(profile, *common, "--RESUME=1", f"--OUTPUT={tmp_path / 'alone'}", cwd=tmp_path)
    assert alone.returncode != 0 and "resuming goes with a cluster address" in alone.stdout + alone.stderr
    local = qgis_process(profile, *common, "--CLUSTER=local:2", f"--OUTPUT={tmp_path / 'local'}", cwd=tmp_path)
    assert local.returncode != 0 and "start the cluster outside" in local.stdout + local.stderr
    assert "Traceback" not in local.stdout + local.stderr
