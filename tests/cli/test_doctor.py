"""`xview doctor` (the diagnostics report) and `xview install-engine`'s argument errors."""

from __future__ import annotations

import importlib.metadata
import json
import re
import subprocess
import sys

import torch

from xview_engine.install.requirements import ENGINE_REQUIREMENTS


def run_cli(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "xview_engine", *args], capture_output=True, text=True, timeout=120,
                          env=env)


def test_doctor_json_reports_every_dependency_and_torch(tmp_path):
    result = run_cli("doctor", "--json", "--profile", str(tmp_path))
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert [d["name"] for d in report["dependencies"]] == [r.dist for r in ENGINE_REQUIREMENTS]
    deps = {d["name"]: d for d in report["dependencies"]}
    assert deps["torch"]["installed"] == importlib.metadata.version("torch") and deps["torch"]["state"] == "ok"
    assert report["torch"]["version"] == torch.__version__
    assert report["torch"]["CUDA available"].startswith("yes" if torch.cuda.is_available() else "no: ")
    # the subprocess's own pool (this process's may have been narrowed by an earlier test's light model)
    assert re.fullmatch(r"[1-9]\d* intra-op, [1-9]\d* inter-op \(\d+ CPUs?\)", report["torch"]["threads"])
    assert report["engine folder"]["path"] == str(tmp_path / "python" / "xview-engine" / f"py{sys.version_info[0]}."
                                                  f"{sys.version_info[1]}")
    assert report["engine folder"]["exists"] == "no"
    assert report["python"]["version"] == sys.version.split()[0]


def test_doctor_text_says_why_cuda_is_off(tmp_path):
    env = {"PATH": str(tmp_path), "PYTHONPATH": ":".join(sys.path)}  # no nvidia-smi on this PATH
    result = run_cli("doctor", env=env)
    assert result.returncode == 0, result.stderr
    assert "[dependencies]" in result.stdout and "[torch]" in result.stdout
    assert "suggested build: cpu (CPU: no nvidia-smi on PATH (no NVIDIA driver installed))" in result.stdout
    if not torch.cuda.is_available():
        assert "CUDA available: no: " in result.stdout


def test_install_engine_rejects_unknown_distributions(tmp_path):
    result = run_cli("install-engine", "--folder", str(tmp_path / "f"), "--only", "safetensors,nonsense")
    assert result.returncode == 2
    assert result.stderr.strip().startswith("xview: error: --only names unknown distributions nonsense (choose from")
    assert not (tmp_path / "f").exists()
