# ruff: noqa: F811  (the fixtures imported from cluster_fixtures are parameters of the tests)
"""`xview map` and `xview search` on a real Dask LocalCluster (2 workers, 1 thread each): the outputs of a
single-process run, byte for byte; resumed after a kill; a worker killed mid-run; bad input; no Dask without it."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from cluster_fixtures import big_inputs, cluster_address, cluster_inputs, same_products  # noqa: F401
from mapping_fixtures import shared

from xview_engine.cli.main import main
from xview_engine.mapping.cluster.resume import work_folder
from xview_engine.mapping.cluster.spec import ClusterError, ClusterSpec
from xview_engine.mapping.map import MapParams, run_map
from xview_engine.mapping.search import SearchParams, run_search

pytest.importorskip("distributed")
REPO = Path(__file__).resolve().parents[2]


def _map(raster, model, out, **extra) -> MapParams:
    return MapParams(raster=str(raster), model=str(model), out_dir=str(out), device="cpu", **extra)


@pytest.fixture(scope="module")
def reference(cluster_inputs, tmp_path_factory):
    """The single-process map of the small raster."""
    out = tmp_path_factory.mktemp("reference") / "map"
    run_map(_map(*cluster_inputs, out))
    return out


@pytest.fixture(scope="module")
def big_reference(big_inputs, tmp_path_factory):
    out = tmp_path_factory.mktemp("big-reference") / "map"
    run_map(_map(*big_inputs, out, products=("prob", "top")))
    return out


@pytest.mark.parametrize("block_tiles", [100, 10])  # whole rows (4 rows a block); 10 of a row's 24 columns
def test_map_on_cluster_is_byte_identical(tmp_path, cluster_address, cluster_inputs, reference, block_tiles):
    out = tmp_path / "map"
    lines: list[str] = []
    progress: list[tuple[int, int]] = []
    result = run_map(_map(*cluster_inputs, out, cluster=ClusterSpec(cluster_address, block_tiles)),
                     progress=lambda done, total: progress.append((done, total)), log=lines.append)
    same_products(reference, out)
    meta = json.loads((out / "products.json").read_text())
    assert meta["cluster"]["workers"] == 2 and meta["cluster"]["blocks"] == (5 if block_tiles == 100 else 19 * 3)
    assert progress[-1] == (456, 456) and result.tiles_run == 456
    assert not work_folder(out / "products.json").exists()  # the blocks go once the products are in place
    assert any("2 worker(s)" in line for line in lines)


def test_search_on_cluster_is_byte_identical(tmp_path, cluster_address, cluster_inputs):
    raster, model = cluster_inputs
    query = "scene:class1>0.05 & objects:car"
    single = run_search(SearchParams(raster=str(raster), model=str(model), query=query, out=str(tmp_path / "a.tif"),
                                     device="cpu"))
    spread = run_search(SearchParams(raster=str(raster), model=str(model), query=query, out=str(tmp_path / "b.tif"),
                                     device="cpu", cluster=ClusterSpec(cluster_address, 50)))
    assert (tmp_path / "a.tif").read_bytes() == (tmp_path / "b.tif").read_bytes()
    assert single.score_range == spread.score_range and single.tiles_run == spread.tiles_run
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.tif", "b.tif"]


def test_interrupted_run_is_kept_refused_then_resumed(tmp_path, cluster_address, big_inputs, big_reference):
    out = tmp_path / "map"
    spec = ClusterSpec(cluster_address, 73)  # 73 blocks of one row

    def interrupt(done: int, total: int) -> None:
        if done >= 3 * 73:
            raise KeyboardInterrupt

    lines: list[str] = []
    with pytest.raises(KeyboardInterrupt):
        run_map(_map(*big_inputs, out, products=("prob", "top"), cluster=spec), progress=interrupt, log=lines.append)
    assert "--resume" in lines[-1]
    work = work_folder(out / "products.json")
    with pytest.raises(Exception, match="finished blocks of an interrupted run: pass --resume"):
        run_map(_map(*big_inputs, out, cluster=spec))
    with pytest.raises(ClusterError, match=r"--stride-m changed \(not given -> 20\)"):
        run_map(_map(*big_inputs, out, stride_m=20.0, cluster=ClusterSpec(cluster_address, 73, resume=True)))
    with pytest.raises(ClusterError, match=r"--block-tiles changed \(73 -> 146\)"):
        run_map(_map(*big_inputs, out, cluster=ClusterSpec(cluster_address, 146, resume=True)))
    kept = len(list(work.glob("block-*.npz")))
    assert 3 <= kept < 73, kept
    lines.clear()
    run_map(_map(*big_inputs, out, products=("prob", "top"), cluster=ClusterSpec(cluster_address, 73, resume=True)),
            log=lines.append)
    assert any("already done" in line and "to run" in line for line in lines), lines
    same_products(big_reference, out)
    assert not work.exists()


def test_killed_client_resumes_and_completes_identically(tmp_path, cluster_address, big_inputs, big_reference):
    """A real `xview map --cluster` process killed with SIGKILL after some blocks; --resume finishes it."""
    raster, model = big_inputs
    out = tmp_path / "map"
    args = [sys.executable, "-m", "xview_engine", "map", str(raster), "--model", str(model), "--out-dir", str(out),
            "--device", "cpu", "--products", "prob,top", "--cluster", cluster_address, "--block-tiles", "73"]
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    work = work_folder(out / "products.json")
    child = subprocess.Popen(args, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    while len(list(work.glob("block-*.npz"))) < 4 and child.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    child.send_signal(signal.SIGKILL)
    child.wait()
    assert child.returncode == -signal.SIGKILL
    done = len(list(work.glob("block-*.npz")))
    assert 4 <= done < 73, done  # killed mid-run: some blocks done, not all
    assert not (out / "products.json").exists()
    resumed = subprocess.run([*args, "--resume"], env=env, capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr
    assert "already done" in resumed.stderr
    same_products(big_reference, out, same_command=False)


def test_worker_killed_mid_run_loses_and_duplicates_no_block(tmp_path, cluster_address, big_inputs, big_reference):
    distributed = pytest.importorskip("distributed")
    with distributed.Client(cluster_address) as client:
        pids = client.run(os.getpid)
    victim = sorted(pids.values())[0]
    killed: list[int] = []

    def kill_one_worker(done: int, total: int) -> None:
        if done > 0 and not killed:
            os.kill(victim, signal.SIGKILL)  # the nanny restarts it; Dask reruns its block elsewhere
            killed.append(total - done)  # tiles still to run when the worker died

    out = tmp_path / "map"
    result = run_map(_map(*big_inputs, out, products=("prob", "top"), cluster=ClusterSpec(cluster_address, 73)),
                     progress=kill_one_worker)
    assert killed and killed[0] > 0  # the worker died with blocks still to run
    assert result.tiles_run == json.loads((big_reference / "products.json").read_text())["tiles"]["run"]
    same_products(big_reference, out)


def _one_error_line(capsys, match: str) -> None:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("xview: error: "), err
    assert match in err[0], err[0]


@pytest.mark.parametrize(("raster", "cluster", "match"), [
    ("bad/corrupt.tif", None, "corrupt.tif"),
    ("bad/all-nodata.tif", None, "no valid pixel"),
    (None, "local:0", "give from 1 to 256 local workers"),
    (None, "http://x:1", "is not a cluster address"),
])
def test_bad_input_is_one_line_and_leaves_nothing(tmp_path, capsys, cluster_address, cluster_inputs, raster, cluster,
                                                  match):
    path = str(shared(raster)) if raster else str(cluster_inputs[0])
    rc = main(["map", path, "--model", str(cluster_inputs[1]), "--out-dir", str(tmp_path / "o"), "--device", "cpu",
               "--cluster", cluster or cluster_address])
    assert rc == 2
    _one_error_line(capsys, match)
    assert list(tmp_path.iterdir()) == []


def test_unreachable_scheduler_is_one_line_and_leaves_nothing(tmp_path, capsys, cluster_inputs, monkeypatch):
    monkeypatch.setattr("xview_engine.mapping.cluster.client.CONNECT_TIMEOUT_S", 1)
    raster, model = cluster_inputs
    rc = main(["map", str(raster), "--model", str(model), "--out-dir", str(tmp_path / "o"), "--device", "cpu",
               "--cluster", "tcp://127.0.0.1:9"])
    assert rc == 2
    err = capsys.readouterr().err.strip().splitlines()  # the grid's log lines, then one error line
    assert [line for line in err if not line.startswith("xview: ") or "error" in line] == err[-1:]
    assert err[-1].startswith("xview: error: cannot reach the Dask scheduler at tcp://127.0.0.1:9"), err
    assert list(tmp_path.iterdir()) == []


def test_resume_without_cluster_is_refused(tmp_path, capsys, cluster_inputs):
    raster, model = cluster_inputs
    assert main(["map", str(raster), "--model", str(model), "--out-dir", str(tmp_path / "o"), "--resume"]) == 2
    _one_error_line(capsys, "--resume and --block-tiles go with --cluster")


def test_without_cluster_dask_is_not_imported(tmp_path, cluster_inputs):
    raster, model = cluster_inputs
    code = ("import sys; from xview_engine.cli.main import main; "
            f"rc = main(['map', {str(raster)!r}, '--model', {str(model)!r}, '--out-dir', {str(tmp_path / 'o')!r}, "
            "'--device', 'cpu']); "
            "print(rc, sorted({m.split('.')[0] for m in sys.modules} & {'dask', 'distributed'}))")
    done = subprocess.run([sys.executable, "-c", code], env={**os.environ, "PYTHONPATH": str(REPO)},
                          capture_output=True, text=True, timeout=300)
    assert done.stdout.split("\n")[-2] == "0 []", (done.stdout, done.stderr)


def test_attribute_head_with_threshold_on_cluster_is_byte_identical(tmp_path, cluster_address, cluster_inputs):
    """Two-parameter heads (a Beta head's [alpha | beta]) and the threshold of 'exceed' reach the cluster's writer."""
    from xview_engine.model.crossview import build_model
    from xview_engine.model.file import save_model
    from xview_engine.model.manifest import BackboneSpec, HeadSpec, InputSpec, Manifest

    raster, _ = cluster_inputs
    manifest = Manifest("distill", BackboneSpec("tiny_cnn", {"width": 4, "depth": 2}), InputSpec(16, 10.0),
                        (HeadSpec("weather", "beta", ("sunny", "snow")),), hidden=8)
    model = save_model(build_model(manifest, seed=0), manifest, tmp_path / "beta.safetensors")
    single, spread = tmp_path / "single", tmp_path / "spread"
    run_map(_map(raster, model, single, threshold=0.4))
    run_map(_map(raster, model, spread, threshold=0.4, cluster=ClusterSpec(cluster_address, 100)))
    assert sorted(p.name for p in single.iterdir()) == ["products.json", "weather_exceed.tif", "weather_mean.tif",
                                                        "weather_spread.tif"]
    same_products(single, spread)
    exceed = next(p for p in json.loads((spread / "products.json").read_text())["products"] if p["product"] == "exceed")
    assert exceed["threshold"] == 0.4


def test_pca_on_cluster_is_byte_identical(tmp_path, capsys, cluster_address, cluster_inputs):
    """`xview pca --cluster`: the features come back from the blocks in grid order, so the same basis and colours."""
    raster, model = cluster_inputs
    args = ["pca", str(raster), "--model", str(model), "--device", "cpu"]
    assert main([*args, "-o", str(tmp_path / "single.tif"), "--basis-out", str(tmp_path / "single.json")]) == 0
    assert main([*args, "-o", str(tmp_path / "spread.tif"), "--basis-out", str(tmp_path / "spread.json"),
                 "--cluster", cluster_address, "--block-tiles", "50"]) == 0, capsys.readouterr().err
    assert (tmp_path / "single.tif").read_bytes() == (tmp_path / "spread.tif").read_bytes()
    assert (tmp_path / "single.json").read_text() == (tmp_path / "spread.json").read_text()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["single.json", "single.tif", "spread.json", "spread.tif"]
