"""Where a grid run goes: ``ClusterSpec`` (plain data, no Dask) and the check of its address.

``local:N`` starts a Dask LocalCluster of N worker processes on this machine for the run;
``tcp://HOST:PORT`` (or ``tls://``, ``ws://``, ``wss://``, ``inproc://``) joins an existing
scheduler, e.g. one started with ``dask scheduler`` and fed by ``dask worker`` processes on other
machines. The spec rides in the tools' parameter dataclasses, filled the same way by the CLI and the
dock; Dask itself is imported only by ``client`` when a run starts.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Optional

from xview_engine.errors import XviewError
from xview_engine.limits import check_count

MAX_LOCAL_WORKERS = 256
DEFAULT_BLOCK_TILES = 4096  # tiles per task: ~2 s on a GPU at 2000 tiles/s, a few ms of Dask overhead
MAX_BLOCK_TILES = 10_000_000
SCHEMES = ("tcp", "tls", "ws", "wss", "inproc")
_LOCAL = re.compile(r"^local:(\d+)$")
_REMOTE = re.compile(rf"^(?:{'|'.join(SCHEMES)})://\S+$")


class ClusterError(XviewError):
    """A cluster address is malformed or unreachable, a worker cannot run a block, or a run cannot resume."""


@dataclass(frozen=True)
class ClusterSpec:
    """``--cluster ADDRESS``: ``local:N`` or a scheduler address; ``block_tiles`` tiles per task; ``resume``."""

    address: str
    block_tiles: int = DEFAULT_BLOCK_TILES
    resume: bool = False

    @property
    def local_workers(self) -> Optional[int]:
        """N of ``local:N``; None for a scheduler address."""
        match = _LOCAL.match(self.address)
        return int(match.group(1)) if match else None


def check_spec(spec: ClusterSpec) -> None:
    """Refuse, before any work, an address that is neither ``local:N`` nor a scheduler URL, or a bad block size."""
    check_count("--block-tiles", spec.block_tiles, 1, MAX_BLOCK_TILES, ClusterError)
    if spec.local_workers is not None:
        if not 1 <= spec.local_workers <= MAX_LOCAL_WORKERS:
            raise ClusterError(f"--cluster {spec.address}: give from 1 to {MAX_LOCAL_WORKERS} local workers")
        return
    if not _REMOTE.match(spec.address):
        raise ClusterError(f"--cluster '{spec.address}' is not a cluster address: give local:N (N worker processes "
                           "on this machine) or a Dask scheduler's address such as tcp://HOST:8786")


def scheduler_spec(address: str, where: str, block_tiles: int = DEFAULT_BLOCK_TILES,
                   resume: bool = False) -> Optional[ClusterSpec]:
    """The checked spec of a scheduler address typed in an application embedding the engine; None when empty.

    ``local:N`` is refused there (``where``: 'inside QGIS'): a local cluster starts its workers from
    the running executable, which there is the application itself, not Python.
    """
    text = address.strip()
    if not text:
        if resume:
            raise ClusterError("resuming goes with a cluster address: give the scheduler the run was sent to")
        return None
    spec = ClusterSpec(text, block_tiles, resume)
    check_spec(spec)
    if spec.local_workers is not None:
        raise ClusterError(f"cluster address {text}: {where} start the cluster outside it ('dask scheduler' "
                           "and 'dask worker tcp://HOST:8786') and give the scheduler's tcp:// address")
    return spec
