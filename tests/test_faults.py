"""Fault injection through the `xview` command: full disk, unwritable folders, signals, concurrent runs.

Each case runs the real CLI as a subprocess and asserts the exit code, one `xview: error:` line and
no traceback, that nothing half-written is left behind and that earlier outputs are unchanged.
A full disk is a file-size limit (RLIMIT_FSIZE) in the child: the same OSError path as ENOSPC, with
no mount needed; an unwritable folder is a chmod 0555 one, or /sys/kernel when running as root.
"""

from __future__ import annotations

import os
import resource
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from mapping_fixtures import CM_X, CM_Y, TRUE_METRES_CRS, tiny_model, write_raster
from rasterio.transform import Affine

from xview_engine.cli.main import one_line
from xview_engine.outputs import output_lock

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def inputs(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("faults")
    data = np.random.default_rng(3).integers(0, 256, (3, 2048, 2048), dtype=np.uint8)  # ~1 s to index
    raster = write_raster(folder / "big.tif", data, TRUE_METRES_CRS, Affine(0.5, 0, CM_X, 0, -0.5, CM_Y))
    return {"raster": raster, "model": tiny_model(folder / "m.safetensors", gsd_m=0.5)}


def xview(*args: str, fsize: int | None = None, **popen) -> subprocess.Popen:
    def limit() -> None:
        if fsize is not None:
            resource.setrlimit(resource.RLIMIT_FSIZE, (fsize, fsize))

    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen([sys.executable, "-m", "xview_engine", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env, preexec_fn=limit, **popen)


def finish(proc: subprocess.Popen) -> tuple[int, str]:
    _out, err = proc.communicate(timeout=300)
    return proc.returncode, err


def assert_one_line_error(code: int, err: str, *needles: str) -> None:
    assert code == 2, err
    assert "Traceback" not in err
    errors = [line for line in err.splitlines() if line.startswith("xview: error: ")]
    assert len(errors) == 1, err
    for needle in needles:
        assert needle in errors[0], err


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if ".part" in p.name or p.name.endswith(".lock"))


def wait_for_part(folder: Path, proc: subprocess.Popen) -> None:
    deadline = time.monotonic() + 120
    while not any(".part" in p.name for p in folder.iterdir()):
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline
        time.sleep(0.01)


def index_args(inputs: dict[str, Path], out: Path) -> list[str]:
    return ["index", str(inputs["raster"]), "--model", str(inputs["model"]), "-o", str(out)]


def test_full_disk_during_index_is_one_line_and_leaves_nothing(inputs, tmp_path) -> None:
    code, err = finish(xview(*index_args(inputs, tmp_path / "idx"), fsize=64 * 1024))
    assert_one_line_error(code, err, "no space left", str(tmp_path / "idx"), "needs about")
    assert sorted(os.listdir(tmp_path)) == []


def test_full_disk_during_map_is_one_line_and_keeps_earlier_outputs(inputs, tmp_path) -> None:
    out = tmp_path / "maps"
    out.mkdir()
    (out / "keep.txt").write_text("earlier")
    code, err = finish(xview("map", str(inputs["raster"]), "--model", str(inputs["model"]), "--out-dir", str(out),
                             fsize=16 * 1024))
    assert_one_line_error(code, err, "cannot write", str(out))
    assert sorted(os.listdir(out)) == ["keep.txt"] and (out / "keep.txt").read_text() == "earlier"


def unwritable_folder(tmp_path: Path) -> Path:
    if os.geteuid() == 0:
        return Path("/sys/kernel")  # not writable even by root
    folder = tmp_path / "readonly"
    folder.mkdir()
    folder.chmod(0o555)
    return folder


@pytest.mark.parametrize("command", ["map", "index", "search"])
def test_unwritable_output_folder_is_one_line(inputs, tmp_path, command) -> None:
    folder = unwritable_folder(tmp_path)
    grid = [str(inputs["raster"]), "--model", str(inputs["model"])]
    args = {"map": ["map", *grid, "--out-dir", str(folder / "maps")],
            "index": ["index", *grid, "-o", str(folder / "idx")],
            "search": ["search", *grid, "--query", "scene:class1 > 0.1", "-o", str(folder / "s.tif")]}[command]
    assert_one_line_error(*finish(xview(*args)), str(folder))


def test_out_dir_naming_a_file_is_one_line(inputs, tmp_path) -> None:
    existing = tmp_path / "file.txt"
    existing.write_text("mine")
    code, err = finish(xview("map", str(inputs["raster"]), "--model", str(inputs["model"]),
                             "--out-dir", str(existing)))
    assert_one_line_error(code, err, str(existing))
    assert existing.read_text() == "mine"


@pytest.mark.parametrize(("signum", "status", "line"), [
    (signal.SIGTERM, 143, "xview: terminated (SIGTERM); no output was written"),
    (signal.SIGINT, 130, "xview: interrupted; no output was written"),
])
def test_signal_mid_index_cleans_up_and_exits(inputs, tmp_path, signum, status, line) -> None:
    proc = xview(*index_args(inputs, tmp_path / "idx"))
    wait_for_part(tmp_path, proc)
    proc.send_signal(signum)
    code, err = finish(proc)
    assert code == status and "Traceback" not in err, err
    assert err.strip().splitlines()[-1] == line
    assert os.listdir(tmp_path) == []


def test_sigkill_leftovers_are_removed_by_the_next_run(inputs, tmp_path) -> None:
    proc = xview(*index_args(inputs, tmp_path / "idx"))
    wait_for_part(tmp_path, proc)
    proc.kill()
    proc.wait()
    assert leftovers(tmp_path)  # the temporary folder and the lock: SIGKILL cannot be handled
    code, err = finish(xview(*index_args(inputs, tmp_path / "idx")))
    assert code == 0, err
    assert f"pid {proc.pid}) that is gone" in err and f"pid {proc.pid}) that was killed" in err
    assert os.listdir(tmp_path) == ["idx"]


def test_second_run_into_the_same_output_is_refused_while_the_first_runs(inputs, tmp_path) -> None:
    first = xview(*index_args(inputs, tmp_path / "idx"))
    wait_for_part(tmp_path, first)
    first.send_signal(signal.SIGSTOP)  # hold it mid-write, deterministically
    try:
        code, err = finish(xview(*index_args(inputs, tmp_path / "idx"), "--overwrite"))
        assert_one_line_error(code, err, "being written by another xview run", f"pid {first.pid}")
    finally:
        first.send_signal(signal.SIGCONT)
    code, err = finish(first)
    assert code == 0, err
    assert os.listdir(tmp_path) == ["idx"]


def test_lock_is_released_and_a_stale_one_taken_over(tmp_path) -> None:
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    (tmp_path / ".out.xview.lock").write_text(f"{dead.pid}\n")
    (tmp_path / f".out.tif.{dead.pid}-abc123.part.tif").write_bytes(b"half")
    said: list[str] = []
    with output_lock(tmp_path / "out", said.append):
        assert (tmp_path / ".out.xview.lock").read_text().strip() == str(os.getpid())
    assert os.listdir(tmp_path) == [] and len(said) == 2


def test_error_lines_escape_control_characters() -> None:
    assert one_line(ValueError("bad name 'a\x1b[31mb'\nsecond line")) == "bad name 'a\\x1b[31mb' second line"
