"""Ray and Dask, started for real on this machine, give exactly what the local engine gives."""

from __future__ import annotations

import pytest

from rulebot.sweep import run_sweep

PARAMS = ["fast=3,6", "slow=10,20", "atr_len=0,14"]  # atr_len=0 fails: failures must travel back too
KW = {"constraints": ["fast < slow"], "start": "2025-06-07T06:00", "end": "2025-06-08T06:00"}


@pytest.fixture(scope="module")
def local(rulebook, data):
    return run_sweep(rulebook, data, PARAMS, workers=1, **KW)


@pytest.mark.parametrize("engine", ["ray", "dask"])
def test_a_cluster_engine_gives_the_local_results_and_parses_the_data_once_per_worker(engine, local, rulebook, data):
    sweep = run_sweep(rulebook, data, PARAMS, engine=engine, workers=2, **KW)
    assert sweep.workers == 2 and len(sweep.trials) == 8
    assert [t.comparable() for t in sweep.trials] == [t.comparable() for t in local.trials]
    assert sum(not t.ok for t in sweep.trials) == 4
    assert len({t.worker for t in sweep.trials}) <= 2
    assert all(t.parses == 1 for t in sweep.trials)  # the workload reached each worker once, parsed once


def test_optuna_on_dask_proposes_what_it_proposes_locally(rulebook, data):
    kw = {"search": "optuna", "trials": 6, "seed": 5, **KW}
    there = run_sweep(rulebook, data, ["fast=2:12", "slow=10:30:5"], engine="dask", workers=2, **kw)
    here = run_sweep(rulebook, data, ["fast=2:12", "slow=10:30:5"], workers=1, **kw)
    assert [t.comparable() for t in there.trials] == [t.comparable() for t in here.trials]


@pytest.mark.parametrize(
    ("engine", "address"), [("ray", "127.0.0.1:9"), ("ray", "ray://127.0.0.1:9"), ("dask", "tcp://127.0.0.1:9")]
)
def test_a_cluster_address_nobody_answers_is_an_error_within_seconds(engine, address, rulebook, data):
    # Ray retried its GCS connection for more than five minutes with its own log lines and no end.
    import time

    from rulebot.sweep.space import SweepError

    began = time.monotonic()
    with pytest.raises(SweepError, match=f"cannot reach {engine.capitalize()} at {address}"):
        run_sweep(rulebook, data, ["fast=3,6"], engine=engine, address=address, **KW)
    assert time.monotonic() - began < 30


def test_a_dask_address_that_answers_but_is_no_scheduler_is_an_error_within_seconds(silent, rulebook, data):
    """Dask's Client hung there for good despite its timeout: the sweep never started nor ended."""
    import time

    from rulebot.sweep.space import SweepError

    began = time.monotonic()
    with pytest.raises(SweepError, match="gave no Dask handshake"):
        run_sweep(rulebook, data, ["fast=3,6"], engine="dask", address=f"tcp://{silent}", **KW)
    assert time.monotonic() - began < 30


def test_a_dask_cluster_started_here_reports_the_workers_it_started(rulebook, data):
    """It said "on 1 dask worker(s)" for a cluster of one worker per CPU."""
    import multiprocessing

    sweep = run_sweep(rulebook, data, ["fast=3"], engine="dask", **KW)
    assert sweep.workers == multiprocessing.cpu_count()


def test_a_sweep_joins_a_dask_scheduler_by_address(rulebook, data):
    from distributed import LocalCluster

    with LocalCluster(n_workers=1, threads_per_worker=1, processes=True, dashboard_address=":0") as cluster:
        sweep = run_sweep(rulebook, data, ["fast=3,6"], engine="dask", address=cluster.scheduler_address, **KW)
    assert sweep.workers == 1 and len(sweep.trials) == 2 and all(t.ok for t in sweep.trials)


def test_ray_started_here_runs_no_more_actors_than_cpus(rulebook, data):
    """Ray was told num_cpus=--workers, so --workers 1000 made 1000 actors, each a process with the data."""
    import multiprocessing

    sweep = run_sweep(rulebook, data, ["fast=3"], engine="ray", workers=1000, **KW)
    assert sweep.workers == multiprocessing.cpu_count() and all(t.ok for t in sweep.trials)
