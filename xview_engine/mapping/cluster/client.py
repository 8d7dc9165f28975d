"""The client side of a cluster run: a Dask cluster to run on, the blocks submitted, waited for, reported.

``connect`` starts a LocalCluster for ``local:N`` (N worker processes of one Dask thread each; the
model in each gets ``cores // N`` threads, so N workers do not oversubscribe the machine; on a
GPU machine every worker holds a ``GPU`` resource and its own GPU) or joins the scheduler at a
``tcp://`` address, waiting for a worker, and prints the Dask dashboard's link. ``run_tasks``
submits one task per block (its key names the run's key, this run and the block: a scheduler may
still hold the results of an earlier run of the same inputs, whose blocks are gone; one retry), and
waits for them with the terminal progress bar and the cancel check between completions. Dask
reschedules the blocks of a worker that dies; a block whose workers keep dying (Dask's
``KilledWorker``) or a scheduler that goes away ends the run as ``ClusterLost``, its finished
blocks kept for ``--resume``. Dask is imported here only, when a run starts.
"""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Callable, Optional

from xview_engine.errors import Cancelled, DependencyError, XviewError
from xview_engine.mapping.cluster.resume import ClusterLost
from xview_engine.mapping.cluster.spec import ClusterError, ClusterSpec
from xview_engine.mapping.cluster.worker import BlockDone, BlockTask, run_block
from xview_engine.model.device import available_cores, gpu_may_be_present
from xview_engine.progress import CancelCheck, ProgressCallback, check_cancel

CONNECT_TIMEOUT_S = 20
WORKER_WAIT_S = 60
POLL_S = 0.2
TASK_RETRIES = 1


@dataclass(frozen=True)
class LocalPlan:
    """How a ``local:N`` cluster is laid out on this machine."""

    workers: int
    model_threads: int  # intra-op threads of each worker's model
    gpus: int  # GPUs the workers are spread over (0: CPU only)
    resources: dict[str, float] = field(default_factory=dict)  # Dask resources of each worker


@dataclass
class Session:
    """A connected client and what the tasks need to know about the workers."""

    client: Any
    address: str
    workers: int
    threads_by_host: dict[str, int]
    gpus: int  # > 0 only for a local cluster on a GPU machine
    task_resources: Optional[dict[str, float]]


def local_plan(workers: int, cores: int, gpus: int) -> LocalPlan:
    """N workers of one Dask thread: the cores shared out among their models, one GPU each where there are GPUs."""
    return LocalPlan(workers, max(1, cores // workers), gpus, {"GPU": 1} if gpus else {})


def gpu_count() -> int:
    """GPUs torch sees here; 0 without importing torch where there surely are none."""
    if not gpu_may_be_present():
        return 0
    import torch

    return torch.cuda.device_count() if torch.cuda.is_available() else 0


@contextlib.contextmanager
def connect(spec: ClusterSpec, device: str, log: Callable[[str], None]) -> Iterator[Session]:
    """A session on the cluster ``spec`` names; the local cluster (if any) is closed on the way out."""
    distributed = _import_distributed()
    quiet = logging.getLogger("distributed")
    level = quiet.level
    quiet.setLevel(logging.ERROR)  # worker restarts and task retries are Dask's business, not the terminal's
    try:
        with contextlib.ExitStack() as stack:
            if spec.local_workers is not None:
                session = _local_session(distributed, spec.local_workers, device, stack)
            else:
                session = _remote_session(distributed, spec.address, stack)
            log(f"cluster {session.address}: {session.workers} worker(s)" + _dashboard(session.client))
            yield session
    finally:
        quiet.setLevel(level)


def _dashboard(client: Any) -> str:
    """', dashboard URL' when the scheduler serves Dask's dashboard (it needs bokeh), else ''."""
    services = client.scheduler_info().get("services") or {}
    return f", dashboard {client.dashboard_link}" if "dashboard" in services else ""


def _import_distributed() -> Any:
    try:
        import distributed
    except ImportError:
        raise DependencyError("--cluster needs Dask distributed, which is not installed; install it with: "
                              "pip install 'dask[distributed]'") from None
    return distributed


@contextlib.contextmanager
def environ_kept() -> Iterator[None]:
    """This process's environment as it was, after a LocalCluster has run in it.

    A LocalCluster's nannies live in this process and set ``OMP_NUM_THREADS=1`` (and MKL's, OpenBLAS')
    in its ``os.environ`` for the workers they spawn, and leave them there: every process started
    afterwards (a later command of the plugin, a test's subprocess) would run single-threaded.
    """
    saved = dict(os.environ)
    try:
        yield
    finally:
        for name in set(os.environ) - set(saved):
            del os.environ[name]
        os.environ.update(saved)


def _local_session(distributed: Any, workers: int, device: str, stack: contextlib.ExitStack) -> Session:
    plan = local_plan(workers, available_cores(), 0 if device == "cpu" else gpu_count())
    stack.enter_context(environ_kept())  # entered first, so restored after the cluster is closed
    cluster = stack.enter_context(distributed.LocalCluster(
        n_workers=plan.workers, threads_per_worker=1, processes=True, dashboard_address=":0",
        silence_logs=logging.ERROR, resources=plan.resources or None))
    client = stack.enter_context(distributed.Client(cluster))
    hosts = {_host(address) for address in client.scheduler_info()["workers"]}
    return Session(client, cluster.scheduler_address, plan.workers, dict.fromkeys(hosts, plan.model_threads),
                   plan.gpus, plan.resources or None)


def _remote_session(distributed: Any, address: str, stack: contextlib.ExitStack) -> Session:
    try:
        client = stack.enter_context(distributed.Client(address, timeout=f"{CONNECT_TIMEOUT_S}s"))
    except (OSError, TimeoutError) as exc:
        raise ClusterError(f"cannot reach the Dask scheduler at {address} ({exc}); start one with 'dask scheduler' "
                           "and workers with 'dask worker ADDRESS', or check the address") from None
    try:
        client.wait_for_workers(1, timeout=WORKER_WAIT_S)
    except TimeoutError:
        raise ClusterError(f"the Dask scheduler at {address} has no worker after {WORKER_WAIT_S} s; start some with "
                           f"'dask worker {address}'") from None
    workers = client.scheduler_info()["workers"]
    return Session(client, address, len(workers), threads_by_host(workers, available_cores()), 0,
                   {"GPU": 1} if workers and all("GPU" in w.get("resources", {}) for w in workers.values()) else None)


def threads_by_host(workers: dict[str, dict[str, Any]], default_cores: int) -> dict[str, int]:
    """Model threads for the workers of each host: the host's cores (as its workers report) over its Dask threads."""
    cores: dict[str, int] = {}
    dask_threads: dict[str, int] = {}
    for address, info in workers.items():
        host = _host(address)
        reported = (info.get("metrics") or {}).get("host_cpu") or {}
        cores[host] = int(reported.get("count") or cores.get(host) or default_cores)
        dask_threads[host] = dask_threads.get(host, 0) + int(info.get("nthreads") or 1)
    return {host: max(1, cores[host] // dask_threads[host]) for host in cores}


def _host(address: str) -> str:
    return address.split("://", 1)[-1].rsplit(":", 1)[0]


def run_tasks(session: Session, tasks: Sequence[BlockTask], done_tiles: int, total_tiles: int,
              progress: Optional[ProgressCallback], cancel: Optional[CancelCheck]) -> list[BlockDone]:
    """Run every task on the cluster; the progress bar moves by each finished block's tiles."""
    distributed = _import_distributed()
    client = session.client
    run = secrets.token_hex(4)  # a run's own task keys: a scheduler may still hold an earlier run's results
    futures = {client.submit(run_block, task, key=f"xview-block-{task.key[:12]}-{run}-{task.block.index}",
                             retries=TASK_RETRIES, resources=session.task_resources): task for task in tasks}
    pending, results = set(futures), []
    if progress is not None:
        progress(done_tiles, total_tiles)
    try:
        while pending:
            check_cancel(None)  # a signal's stop request
            if cancel is not None and cancel():
                raise Cancelled("cancelled by the user; no output was written")
            try:
                finished, pending = distributed.wait(pending, timeout=POLL_S, return_when="FIRST_COMPLETED")
            except TimeoutError:
                continue
            for future in finished:
                results.append(_result(future, futures[future]))
                done_tiles += futures[future].block.count
            if progress is not None:
                progress(done_tiles, total_tiles)
    except BaseException:
        client.cancel(list(pending))
        raise
    return results


def _result(future: Any, task: BlockTask) -> BlockDone:
    try:
        return future.result()
    except XviewError:
        raise
    except Exception as exc:
        if type(exc).__name__ in ("KilledWorker", "CommClosedError", "CancelledError") or isinstance(exc, OSError):
            raise ClusterLost(f"block {task.block.index} was lost ({type(exc).__name__}: {exc}); the cluster lost "
                              "its workers or its scheduler") from None
        raise
