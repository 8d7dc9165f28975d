"""Check the registry of published weights against the real servers: ``make weights-check`` (needs internet).

Not run by CI (no test reaches the internet). For every file of ``xview_engine.weights.registry``
(or the names given) it downloads the published URL into a scratch folder (resuming, with the
engine's own downloader), prints the size and the full SHA-256 next to what the registry records,
and loads the file into the architecture that uses it (the teacher loader, strictly, with
``weights_only=True``; and the backbone or the twin network's VGG16 branches where the registry
says so). The last lines are the digests and sizes to fill in where the registry has none. Exit
status 1 when a file differs from its record, fails to download or does not load.

    python tools/weights_check.py [NAME ...] [--dir SCRATCH] [--keep] [--timeout S]

``--keep`` moves each file that matches its record into the weights cache (``XVIEW_HOME``), so
the 1.5 GB downloaded are not wasted.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as a script from a checkout without `pip install -e .`
    sys.path.insert(0, str(ROOT))

from xview_engine.cache import file_sha256  # noqa: E402
from xview_engine.errors import XviewError  # noqa: E402
from xview_engine.weights import REGISTRY, cached_path, lookup  # noqa: E402
from xview_engine.weights.download import download  # noqa: E402
from xview_engine.weights.fetch import mib_progress  # noqa: E402
from xview_engine.weights.registry import WeightFile  # noqa: E402
from xview_engine.weights.store import write_stamp  # noqa: E402


def check_entry(entry: WeightFile, folder: Path, timeout: float) -> tuple[str, int | None, str | None]:
    """(status, size, sha256) of the published file: ok, differs, unrecorded, or what failed."""
    partial = folder / (entry.filename + ".partial")
    try:
        download(entry.url, partial, timeout=timeout, progress=mib_progress(f"check {entry.name}"), size=entry.size)
    except XviewError as exc:
        return f"download failed: {exc}", None, None
    size, digest = partial.stat().st_size, file_sha256(partial)
    partial.rename(folder / entry.filename)
    if not entry.digest_matches(digest) or (entry.size is not None and entry.size != size):
        return "differs from the registry", size, digest
    problem = load_problem(entry, folder / entry.filename)
    if problem:
        return f"does not load: {problem}", size, digest
    return ("ok" if entry.sha256 and entry.size else "ok, not fully recorded"), size, digest


def load_problem(entry: WeightFile, path: Path) -> str:
    """'' when the file loads into every architecture the registry says uses it, else why not."""
    from xview_engine.model.backbones import build_backbone, load_backbone_weights
    from xview_engine.teachers import load_teachers

    arch = entry.name.split(":")[1]
    try:
        load_teachers(f"{entry.name}={path}")
        if "--backbone " in entry.used_by:
            load_backbone_weights(build_backbone(arch)[0], path)
        if "--branch vgg16" in entry.used_by:
            from xview_engine.model.twin import build_twin, load_vgg16_weights, twin_manifest

            load_vgg16_weights(build_twin(twin_manifest("vgg16")), path)
    except XviewError as exc:
        return str(exc)
    return ""


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("names", nargs="*", help="registry names (default: all)")
    parser.add_argument("--dir", help="scratch folder for the downloads (default: a temporary one)")
    parser.add_argument("--keep", action="store_true", help="move files that match into the weights cache")
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds to wait at each step (default 60)")
    args = parser.parse_args(argv)
    entries = [lookup(name) for name in args.names] if args.names else list(REGISTRY.values())
    scratch = Path(args.dir) if args.dir else Path(tempfile.mkdtemp(prefix="xview-weights-check-"))
    scratch.mkdir(parents=True, exist_ok=True)
    results = []
    try:
        for entry in entries:
            status, size, digest = check_entry(entry, scratch, args.timeout)
            results.append((entry, status, size, digest))
            print(f"{entry.name:<29} {status}\n    url {entry.url}\n    size {size} (recorded {entry.size})\n"
                  f"    sha256 {digest}\n    (recorded {entry.sha256 or entry.digest_text})", flush=True)
            if args.keep and status.startswith("ok"):
                _keep(entry, scratch / entry.filename, digest)
    finally:
        if not args.dir:
            shutil.rmtree(scratch, ignore_errors=True)
    _fill_in([r for r in results if r[3] and (r[0].sha256 is None or r[0].size is None)])
    return 0 if all(status.startswith("ok") for _, status, _, _ in results) else 1


def _keep(entry: WeightFile, path: Path, digest: str | None) -> None:
    target = cached_path(entry)
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.move(str(path), str(target))
    write_stamp(target, str(digest))


def _fill_in(results) -> None:
    if not results:
        return
    print("\nto record in xview_engine/weights/registry.py:")
    for entry, _, size, digest in results:
        print(f"  {entry.name}: size {size:_}, sha256 {digest!r}")


if __name__ == "__main__":
    sys.exit(main())
