"""`run_sweep`: the library function behind `rulebot sweep`.

Everything that can be wrong with a sweep (parameters, ranges, constraints, metric, data,
windows) is found before any trial runs. Then searches propose batches, an engine runs them,
and the results come back ranked; each trial can be replayed by `rulebot backtest --set`.
"""

from __future__ import annotations

import multiprocessing
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal

from rulebot.backtest.api import clip_to_prices, load_instruments, refuse_unknown_symbols
from rulebot.backtest.data_range import nothing_in_range
from rulebot.backtest.runner import BacktestConfig
from rulebot.feeds.replay import ReplaySource, to_ms
from rulebot.rulebook.compiler import compile_file
from rulebot.rulebook.params import Value
from rulebot.sweep.engines import ENGINES, Engine, make_engine
from rulebot.sweep.metrics import METRICS
from rulebot.sweep.search import OPTUNA_BATCH, SEARCHES, GridSearch, Search, defaults_of, make_search
from rulebot.sweep.space import MAX_GRID, Constraints, Dimension, SweepError, coerce_values, parse_space
from rulebot.sweep.trial import Phase, TrialResult, TrialSpec
from rulebot.sweep.walkforward import Fold, FoldResult, comparable_score, windows
from rulebot.sweep.workload import Events, Workload, read_files

Window = tuple[int | None, int | None]


@dataclass
class SweepResult:
    rulebook: str
    data: tuple[str, ...]
    metric: str
    search: str
    seed: int
    engine: str
    workers: int
    dims: tuple[Dimension, ...]
    defaults: dict[str, Value]
    trials: list[TrialResult] = field(default_factory=list)  # by trial number
    folds: list[FoldResult] = field(default_factory=list)  # walk-forward only
    interrupted: bool = False
    seconds: float = 0.0
    planned: int = 0
    notes: list[str] = field(default_factory=list)  # warnings for the user (constraints that raised)
    replay_extra: tuple[str, ...] = ()  # backtest options the sweep ran with (--balance ...), for replay commands

    def ranked(self, phase: str | None = None) -> list[TrialResult]:
        """Best first by the metric (equal scores by net PnL); failed trials and trials without a
        score last, by number."""
        pool = [t for t in self.trials if phase is None or t.phase == phase]
        return sorted(pool, key=lambda t: t.rank_key(self.metric))

    @property
    def failed(self) -> list[TrialResult]:
        return [t for t in self.trials if not t.ok]


def run_sweep(
    rulebook: str,
    data: Sequence[str],
    params: Sequence[str],
    *,
    search: str = "grid",
    trials: int | None = None,
    seed: int = 0,
    batch: int = OPTUNA_BATCH,
    metric: str = "net_pnl",
    constraints: Sequence[str] = (),
    workers: int | None = None,
    engine: str = "local",
    address: str | None = None,
    start: str | int | None = None,
    end: str | int | None = None,
    folds: int | None = None,
    train: int | None = None,
    test: int | None = None,
    config: BacktestConfig | None = None,
    exchange_info: str | None = None,
    on_plan: Callable[[int], None] | None = None,
    on_result: Callable[[TrialResult], None] | None = None,
) -> SweepResult:
    """Backtest RULEBOOK on `data` for each parameter set the search proposes; `params` are
    `--param` texts (`fast=8:30:2`). With `folds` or `train`/`test` (ms), walk forward."""
    began = time.perf_counter()
    book = compile_file(rulebook)  # a broken rulebook is a RulebookError before anything else
    refuse_unknown_symbols(rulebook, None, book, exchange_info)
    problems: list[str] = []
    if metric not in METRICS:
        problems.append(f"--metric {metric}: one of {', '.join(METRICS)}")
    if search not in SEARCHES:
        problems.append(f"--search {search}: one of {', '.join(SEARCHES)}")
    if engine not in ENGINES:
        problems.append(f"--engine {engine}: one of {', '.join(ENGINES)}")
    if trials is not None and trials < 1:
        problems.append("--trials must be at least 1")
    if trials is not None and trials > MAX_GRID:
        # Random search draws its points before the first trial runs: a billion of them is minutes
        # of work and gigabytes before anything is said, for a sweep that could never finish anyway.
        problems.append(f"--trials {trials:,}: at most {MAX_GRID:,}")
    if batch < 1:
        problems.append("--batch must be at least 1")
    if not 0 <= seed < 2**32:  # optuna's sampler (numpy) takes no other
        problems.append(f"--seed {seed}: from 0 to {2**32 - 1}")
    if workers is not None and workers < 1:
        problems.append("--workers must be at least 1")
    dims: tuple[Dimension, ...] = ()
    try:
        dims = coerce_values(parse_space(params, book.param_decls), book.param_decls)
    except SweepError as exc:
        problems.extend(exc.problems)
    defaults = defaults_of(book.param_decls)
    try:
        rules = Constraints(constraints, defaults)
    except SweepError as exc:
        problems.extend(exc.problems)
    if problems:
        raise SweepError(problems)

    start_ms, end_ms = _time(start, "--from"), _time(end, "--to")
    if start_ms is not None and end_ms is not None and end_ms <= start_ms:
        raise SweepError(["--to must be after --from"])  # as `rulebot backtest` says it
    # The data before --from is read as well: each trial warms its indicators on it (trial.py), as
    # much as its own parameters need, and its `backtest --from` replay command does the same.
    source = ReplaySource(list(data), None, end_ms, symbols=set(book.symbols))
    if not source.files:
        raise SweepError([nothing_in_range(book, data, start_ms, end_ms, found=False)[0]])  # as `backtest` says
    source = clip_to_prices(source, list(data), set(book.symbols))  # a funding month is not the period
    events = Events(list(source))
    traded = events.window(start_ms, end_ms)
    if not traded:
        raise SweepError([nothing_in_range(book, data, start_ms, end_ms, found=True)[0]])

    walk = folds is not None or train is not None or test is not None
    first = traded[0].time  # type: ignore[attr-defined]
    fold_list = windows(first, events.times[-1], folds, train, test) if walk else []
    trial_windows: list[Window] = [f.train for f in fold_list] if walk else [(start_ms, end_ms)]
    searches: list[Search] = [make_search(search, dims, rules, trials, seed, batch) for _ in trial_windows]

    if config is None:
        config = BacktestConfig(balance=Decimal(1) if book.market == "coinm" else Decimal(10_000))
    all_windows = [*trial_windows, *(f.test for f in fold_list)]
    instruments = {}
    for w in all_windows:
        inst = load_instruments(book, exchange_info, iter(events.window(*w)))
        instruments[w] = inst.instruments
    inst_all = load_instruments(book, exchange_info, iter(events.events))
    first = inst_all.instruments[book.symbols[0]]
    files = read_files(source)
    workload = Workload(
        book.source_text,
        book.source_file,
        tuple(book.symbols),
        files,
        config,
        instruments,
        inst_all.brackets,
        first.contract_size if first.is_inverse else None,
        Workload.digest(book.source_text, files),
    )

    result = SweepResult(rulebook, tuple(data), metric, search, seed, engine, 0, dims, defaults)
    by_number: dict[int, TrialResult] = {}

    def collect(r: TrialResult) -> None:
        by_number[r.number] = r
        if on_result is not None:
            on_result(r)

    notes: list[str] = []
    grid_search = searches[0] if isinstance(searches[0], GridSearch) else None
    if grid_search is not None and trials is not None and trials < grid_search.size:
        # The first points in order: a corner of the grid, ranked as if the grid had been searched.
        notes.append(
            f"--trials {trials:,} ran the first {trials:,} of the grid's {grid_search.size:,} points, in order: "
            "the others were never tried (--search random draws them from all of it)"
        )
    cpus = multiprocessing.cpu_count()
    if workers is not None and workers > cpus and address is None:  # a cluster we start here, any engine
        # Each worker is a process holding the data and the engine (~100 MB): --workers 1000 on a
        # small machine started hundreds of them, on CPUs they could only share, until memory ran out.
        notes.append(
            f"--workers {workers}: this machine has {cpus} CPU(s), so {cpus} worker processes run "
            "(more would only share them, each holding its own copy of the data)"
        )
        workers = cpus
    runner = make_engine(engine, workload, workers, address)
    result.workers = runner.workers
    try:
        _search_rounds(searches, trial_windows, fold_list, runner, collect, by_number, metric, result, on_plan)
        if fold_list:
            _test_folds(fold_list, runner, collect, by_number, metric, result)
    except KeyboardInterrupt:
        result.interrupted = True
    finally:
        runner.close()
        result.trials = [by_number[n] for n in sorted(by_number)]
        if fold_list:
            result.folds = _fold_results(fold_list, result.trials, metric)
        result.seconds = time.perf_counter() - began
        result.notes = [*notes, *rules.failure_notes()]
    return result


def _search_rounds(
    searches: list[Search],
    trial_windows: list[Window],
    fold_list: list[Fold],
    runner: Engine,
    collect: Callable[[TrialResult], None],
    by_number: dict[int, TrialResult],
    metric: str,
    result: SweepResult,
    on_plan: Callable[[int], None] | None,
) -> None:
    active = list(range(len(searches)))
    number = 0
    while active:
        specs: list[TrialSpec] = []
        owners: dict[int, list[int]] = {}
        for i in list(active):
            proposals = searches[i].propose()
            if not proposals:
                active.remove(i)
                continue
            start, end = trial_windows[i]
            phase: Phase = "train" if fold_list else "search"
            fold = i if fold_list else None
            for params in proposals:
                specs.append(TrialSpec(number, tuple(params.items()), start, end, phase, fold))
                owners.setdefault(i, []).append(number)
                number += 1
        if not specs:
            break
        result.planned += len(specs)
        if on_plan is not None:
            on_plan(result.planned + len(fold_list))
        runner.run(specs, collect)
        for i, numbers in owners.items():
            searches[i].tell([by_number[n].score(metric) if n in by_number else None for n in numbers])


def _best(trials: Sequence[TrialResult], metric: str) -> TrialResult | None:
    scored = [t for t in trials if t.score(metric) is not None]
    return min(scored, key=lambda t: t.rank_key(metric), default=None)


def _test_folds(
    fold_list: list[Fold],
    runner: Engine,
    collect: Callable[[TrialResult], None],
    by_number: dict[int, TrialResult],
    metric: str,
    result: SweepResult,
) -> None:
    number = max(by_number, default=-1) + 1
    specs = []
    for fold in fold_list:
        best = _best([t for t in by_number.values() if t.phase == "train" and t.fold == fold.index], metric)
        if best is not None:
            specs.append(TrialSpec(number, best.params, fold.test[0], fold.test[1], "test", fold.index))
            number += 1
    result.planned += len(specs)
    runner.run(specs, collect)


def _fold_results(fold_list: list[Fold], trials: list[TrialResult], metric: str) -> list[FoldResult]:
    out = []
    for fold in fold_list:
        best = _best([t for t in trials if t.phase == "train" and t.fold == fold.index], metric)
        test = next((t for t in trials if t.phase == "test" and t.fold == fold.index), None)
        ins = comparable_score(metric, best.score(metric), fold.train) if best else None
        oos = comparable_score(metric, test.score(metric), fold.test) if test else None
        out.append(FoldResult(fold, best, test, ins, oos))
    return out


def _time(value: str | int | None, option: str) -> int | None:
    if value is None:
        return None
    try:
        return to_ms(value)
    except (ValueError, TypeError):
        raise SweepError([f"{option} {value}: not a UTC date or ISO time (2025-06-07 or 2025-06-07T12:00)"]) from None


def iso(ms: int) -> str:
    """A time `--from`/`--to` read back to the same millisecond (naive ISO is UTC there)."""
    moment = datetime.fromtimestamp(ms / 1000, UTC).replace(tzinfo=None)
    return moment.isoformat(timespec="milliseconds" if ms % 1000 else "seconds")


def replay_args(sweep: SweepResult, trial: TrialResult) -> list[str]:
    """The `rulebot backtest` arguments that replay `trial` exactly (balance and fills aside)."""
    args = ["rulebot", "backtest", sweep.rulebook]
    for d in sweep.data:
        args += ["--data", d]
    if trial.start is not None:
        args += ["--from", iso(trial.start)]
    if trial.end is not None:
        args += ["--to", iso(trial.end)]
    for name, value in TrialSpec(trial.number, trial.params).overrides.items():
        args += ["--set", f"{name}={value}"]
    return args + list(sweep.replay_extra)
