"""Where trials run: this process, a local process pool, a Ray cluster or a Dask cluster.

Each engine ships the workload to its workers once (pool initializer, Ray object store, Dask
scatter), keeps its workers across batches, and hands each finished trial to `on_result` as it
comes. On Ctrl-C it cancels what has not started (Ray and Dask: what has not finished), keeps
every trial finished by then, taken or not, and re-raises KeyboardInterrupt for the sweep to end cleanly.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import signal
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from typing import Any, Protocol

from rulebot.sweep.addresses import check_dask_scheduler, check_ray, check_reachable
from rulebot.sweep.ray_reaper import Reaper
from rulebot.sweep.space import SweepError
from rulebot.sweep.trial import TrialResult, TrialSpec, run_trial
from rulebot.sweep.workload import Workload

ENGINES = ("local", "ray", "dask")
OnResult = Callable[[TrialResult], None]


class Engine(Protocol):
    workers: int

    def run(self, specs: Sequence[TrialSpec], on_result: OnResult) -> None: ...

    def close(self) -> None: ...


def make_engine(name: str, workload: Workload, workers: int | None, address: str | None) -> Engine:
    if address is not None and not address.strip():  # a typo, or an unset variable: not "start one here"
        raise SweepError(["--address is empty; leave it out to start a cluster on this machine"])
    if name == "local":
        if address:
            raise SweepError(["--address is for --engine ray or dask; the local engine runs on this machine"])
        n = workers or multiprocessing.cpu_count()
        return SerialEngine(workload) if n == 1 else PoolEngine(workload, n)
    if name == "ray":
        return RayEngine(workload, workers, address)
    if name == "dask":
        return DaskEngine(workload, workers, address)
    raise SweepError([f"unknown engine {name!r}; one of {', '.join(ENGINES)}"])


def _failed(spec: TrialSpec, exc: BaseException) -> TrialResult:
    """A trial whose worker died under it (the trial itself never raises)."""
    return TrialResult(
        spec.number,
        spec.params,
        spec.start,
        spec.end,
        spec.phase,
        spec.fold,
        error=f"worker lost: {type(exc).__name__}: {exc}",
    )


class SerialEngine:
    """Trials one after another in this process: no start-up, the baseline the others are measured by."""

    def __init__(self, workload: Workload):
        self.workload = workload
        self.workers = 1

    def run(self, specs: Sequence[TrialSpec], on_result: OnResult) -> None:
        for spec in specs:
            on_result(run_trial(self.workload, spec))

    def close(self) -> None:
        pass


_WORKLOAD: list[Workload] = []


def _pool_init(workload: Workload, driver: int) -> None:
    # Ctrl-C and a closed terminal's SIGHUP are the driver's to handle (it stops the pool): a worker
    # that died of one would break the pool mid-trial. Not SIGTERM: it is how concurrent.futures
    # ends the workers of a broken pool, and a worker deaf to it made the pool's join hang for ever.
    for name in ("SIGINT", "SIGHUP"):
        if hasattr(signal, name):
            signal.signal(getattr(signal, name), signal.SIG_IGN)
    _WORKLOAD[:] = [workload]
    threading.Thread(target=_end_with_parent, args=(driver,), name="rulebot-orphan-watch", daemon=True).start()


def _end_with_parent(driver: int, every: float = 1.0) -> None:
    """End this worker once its driver is gone (SIGKILL, the OOM killer): a pool worker waits on a
    queue it holds both ends of, so without this it waited for ever, holding the data in memory.
    The driver's pid comes from the driver: one killed while this worker started is gone already."""
    while os.getppid() == driver:
        time.sleep(every)
    os._exit(1)


def _pool_trial(spec: TrialSpec) -> TrialResult:
    return run_trial(_WORKLOAD[0], spec)


class PoolEngine:
    """A local process pool; the workload reaches each process once, through its initializer.

    A worker killed under a trial (the out-of-memory killer, a stray kill) breaks the whole pool and
    every trial not finished with it: the pool is started again and those trials run again, each up
    to ATTEMPTS times (a trial that keeps killing its worker is then recorded as failed)."""

    ATTEMPTS = 3

    def __init__(self, workload: Workload, workers: int):
        self.workers = workers
        self._workload = workload
        self._pool = self._start()

    def _start(self) -> ProcessPoolExecutor:
        # spawn, not fork: the driver may run threads (progress display, Ray or Dask clients),
        # and a forked child would inherit their locks; it is also how macOS and Windows start.
        ctx = multiprocessing.get_context("spawn")
        return ProcessPoolExecutor(
            self.workers, mp_context=ctx, initializer=_pool_init, initargs=(self._workload, os.getpid())
        )

    def run(self, specs: Sequence[TrialSpec], on_result: OnResult) -> None:
        attempts: dict[int, int] = {}
        queue = list(specs)
        while queue:
            queue = self._run_once(queue, on_result, attempts)
            if queue:  # the pool broke under them: a new one, then the same trials again
                self._pool.shutdown(wait=False, cancel_futures=True)
                self._pool = self._start()

    def _run_once(self, specs: Sequence[TrialSpec], on_result: OnResult, attempts: dict[int, int]) -> list[TrialSpec]:
        """Run `specs`; the ones a broken pool took down, to run again."""
        futures: dict[Future[TrialResult], TrialSpec] = {}
        try:
            for s in specs:
                futures[self._pool.submit(_pool_trial, s)] = s
        except BrokenProcessPool:
            return list(specs)  # broken before they were sent: none of them ran
        pending = set(futures)
        taken: set[Future[TrialResult]] = set()
        again: list[TrialSpec] = []
        try:
            while pending:
                done, pending = wait(pending, return_when=FIRST_COMPLETED)
                for fut in sorted(done, key=lambda f: futures[f].number):
                    spec = futures[fut]
                    if isinstance(fut.exception(), BrokenProcessPool) and attempts.get(spec.number, 1) < self.ATTEMPTS:
                        attempts[spec.number] = attempts.get(spec.number, 1) + 1
                        again.append(spec)
                    else:
                        on_result(_outcome(fut, spec))
                    taken.add(fut)
        except KeyboardInterrupt:
            for fut in pending:
                fut.cancel()
            # The trials already running finish (one trial each at most) and are kept, and so are
            # the finished ones of the batch being taken when the interrupt came. Those a broken pool
            # took down (a SIGTERM to the whole process group kills the workers too) count as
            # cancelled, not as trials that failed.
            self._pool.shutdown(wait=True, cancel_futures=True)
            for fut in sorted(futures, key=lambda f: futures[f].number):
                if fut in taken or not fut.done() or fut.cancelled():
                    continue
                if not isinstance(fut.exception(), BrokenProcessPool):
                    on_result(_outcome(fut, futures[fut]))
            raise
        return again

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)


def _outcome(fut: Future[TrialResult], spec: TrialSpec) -> TrialResult:
    try:
        return fut.result()
    except BaseException as exc:  # the process died (killed, out of memory, interrupted): the trial failed
        return _failed(spec, exc)


class _RayWorker:
    """A Ray actor: it receives the workload once, at creation, and runs trials on it."""

    def __init__(self, workload: Workload):
        self.workload = workload

    def run(self, spec: TrialSpec) -> TrialResult:
        return run_trial(self.workload, spec)


class RayEngine:
    """One actor per CPU (or per --workers); each actor holds the workload from the object store."""

    IN_FLIGHT = 2  # trials queued per actor, so an actor never waits for the driver between trials

    def __init__(self, workload: Workload, workers: int | None, address: str | None):
        try:
            import ray
        except ImportError:
            raise SweepError(["--engine ray needs Ray: pip install 'rulebot[ray]'"]) from None
        self._ray = ray
        self._started = False
        self._reaper: Reaper | None = None
        if not ray.is_initialized():
            options: dict[str, Any] = {
                "include_dashboard": False,
                "logging_level": logging.WARNING,
                "log_to_driver": False,
            }
            if address:
                check_ray(address)
                options["address"] = address
            else:
                options["num_cpus"] = workers or multiprocessing.cpu_count()
                options["object_store_memory"] = max(256 << 20, 4 * workload.size)
            kept = _sigterm_handler()
            # A cluster started here ends with the sweep, even a killed one (ray_reaper.py).
            self._reaper = None if address else Reaper()
            try:
                ray.init(**options)
            except (ConnectionError, RuntimeError, ValueError) as exc:
                self._reap()
                raise SweepError([f"cannot start or reach Ray{' at ' + address if address else ''}: {exc}"]) from exc
            finally:
                # ray.init puts in its own SIGTERM handler (exit at once): a handler the caller set
                # (`rulebot sweep` stops as on Ctrl-C, keeping the finished trials) is put back.
                if kept is not None:
                    signal.signal(signal.SIGTERM, kept)
            self._started = True
        cpus = int(ray.cluster_resources().get("CPU", 1))
        # One actor per CPU at most: an actor the cluster cannot place would wait forever.
        self.workers = min(workers, cpus) if workers else cpus
        ref = ray.put(workload)  # once into the object store; each node fetches it once
        actor = ray.remote(num_cpus=1)(_RayWorker)
        self._actors = [actor.remote(ref) for _ in range(self.workers)]

    def run(self, specs: Sequence[TrialSpec], on_result: OnResult) -> None:
        ray = self._ray
        queue = list(reversed(specs))
        pending: dict[Any, tuple[Any, TrialSpec]] = {}

        def feed(actor: Any) -> None:
            if queue:
                spec = queue.pop()
                pending[actor.run.remote(spec)] = (actor, spec)

        for actor in self._actors:
            for _ in range(self.IN_FLIGHT):
                feed(actor)

        def take(ref: Any, spec: TrialSpec) -> None:
            try:
                result = ray.get(ref)
            except Exception as exc:  # the actor died: the trial failed, the rest go on
                result = _failed(spec, exc)
            on_result(result)

        try:
            while pending:
                done, _ = ray.wait(list(pending), num_returns=1)
                for ref in done:
                    actor, spec = pending[ref]
                    take(ref, spec)
                    del pending[ref]
                    feed(actor)
        except KeyboardInterrupt:
            # Finished trials not taken yet are kept; the rest are cancelled (a running one too).
            ready, _ = ray.wait(list(pending), num_returns=len(pending), timeout=0) if pending else ([], [])
            for ref in sorted(ready, key=lambda r: pending[r][1].number):
                take(ref, pending.pop(ref)[1])
            for ref in pending:
                ray.cancel(ref)
            raise

    def close(self) -> None:
        for actor in self._actors:
            self._ray.kill(actor)
        self._actors = []
        if self._started:
            self._ray.shutdown()
        self._reap()

    def _reap(self) -> None:
        if self._reaper is not None:
            self._reaper.close()
            self._reaper = None


def _sigterm_handler() -> Any:
    """The SIGTERM handler a caller installed in Python, or None (none, or not the main thread)."""
    if threading.current_thread() is not threading.main_thread():
        return None
    handler = signal.getsignal(signal.SIGTERM)
    return handler if callable(handler) else None


def _dask_trial(workload: Workload, spec: TrialSpec) -> TrialResult:
    return run_trial(workload, spec)


class DaskEngine:
    """Tasks on a Dask cluster; the workload is scattered to every worker once, parsed once there."""

    def __init__(self, workload: Workload, workers: int | None, address: str | None):
        try:
            from distributed import Client, LocalCluster
        except ImportError:
            raise SweepError(["--engine dask needs dask.distributed: pip install 'rulebot[dask]'"]) from None
        self._cluster: Any = None
        try:
            if address:
                check_reachable("Dask", address)
                check_dask_scheduler(address)
                self._client = Client(address, timeout="10s")
            else:
                n = workers or multiprocessing.cpu_count()
                self._cluster = LocalCluster(
                    n_workers=n,
                    threads_per_worker=1,
                    processes=True,
                    dashboard_address=":0",
                    silence_logs=logging.WARNING,
                )
                self._client = Client(self._cluster)
        except (OSError, TimeoutError, ValueError) as exc:
            raise SweepError([f"cannot start or reach Dask{' at ' + address if address else ''}: {exc}"]) from exc
        # A cluster we joined runs tasks on all its workers; one we started has `workers` of them.
        self.workers = len(self._client.scheduler_info()["workers"]) if address else n
        self._workload = self._client.scatter(workload, broadcast=True)

    def run(self, specs: Sequence[TrialSpec], on_result: OnResult) -> None:
        from distributed import as_completed

        futures = {self._client.submit(_dask_trial, self._workload, s, pure=False): s for s in specs}
        taken: set[Any] = set()

        def take(fut: Any) -> None:
            try:
                result = fut.result()
            except Exception as exc:
                result = _failed(futures[fut], exc)
            on_result(result)
            taken.add(fut)

        try:
            for fut in as_completed(list(futures)):
                take(fut)
        except KeyboardInterrupt:
            # Finished trials not taken yet are kept; the rest are cancelled (a running one too).
            self._client.cancel([f for f in futures if not f.done()])
            for fut in sorted(futures, key=lambda f: futures[f].number):
                if fut not in taken and fut.status == "finished":
                    take(fut)
            raise

    def close(self) -> None:
        self._client.close()
        if self._cluster is not None:
            self._cluster.close()
