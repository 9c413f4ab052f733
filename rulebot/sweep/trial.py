"""One trial: the rulebook compiled with a parameter set and backtested on a time window.

`run_trial` is what every engine runs on its workers. It is a pure function of the workload and
the spec (the wall time and the worker's name aside), so the same trial gives the same result
on a process pool, Ray or Dask. It never raises: a failed trial comes back with its error.
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import Any, Literal, TypeVar

from rulebot.backtest.runner import run_backtest
from rulebot.backtest.warmup import read_from as warm_from
from rulebot.rulebook.compiler import compile_text
from rulebot.rulebook.errors import RulebookError
from rulebot.rulebook.params import Value
from rulebot.sweep.metrics import compute_metrics
from rulebot.sweep.space import render
from rulebot.sweep.workload import Workload, events_of, parses_here

Phase = Literal["search", "train", "test"]
T = TypeVar("T")
CURVE_POINTS = 240  # equity points kept per trial for the report's curves


@dataclass(frozen=True, slots=True)
class TrialSpec:
    number: int
    params: tuple[tuple[str, Value], ...]  # the swept parameters; the rest keep their defaults
    start: int | None = None  # ms, inclusive
    end: int | None = None  # ms, exclusive
    phase: Phase = "search"
    fold: int | None = None

    @property
    def overrides(self) -> dict[str, str]:
        """The parameters as `--set` gives them, so `rulebot backtest --set` replays the trial."""
        return {name: render(value) for name, value in self.params}


@dataclass(frozen=True, slots=True)
class TrialResult:
    number: int
    params: tuple[tuple[str, Value], ...]
    start: int | None
    end: int | None
    phase: Phase
    fold: int | None
    metrics: dict[str, float | int | None] = field(default_factory=dict)
    net_pnl: str = ""  # exact, as the backtest's Decimal prints it
    end_equity: str = ""
    error: str | None = None
    curve: tuple[tuple[int, float], ...] = ()
    seconds: float = 0.0  # wall time on the worker
    cpu: float = 0.0  # CPU time of the worker process during the trial (the machine may be shared)
    worker: str = ""  # host:pid
    parses: int = 0  # how often that worker process had parsed the data when this trial ended
    # What the trial's `rulebot backtest` warns of: numbers less than Binance's (funding counted as 0
    # for want of fundingRate files, an indicator that never warmed up, gaps in the data).
    warnings: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return self.error is None

    def score(self, metric: str) -> float | None:
        value = self.metrics.get(metric) if self.ok else None
        return None if value is None or value != value else float(value)

    def rank_key(self, metric: str) -> tuple[int, float, float, int]:
        """Best first: by the score, then (equal scores, such as profit factors of ∞) by net PnL,
        then by trial number; a trial without a score after every trial with one."""
        s = self.score(metric)
        if s is None:
            return (1, 0.0, 0.0, self.number)
        pnl = self.metrics.get("net_pnl")
        return (0, -s, -float(pnl) if pnl is not None else 0.0, self.number)

    def comparable(self) -> dict[str, Any]:
        """Everything that must not depend on where or when the trial ran."""
        doc = asdict(self)
        for key in ("seconds", "cpu", "worker", "parses"):
            doc.pop(key)
        return doc


def run_trial(workload: Workload, spec: TrialSpec) -> TrialResult:
    began, cpu = time.perf_counter(), time.process_time()
    head = (spec.number, spec.params, spec.start, spec.end, spec.phase, spec.fold)
    try:
        parsed = events_of(workload)  # parsed first: a rulebook the overrides break still counts its worker's parse
        book = compile_text(workload.rulebook_text, workload.rulebook_file, spec.overrides)
        if not parsed.window(spec.start, spec.end):
            raise ValueError("the data holds no events in this trial's time range")
        # As `backtest --from` does (backtest/warmup.py): the data before the window warms the
        # indicators, so a trial and its replay command give the same result.
        config, read_from = workload.config, spec.start
        if spec.start is not None:
            config, read_from = replace(config, trade_from=spec.start), warm_from(book, spec.start)
        events = parsed.window(read_from, spec.end)
        instruments = workload.instruments[(spec.start, spec.end)]
        result = run_backtest(book, events, instruments, workload.brackets, config)
        metrics = compute_metrics(result, workload.inverse_size)
        curve = tuple((p.time, float(p.equity)) for p in _thin(result.equity_curve, CURVE_POINTS))
        return TrialResult(
            *head,
            metrics,
            str(result.end_equity - result.start_equity),
            str(result.end_equity),
            None,
            curve,
            time.perf_counter() - began,
            time.process_time() - cpu,
            _worker(),
            parses_here(),
            tuple(result.warnings),
        )
    except RulebookError as exc:
        first = next((d for d in exc.diagnostics if d.is_error), None)
        error = f"RulebookError: {first.message if first else exc}"
    except Exception as exc:  # a failed trial is a result; the sweep goes on
        error = f"{type(exc).__name__}: {exc}"
    return TrialResult(
        *head,
        error=error,
        seconds=time.perf_counter() - began,
        cpu=time.process_time() - cpu,
        worker=_worker(),
        parses=parses_here(),
    )


def _thin(points: Sequence[T], most: int) -> Sequence[T]:
    if len(points) <= most:
        return points
    step = len(points) / (most - 1)
    picked = [points[int(i * step)] for i in range(most - 1)]
    return (*picked, points[-1])


def _worker() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"
