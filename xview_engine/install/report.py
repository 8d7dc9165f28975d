"""The diagnostics report: what a bug report about "torch in QGIS" needs, in one place.

``xview doctor`` prints it, the plugin's diagnostics panel shows it with a "Copy report" button.
Sections: xview and Python (versions, paths, the interpreter pip would use, PEP 668), the host
(QGIS' version and profile, given by the plugin: the engine never imports qgis), the plugin-owned
engine folder, each dependency (needed, pinned, installed, where from), torch (build, CUDA available
or why not, devices with memory, threads), ``nvidia-smi`` with the build it suggests, and the
published weight files in the cache (``xview_engine.weights``; read from the file system, no hashing).
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from xview_engine import __version__
from xview_engine.errors import InstallError
from xview_engine.install.cuda import NvidiaInfo, choose_build, query_nvidia_smi
from xview_engine.install.interpreter import externally_managed, find_python
from xview_engine.install.plan import read_record, site_dir
from xview_engine.install.requirements import blocking, check_requirements, running_numpy

Report = dict[str, Any]


def environment_report(host: Mapping[str, str] | None = None, engine_folder: str | Path | None = None,
                       nvidia: NvidiaInfo | None = None, with_torch: bool = True) -> Report:
    """Collect the report; ``with_torch`` imports torch (when it is there and recent enough) to ask it."""
    statuses = check_requirements()
    nvidia = nvidia if nvidia is not None else query_nvidia_smi()
    missing = blocking(statuses)
    report: Report = {"xview": {"version": __version__, "engine": str(Path(__file__).resolve().parents[1]),
                                "ready": "yes" if not missing else "no: " + ", ".join(
                                    f"{s.requirement.dist} {s.state}" for s in missing)},
                      "python": _python_section()}
    if host:
        report["host"] = dict(host)
    if engine_folder is not None:
        report["engine folder"] = _folder_section(Path(engine_folder))
    report["dependencies"] = [
        {"name": s.requirement.dist, "needed": s.requirement.needed, "minimum": s.requirement.minimum,
         "pinned": s.requirement.pin, "installed": s.installed, "state": s.state, "location": s.location}
        for s in statuses]
    torch_missing = any(s.requirement.dist == "torch" for s in missing)
    report["torch"] = _torch_section(nvidia) if with_torch and not torch_missing else {"checked": "no (not installed)"}
    choice = choose_build(nvidia)
    report["nvidia-smi"] = {"driver": nvidia.driver, "cuda": nvidia.cuda, "gpus": ", ".join(nvidia.gpus) or None,
                            "error": nvidia.error, "suggested build": f"{choice.build} ({choice.reason})"}
    report["weights"] = weights_section()
    return report


def report_text(report: Report) -> str:
    """The report as plain text, one ``key: value`` a line under each section title."""
    lines: list[str] = []
    for section, body in report.items():
        lines.append(f"[{section}]")
        if isinstance(body, list):
            lines += [_dependency_line(dep) for dep in body]
        else:
            lines += [f"  {key}: {value}" for key, value in body.items() if value is not None]
    return "\n".join(lines) + "\n"


def report_json(report: Report) -> str:
    return json.dumps(report, indent=2, default=str) + "\n"


def _dependency_line(dep: Mapping[str, Any]) -> str:
    needs = f">= {dep['minimum']}, pinned {dep['pinned']}" + ("" if dep["needed"] else ", optional")
    where = f" from {dep['location']}" if dep["location"] else ""
    return f"  {dep['name']}: {dep['installed'] or '-'} [{dep['state']}] (needs {needs}){where}"


def _python_section() -> dict[str, Any]:
    try:
        pip_python = str(find_python())
    except InstallError as exc:
        pip_python = f"not found ({exc})"
    return {"version": sys.version.split()[0], "executable": sys.executable, "prefix": sys.prefix,
            "python for pip": pip_python, "externally managed (PEP 668)": "yes" if externally_managed() else "no",
            "numpy (kept at QGIS' version)": running_numpy(),
            "platform": sys.platform}


def weights_section() -> dict[str, Any]:
    """The weights folder and each published file in it: cached (size) or partly downloaded; the rest counted."""
    from xview_engine.weights import OFFLINE_ENV, cache_states, offline, weights_dir

    states = cache_states()
    section: dict[str, Any] = {"folder": str(weights_dir()), "downloads": f"off ({OFFLINE_ENV} is set)" if offline()
                               else "on (files missing when named are fetched)"}
    for state in states:
        if state.state != "missing":
            section[state.entry.name] = f"{state.state}, {state.size / 2**20:.1f} MiB: {state.path}"
    missing = [s.entry.name for s in states if s.state == "missing"]
    section["not cached"] = ", ".join(missing) if missing else "none"
    return section


def _folder_section(folder: Path) -> dict[str, Any]:
    record = read_record(folder)
    return {"path": str(folder), "exists": "yes" if folder.is_dir() else "no",
            "on sys.path": "yes" if str(site_dir(folder)) in sys.path else "no", "build": record.get("build"),
            "method": record.get("method"),
            "installed": record.get("installed"), "numpy kept": record.get("numpy_kept")}


def _torch_section(nvidia: NvidiaInfo) -> dict[str, Any]:
    try:
        import torch
    except Exception as exc:  # a broken install must still give a report
        return {"import": f"failed: {type(exc).__name__}: {exc}"}
    available = torch.cuda.is_available()
    section: dict[str, Any] = {"version": torch.__version__, "from": str(Path(torch.__file__).parent),
                               "CUDA build": torch.version.cuda or "none (CPU build)",
                               "CUDA available": "yes" if available else f"no: {cuda_reason(torch, nvidia)}",
                               "threads": f"{torch.get_num_threads()} intra-op, {torch.get_num_interop_threads()} "
                                          f"inter-op ({os.cpu_count()} CPUs)"}
    for index in range(torch.cuda.device_count() if available else 0):
        props = torch.cuda.get_device_properties(index)
        section[f"cuda:{index}"] = f"{props.name}, {props.total_memory / 2**30:.1f} GiB"
    section["device used by 'auto'"] = "cuda:0" if available else "cpu"
    return section


def cuda_reason(torch_module: Any, nvidia: NvidiaInfo) -> str:
    """Why a torch sees no CUDA GPU, in words a user can act on."""
    build = torch_module.version.cuda
    if not build:
        return "this torch is a CPU build; install a CUDA build to use an NVIDIA GPU"
    if nvidia.cuda is None:
        return f"torch is built for CUDA {build} but no NVIDIA driver answers ({nvidia.error})"
    from xview_engine.install.requirements import version_key

    if version_key(nvidia.cuda) < version_key(build):
        return (f"torch is built for CUDA {build}, the NVIDIA driver {nvidia.driver} supports only CUDA "
                f"{nvidia.cuda}: update the driver or install the {choose_build(nvidia).build} build")
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    hidden = f" (CUDA_VISIBLE_DEVICES={visible!r})" if visible is not None else ""
    return f"torch (CUDA {build}) found no usable GPU{hidden} although the driver supports CUDA {nvidia.cuda}"
