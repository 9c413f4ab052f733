"""run_sweep on this machine: serial and a process pool agree; failures, Ctrl-C, replay, walk-forward."""

from __future__ import annotations

import itertools
import os
import signal
import time

import pytest

from rulebot.backtest.api import backtest
from rulebot.backtest.stats import compute_stats
from rulebot.sweep import run_sweep
from rulebot.sweep.api import iso
from rulebot.sweep.metrics import compute_metrics
from rulebot.sweep.trial import TrialResult

PARAMS = ["fast=3:9:3", "slow=10,20", "atr_len=0,14"]  # atr_len=0 does not compile: those trials fail


@pytest.fixture(scope="module")
def serial(rulebook, data):
    return run_sweep(rulebook, data, PARAMS, constraints=["fast < slow"], workers=1)


def test_a_pool_of_two_gives_exactly_the_serial_results_and_parses_the_data_once_per_worker(serial, rulebook, data):
    pooled = run_sweep(rulebook, data, PARAMS, constraints=["fast < slow"], workers=2)
    assert [t.comparable() for t in pooled.trials] == [t.comparable() for t in serial.trials]
    assert len({t.worker for t in pooled.trials}) <= 2 and pooled.workers == 2
    assert all(t.parses == 1 for t in pooled.trials)  # each process parsed the files once, for all its trials


def test_a_failed_trial_is_recorded_with_its_error_and_the_rest_go_on(serial):
    assert len(serial.trials) == 12 and serial.planned == 12
    failed = [t for t in serial.trials if not t.ok]
    assert {dict(t.params)["atr_len"] for t in failed} == {0} and len(failed) == 6
    assert all("n of atr must be at least 1" in (t.error or "") for t in failed)
    assert all(t.ok and t.metrics["events"] == 2880 for t in serial.trials if dict(t.params)["atr_len"] == 14)
    assert all(not t.ok for t in serial.ranked()[-6:])  # failures rank last


def test_backtest_with_the_trials_sets_replays_any_trial_exactly(serial, rulebook, data):
    for trial in [t for t in serial.trials if t.ok][:3]:
        result, _, _ = backtest(rulebook, data, overrides={k: str(v) for k, v in trial.params})
        assert str(result.end_equity) == trial.end_equity
        assert compute_metrics(result, None) == trial.metrics
        # What the backtest warns of (funding counted as 0 for want of fundingRate files) comes with it.
        assert trial.warnings == result.warnings and trial.warnings
        # the same trades column as the backtest's summary: closed ones, the open ones apart
        stats = compute_stats(result)
        assert (trial.metrics["trades"], trial.metrics["open_trades"]) == (stats.closed, stats.open_trades)


def test_the_metric_orders_the_ranking(rulebook, data):
    sweep = run_sweep(rulebook, data, ["fast=3:9:3", "slow=20"], metric="sharpe", workers=1)
    scores = [t.metrics["sharpe"] for t in sweep.ranked() if t.metrics.get("sharpe") is not None]
    assert scores == sorted(scores, reverse=True) and len(scores) >= 2


def test_ctrl_c_stops_the_sweep_and_keeps_the_finished_trials(rulebook, data):
    seen: list[TrialResult] = []

    def on_result(r: TrialResult) -> None:
        seen.append(r)
        if len(seen) == 2:
            # What a terminal's Ctrl-C does: SIGINT to every worker of the pool and to the driver
            # (the driver last: its KeyboardInterrupt is raised as soon as it signals itself).
            for pid in {int(t.worker.rsplit(":", 1)[1]) for t in seen}:
                os.kill(pid, signal.SIGINT)
            os.kill(os.getpid(), signal.SIGINT)

    sweep = run_sweep(rulebook, data, ["fast=2:30", "slow=40"], workers=2, on_result=on_result)
    assert sweep.interrupted
    assert 2 <= len(sweep.trials) < 29
    assert all(t.ok for t in sweep.trials)  # workers ignored the signal: no trial died of it
    assert [t.number for t in sweep.trials] == sorted(t.number for t in sweep.trials)


def test_walk_forward_tunes_on_each_window_and_scores_on_the_next(rulebook, data):
    sweep = run_sweep(rulebook, data, ["fast=3:9:3", "slow=10,20"], folds=2, workers=1)
    train = [t for t in sweep.trials if t.phase == "train"]
    test = [t for t in sweep.trials if t.phase == "test"]
    assert len(train) == 12 and len(test) == 2 and len(sweep.folds) == 2
    day = 86_400_000
    for f in sweep.folds:
        assert f.fold.train[1] == f.fold.test[0]  # the test window follows its training window
        assert f.best is not None and f.test is not None and f.test.params == f.best.params
        assert f.best.score("net_pnl") == max(t.score("net_pnl") for t in train if t.fold == f.fold.index)
        # net PnL is compared per day, so windows of different lengths compare fairly
        assert f.in_sample == pytest.approx(f.best.metrics["net_pnl"] / (f.fold.train[1] - f.fold.train[0]) * day)
    # The test trial replays with `backtest --from/--to`: same window, same result.
    t = test[-1]
    result, _, _ = backtest(
        rulebook, data, start=iso(t.start), end=iso(t.end), overrides={k: str(v) for k, v in t.params}
    )
    assert str(result.end_equity) == t.end_equity


def test_train_and_test_durations_roll_forward_by_one_test_window(rulebook, data):
    hour = 3_600_000
    sweep = run_sweep(rulebook, data, ["fast=3,6", "slow=20"], train=18 * hour, test=6 * hour, workers=1)
    assert [f.fold.test[0] - f.fold.train[0] for f in sweep.folds] == [18 * hour] * len(sweep.folds)
    assert len(sweep.folds) == 5  # 48 h: 18 h + 6 h, then four more steps of 6 h
    assert all(b.fold.train[0] - a.fold.train[0] == 6 * hour for a, b in itertools.pairwise(sweep.folds))


def test_optuna_with_a_seed_gives_the_same_trials_serially_and_on_a_pool(rulebook, data):
    kw = {
        "search": "optuna",
        "trials": 8,
        "seed": 11,
        "batch": 3,
        "constraints": ["fast < slow"],
        "start": "2025-06-07T12:00",
        "end": "2025-06-08T12:00",
    }
    one = run_sweep(rulebook, data, ["fast=2:12", "slow=10:40:5"], workers=1, **kw)
    two = run_sweep(rulebook, data, ["fast=2:12", "slow=10:40:5"], workers=2, **kw)
    assert [t.comparable() for t in one.trials] == [t.comparable() for t in two.trials]
    assert len(one.trials) == 8 and all(dict(t.params)["fast"] < dict(t.params)["slow"] for t in one.trials)


def test_more_local_workers_than_cpus_run_as_many_as_there_are_cpus_and_say_so(rulebook, data):
    """--workers 1000 started a process per trial up to 1000 (~100 MB each) on a machine of a few CPUs."""
    import multiprocessing

    cpus = multiprocessing.cpu_count()
    sweep = run_sweep(rulebook, data[:1], ["fast=3,6,9"], workers=cpus + 1000)
    assert sweep.workers == cpus and len(sweep.trials) == 3 and all(t.ok for t in sweep.trials)
    assert any(f"this machine has {cpus} CPU(s)" in note for note in sweep.notes)


@pytest.mark.parametrize("engine", ["local", "dask", "ray"])
def test_an_interrupt_keeps_every_trial_that_had_finished_by_then(engine, rulebook, data):
    # Trials that finished together came back as one batch; an interrupt (Ctrl-C, SIGTERM) while
    # the first of them was being taken dropped the others, finished but never recorded.
    calls: list[int] = []

    def on_result(r: TrialResult) -> None:
        calls.append(r.number)
        if len(calls) == 1:
            time.sleep(3)  # meanwhile the other trials finish: the next wait returns them together
        elif len(calls) == 2:
            raise KeyboardInterrupt

    sweep = run_sweep(rulebook, data, ["fast=3:6", "slow=40"], workers=2, engine=engine, on_result=on_result)
    assert sweep.interrupted
    assert [t.number for t in sweep.trials] == [0, 1, 2, 3]


def test_a_grid_capped_by_trials_says_it_ran_only_its_first_points(rulebook, data):
    # --trials 2 on a grid of 7 ran fast=3 and 4 only and ranked them as "the best": the other
    # values were never tried, and nothing said so.
    sweep = run_sweep(rulebook, data[:1], ["fast=3:9", "slow=40"], trials=2, workers=1)
    assert [dict(t.params)["fast"] for t in sweep.trials] == [3, 4]
    assert any("first 2 of the grid's 7 points" in n and "--search random" in n for n in sweep.notes), sweep.notes
    whole = run_sweep(rulebook, data[:1], ["fast=3:4", "slow=40"], trials=5, workers=1)
    assert not any("grid" in n for n in whole.notes)


@pytest.mark.parametrize("search", ["grid", "optuna"])
def test_a_worker_killed_mid_sweep_costs_no_trial_and_no_crash(search, rulebook, data):
    # The out-of-memory killer took one pool worker: the pool broke, every trial not yet finished
    # was recorded as failed ("worker lost") though it never ran, and optuna's next batch, sent to
    # the broken pool, ended the sweep with an internal error and nothing kept.
    killed: list[int] = []

    def on_result(r: TrialResult) -> None:
        if not killed:
            pid = int(r.worker.rsplit(":", 1)[1])
            killed.append(pid)
            os.kill(pid, signal.SIGKILL)

    sweep = run_sweep(
        rulebook, data[:1], ["fast=3:14", "slow=40"], search=search, trials=12, workers=2, on_result=on_result
    )
    assert killed and not sweep.interrupted
    assert len(sweep.trials) == 12 and all(t.ok for t in sweep.trials), [t.error for t in sweep.trials]
