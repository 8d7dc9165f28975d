"""Running an ``InstallPlan``: staging folder, pip as a subprocess with its log streamed, the swap.

pip runs as a child process (never in QGIS' own interpreter): its output goes line by line to a
callback (the dock's log view, the terminal) and to ``install.log`` beside the folder, so a failure
is one line with the whole log one click away. Cancel stops pip; cancel and failure remove the
staging folder and leave any earlier install as it was.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

from xview_engine.errors import Cancelled, InstallError
from xview_engine.install.plan import INSTALL_RECORD, InstallPlan, quote, record, venv_python
from xview_engine.progress import check_cancel

DROPPED = ("numpy", "numpy.libs", "numpy-*.dist-info", "bin/f2py*")  # --target: QGIS' numpy stays the one used
# Settings that would send pip elsewhere or refuse the folder; QGIS' own PYTHONPATH is not pip's business.
UNSET_ENV = ("PYTHONPATH", "PIP_TARGET", "PIP_USER", "PIP_PREFIX", "PIP_REQUIRE_VIRTUALENV", "PIP_CONSTRAINT",
             "VIRTUAL_ENV")
Log = Callable[[str], None]
Cancel = Callable[[], bool]


def run_install(plan: InstallPlan, log: Log = print, cancel: Cancel = lambda: False) -> Path:
    """Run the plan: output to ``log`` and ``plan.log_path``; returns the final folder.

    Raises ``Cancelled`` when ``cancel()`` turns true (pip is stopped) and ``InstallError`` when a
    step fails; in both cases the staging folder is removed.
    """
    final = Path(plan.folder)
    _make_root(plan.root)
    _remove_leftovers(final)
    staging = Path(tempfile.mkdtemp(prefix=f".{final.name}.partial-", dir=plan.root))
    staging.chmod(0o755)  # mkdtemp's 0700 would hide the folder from other accounts sharing the profile
    plan.constraints_path.write_text("\n".join(plan.constraints) + "\n", encoding="utf-8")
    try:
        with open(plan.log_path, "w", encoding="utf-8") as log_file:
            def both(line: str) -> None:
                log_file.write(line + "\n")
                log_file.flush()
                log(line)

            site = _fill(plan, staging, both, cancel)
        Path(staging, INSTALL_RECORD).write_text(json.dumps(record(plan, site), indent=2) + "\n", encoding="utf-8")
        _swap_into_place(staging, final)
        return final
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _fill(plan: InstallPlan, staging: Path, log: Log, cancel: Cancel) -> str:
    """Make the venv (when that is the method) and pip-install into it; returns site-packages, relative."""
    if plan.method == "venv":
        _step(plan.venv_command(staging), "making the venv", plan, log, cancel)
        _step(plan.pip_command(staging), "pip", plan, log, cancel)
        where = subprocess.run([str(venv_python(staging, plan.windows)), "-c",
                                "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                               capture_output=True, text=True, env=_clean_env(), timeout=60)
        purelib = Path(where.stdout.strip())
        if where.returncode != 0 or not purelib.is_dir():
            raise InstallError(f"the new venv in {staging} has no site-packages ({where.stderr.strip()})")
        return str(purelib.relative_to(staging))
    _step(plan.pip_command(staging), "pip", plan, log, cancel)
    for pattern in DROPPED:
        for path in staging.glob(pattern):
            shutil.rmtree(path) if path.is_dir() else path.unlink()
    return "."


def _step(cmd: list[str], what: str, plan: InstallPlan, log: Log, cancel: Cancel) -> None:
    log("$ " + " ".join(quote(part) for part in cmd))
    code, errors = _run(cmd, log, cancel)
    if code == 0:
        return
    no_pip = next((e for e in errors if "No module named pip" in e), None)
    said = no_pip or next(iter(errors), "see the log")
    hint = "; QGIS' Python has no pip: install it (Debian/Ubuntu: sudo apt install python3-pip)" if no_pip else ""
    raise InstallError(f"{what} failed (exit {code}): {said}{hint}; full log: {plan.log_path}")


def _run(cmd: list[str], log: Log, cancel: Cancel) -> tuple[int, list[str]]:
    """Run ``cmd`` with its output streamed to ``log``; returns the exit code and the error lines."""
    try:
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                text=True, errors="replace", env=_clean_env())
    except OSError as exc:
        raise InstallError(f"cannot start {cmd[0]}: {exc.strerror or exc}; is it QGIS' Python?") from exc
    errors: list[str] = []

    def read() -> None:
        for raw in proc.stdout:  # type: ignore[union-attr]
            line = raw.rstrip()
            if line.startswith(("ERROR:", "Error:")):
                errors.append(line.split(":", 1)[1].strip())
            elif "No module named pip" in line:
                errors.append(line.strip())
            log(line)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        while proc.poll() is None:
            if cancel():
                raise Cancelled("engine install cancelled; nothing was installed and any earlier install is unchanged")
            check_cancel(None)  # a signal's stop request (``xview install-engine``)
            time.sleep(0.1)
    except BaseException:  # cancelled, a signal: pip stops too
        proc.terminate()
        _wait_or_kill(proc)
        reader.join(5)
        raise
    reader.join(10)
    return proc.returncode, errors


def _clean_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in UNSET_ENV}
    env["PYTHONUNBUFFERED"] = "1"
    return env


def _wait_or_kill(proc: subprocess.Popen, timeout_s: float = 10.0) -> None:
    try:
        proc.wait(timeout_s)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def _make_root(root: Path) -> None:
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InstallError(f"cannot create the engine folder {root}: {exc.strerror or exc}") from exc


def _remove_leftovers(final: Path) -> None:
    """Staging and old folders of an install that was killed (QGIS closed mid-way)."""
    for pattern in (f".{final.name}.partial-*", f".{final.name}.old-*"):
        for path in final.parent.glob(pattern):
            shutil.rmtree(path, ignore_errors=True)


def _swap_into_place(staging: Path, final: Path) -> None:
    """Replace ``final`` by ``staging`` with two renames; the old folder comes back if the second fails."""
    old = final.with_name(f".{final.name}.old-{os.getpid()}") if final.exists() else None
    try:
        if old is not None:
            os.replace(final, old)
        os.replace(staging, final)
    except OSError as exc:
        if old is not None and old.exists() and not final.exists():
            os.replace(old, final)
        raise InstallError(f"cannot move the new engine folder into {final}: {exc.strerror or exc}; "
                           "close QGIS, start it again and install again") from exc
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)  # Windows keeps loaded DLLs: the next install removes the rest
