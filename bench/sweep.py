"""Sweep throughput: 64 trials serially and on two workers, and the cost of a trial over a plain backtest.

    python bench/sweep.py                       # 64 trials, local engine, 1 vs 2 workers
    python bench/sweep.py --engine ray          # the same on a local Ray instance (or dask)
    python bench/sweep.py --ray-nodes 4         # a simulated 4-node Ray cluster on this machine

The rulebook is rules/ema-trend-btc.yaml on nine days of real BTCUSDT 1m candles from the
shared archive (12,960 events); the 64 trials are an 8 x 8 grid over fast and slow. It prints:
(1) a plain `backtest()` call (parse, compile, run) and the bare engine run, per trial; (2) the
sweep on one worker, in this process; (3) the sweep on N workers; the speed-up; the per-trial
overhead of the sweep over the plain backtest; and the machine's load, because the 2 cores are
shared and a busy neighbour halves any speed-up.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

from rulebot.backtest.api import backtest, load_instruments
from rulebot.backtest.runner import BacktestConfig, run_backtest
from rulebot.feeds.replay import ReplaySource
from rulebot.rulebook.compiler import compile_file
from rulebot.sweep import SweepResult, run_sweep
from rulebot.testing.shared import ARCHIVE, require

ROOT = Path(__file__).resolve().parents[1]
RULEBOOK = str(ROOT / "rules" / "ema-trend-btc.yaml")
DATA = [str(require(ARCHIVE / "futures/um/daily/klines/BTCUSDT/1m"))]
PARAMS = ["fast=8:22:2", "slow=30:100:10"]  # 8 x 8 = 64 trials


def plain(samples: int) -> tuple[float, float, float, float]:
    """Wall and CPU seconds per `backtest()` call, and per bare `run_backtest` on events in memory."""
    began, cpu = time.perf_counter(), time.process_time()
    for i in range(samples):
        backtest(RULEBOOK, DATA, overrides={"fast": str(8 + 2 * i), "slow": "50"})
    per_call, per_call_cpu = (time.perf_counter() - began) / samples, (time.process_time() - cpu) / samples
    book = compile_file(RULEBOOK)
    events = list(ReplaySource(DATA, symbols=set(book.symbols)))
    inst = load_instruments(book, None, iter(events))
    began, cpu = time.perf_counter(), time.process_time()
    for i in range(samples):
        b = compile_file(RULEBOOK, {"fast": str(8 + 2 * i), "slow": "50"})
        run_backtest(b, events, inst.instruments, inst.brackets, BacktestConfig())
    return per_call, per_call_cpu, (time.perf_counter() - began) / samples, (time.process_time() - cpu) / samples


def sweep(engine: str, workers: int, trials: int, address: str | None = None) -> tuple[float, int, float]:
    """Wall seconds, trials, and the CPU seconds the trials got (on a shared machine, less than wall)."""
    result, seconds = timed_sweep(engine, workers, trials, address)
    return seconds, len(result.trials), sum(t.cpu for t in result.trials)


def timed_sweep(engine: str, workers: int, trials: int, address: str | None = None) -> tuple[SweepResult, float]:
    began = time.perf_counter()
    result = run_sweep(RULEBOOK, DATA, PARAMS, trials=trials, engine=engine, workers=workers, address=address)
    seconds = time.perf_counter() - began
    assert not result.failed, result.failed[0].error
    return result, seconds


def simulated_ray_cluster(nodes: int, trials: int) -> None:
    """Ray's own multi-node test cluster: `nodes` raylets of 1 CPU each, one object store per node."""
    from ray.cluster_utils import Cluster

    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1})
    for _ in range(nodes - 1):
        cluster.add_node(num_cpus=1)
    cluster.wait_for_nodes()
    try:
        result, seconds = timed_sweep("ray", nodes, trials, address=cluster.address)
        actors = {t.worker for t in result.trials}
        print(
            f"simulated Ray cluster, {nodes} nodes x 1 CPU: {seconds:6.2f} s for {len(result.trials)} trials on "
            f"{len(actors)} actors, each parsed the data {max(t.parses for t in result.trials)} time(s); "
            f"trials per actor: {sorted(sum(t.worker == a for t in result.trials) for a in actors)}"
        )
    finally:
        import ray

        ray.shutdown()
        cluster.shutdown()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--trials", type=int, default=64)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--engine", choices=["local", "ray", "dask"], default="local")
    ap.add_argument("--samples", type=int, default=8, help="plain backtests timed for the per-trial baseline")
    ap.add_argument("--ray-nodes", type=int, help="also run on a simulated Ray cluster of this many nodes")
    args = ap.parse_args()

    print(f"cpus: {os.cpu_count()}, load average before: {', '.join(f'{x:.2f}' for x in os.getloadavg())}")
    per_call, per_call_cpu, per_run, per_run_cpu = plain(args.samples)
    print(
        f"plain backtest() per call (parse + compile + run): {per_call * 1000:7.1f} ms, "
        f"{per_call_cpu * 1000:6.1f} ms CPU"
    )
    print(
        f"bare engine run per trial (events in memory):      {per_run * 1000:7.1f} ms, {per_run_cpu * 1000:6.1f} ms CPU"
    )
    serial, n, serial_cpu = sweep("local", 1, args.trials)
    print(
        f"sweep, 1 worker (this process):   {serial:6.2f} s for {n} trials, {serial / n * 1000:6.1f} ms per trial, "
        f"{serial_cpu / n * 1000:6.1f} ms CPU per trial, {serial_cpu / serial:.2f} cores obtained"
    )
    parallel, n, parallel_cpu = sweep(args.engine, args.workers, args.trials)
    label = f"sweep, {args.workers} {args.engine} workers:"
    print(
        f"{label:<33} {parallel:6.2f} s for {n} trials, {parallel / n * 1000:6.1f} ms per trial, "
        f"{parallel_cpu / n * 1000:6.1f} ms CPU per trial, {parallel_cpu / parallel:.2f} cores obtained "
        "(start-up included)"
    )
    print(f"speed-up: {serial / parallel:.2f}x on {args.workers} workers (wall clock)")
    print(
        f"CPU per trial, {args.workers} workers against 1: {parallel_cpu / serial_cpu:.2f}x (1.00 = no parallel "
        "overhead; a wall speed-up below the worker count with this near 1.00 means the cores were busy elsewhere)"
    )
    print(
        f"per-trial overhead of the sweep over a plain backtest() call: {(serial / n - per_call) * 1000:+.1f} ms wall, "
        f"{(serial_cpu / n - per_call_cpu) * 1000:+.1f} ms CPU (over the bare engine run: "
        f"{(serial_cpu / n - per_run_cpu) * 1000:+.1f} ms CPU)"
    )
    print(f"load average after: {', '.join(f'{x:.2f}' for x in os.getloadavg())}")
    if args.ray_nodes:
        simulated_ray_cluster(args.ray_nodes, args.trials)


if __name__ == "__main__":
    main()
