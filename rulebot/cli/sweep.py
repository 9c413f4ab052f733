"""`rulebot sweep`: a thin wrapper over `rulebot.sweep.run_sweep`."""

from __future__ import annotations

import os
import shlex
import signal
import sys
import tempfile
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING

import click
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from rulebot.backtest.runner import BacktestConfig
from rulebot.cli.fill import SLIPPAGE_OPTION, fill_model_args, fill_model_options, make_fill_model
from rulebot.cli.params import BALANCE, RULEBOOK, refuse_overwriting
from rulebot.cli.stopping import GoneTerminalSafe, progress_shown, stopped_like_ctrl_c
from rulebot.cli.terminal import output_console
from rulebot.cli.validate import print_rulebook_errors
from rulebot.core.errors import UserError
from rulebot.exchange_sim import FillModel
from rulebot.rulebook.errors import RulebookError
from rulebot.rulebook.model import duration_seconds
from rulebot.sweep.engines import ENGINES
from rulebot.sweep.metrics import METRICS
from rulebot.sweep.search import OPTUNA_BATCH, SEARCHES
from rulebot.sweep.space import MAX_GRID

if TYPE_CHECKING:
    from rulebot.sweep.api import SweepResult


def _duration_ms(text: str | None, option: str) -> int | None:
    if text is None:
        return None
    try:
        return duration_seconds(text) * 1000
    except ValueError:
        raise click.BadParameter(f"{text!r} is not a duration like 12h, 3d or 2w", param_hint=option) from None


def _check_writable(path: Path, option: str) -> None:
    """A file `path` can be created: its folder exists and takes a new file (a read-only folder,
    /proc, a full disk's missing inode), tried with a scratch file that is removed at once."""
    folder = path.resolve().parent
    if not folder.is_dir():
        raise click.BadParameter(f"{path}: the folder {path.parent} does not exist", param_hint=option)
    if path.exists():  # a file to replace, or /dev/stdout: its own permission decides
        if not os.access(path, os.W_OK):
            raise click.BadParameter(f"{path}: not writable", param_hint=option)
        return
    try:
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as exc:
        raise click.BadParameter(
            f"{path}: cannot write in {folder}: {exc.strerror or exc}", param_hint=option
        ) from None


@click.command("sweep")
@click.argument("rulebook", type=RULEBOOK)
@click.option(
    "--data",
    "data",
    multiple=True,
    required=True,
    type=click.Path(exists=True),
    help="Binance archive files or folders (zip or csv); repeat for several.",
)
@click.option(
    "--param",
    "params",
    multiple=True,
    required=True,
    metavar="NAME=SPEC",
    help='A rulebook parameter to sweep: LO:HI[:STEP] (inclusive), A,B,C ("..." around a value with a comma, '
    '"" for the empty text), or one VALUE; repeat.',
)
@click.option("--search", type=click.Choice(SEARCHES), default="grid", show_default=True)
@click.option(
    "--trials",
    type=click.IntRange(min=1, max=MAX_GRID),
    help="Trials for random or optuna search [default: 50]; a grid runs every point unless capped here.",
)
@click.option(
    "--seed",
    type=click.IntRange(0, 2**32 - 1),  # what optuna's sampler (numpy) takes
    default=0,
    show_default=True,
    help="Seed of random and optuna search.",
)
@click.option(
    "--batch",
    type=click.IntRange(min=1),
    default=OPTUNA_BATCH,
    show_default=True,
    help="Trials optuna proposes at a time: at most this many run at once; the same seed and batch give "
    "the same trials on any engine (raise it on a big cluster).",
)
@click.option("--metric", type=click.Choice(METRICS), default="net_pnl", show_default=True, help="What to rank by.")
@click.option(
    "--constraint",
    "constraints",
    multiple=True,
    metavar="EXPR",
    help='Only parameter sets where EXPR holds, e.g. "fast < slow"; repeat.',
)
@click.option(
    "--workers", type=click.IntRange(min=1), help="Parallel workers [default: the CPUs here or on the cluster]."
)
@click.option(
    "--engine",
    type=click.Choice(ENGINES),
    default="local",
    show_default=True,
    help="local: a process pool; ray, dask: a cluster (pip install 'rulebot[ray]' or 'rulebot[dask]').",
)
@click.option("--address", help="The Ray or Dask scheduler to use (default: start one on this machine).")
@click.option("--from", "start", help="Start (UTC date or ISO time).")
@click.option("--to", "end", help="End (UTC date or ISO time, exclusive).")
@click.option(
    "--walk-forward",
    "folds",
    type=click.IntRange(min=1),
    help="Walk forward in N folds: tune on a window, score on the next, unseen one.",
)
@click.option("--train", help="Walk forward with training windows this long (e.g. 3d); needs --test.")
@click.option("--test", "test_", help="...and test windows this long (e.g. 1d).")
@click.option("--balance", type=BALANCE, help="Starting wallet.  [default: 10000 on USD-M, 1 coin on COIN-M]")
@SLIPPAGE_OPTION
@fill_model_options
@click.option(
    "--exchange-info",
    type=click.Path(exists=True, dir_okay=False),
    help="A saved exchangeInfo JSON to take filters from instead of the built-in catalog.",
)
@click.option("--out", type=click.Path(dir_okay=False), help="Write every trial to this .parquet or .csv file.")
@click.option("--report", type=click.Path(dir_okay=False), help="Write an HTML report here.")
@click.option("--heatmap", metavar="X,Y", help="The two parameters of the report's heatmap [default: the first two].")
@click.option("--top", type=click.IntRange(min=1), default=10, show_default=True, help="Rows of the table.")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
    help="json: every trial, the ranking, the folds, the warnings and the replay command on stdout.",
)
def sweep_cmd(
    rulebook: str,
    data: tuple[str, ...],
    params: tuple[str, ...],
    search: str,
    trials: int | None,
    seed: int,
    batch: int,
    metric: str,
    constraints: tuple[str, ...],
    workers: int | None,
    engine: str,
    address: str | None,
    start: str | None,
    end: str | None,
    folds: int | None,
    train: str | None,
    test_: str | None,
    balance: Decimal | None,
    slippage_bps: Decimal,
    fill_model_name: str,
    participation: Decimal | None,
    impact_bps: Decimal | None,
    half_spread_bps: Decimal | None,
    exchange_info: str | None,
    out: str | None,
    report: str | None,
    heatmap: str | None,
    top: int,
    fmt: str,
) -> None:
    """Backtest RULEBOOK once per parameter set and rank the sets; with --walk-forward or --train/--test,
    check that the chosen parameters keep their edge on data they were not tuned on."""
    from rulebot.sweep import SweepError, replay_args, run_sweep
    from rulebot.sweep.output import caveats, trial_warnings, write_rows
    from rulebot.sweep.output_json import sweep_json
    from rulebot.sweep.report import write_report

    # No emoji codes: a text param's `:rocket:` printed as 🚀 in the table and the replay command.
    console = Console(file=GoneTerminalSafe(sys.stderr), highlight=False, emoji=False)  # type: ignore[arg-type]
    train_ms, test_ms = _duration_ms(train, "--train"), _duration_ms(test_, "--test")
    heat = None
    if heatmap:
        names = [n.strip() for n in heatmap.split(",")]
        if len(names) not in (1, 2) or not all(names):
            raise click.BadParameter("X,Y: one or two parameter names", param_hint="--heatmap")
        heat = (names[0], names[1] if len(names) == 2 else None)
    known = {p.partition("=")[0].strip() for p in params}
    bad_heat = [n for n in heat or () if n is not None and n not in known]
    if bad_heat:
        raise click.BadParameter(
            f"{', '.join(bad_heat)} is not swept (--param {', '.join(sorted(known))})", param_hint="--heatmap"
        )
    if out is not None and Path(out).suffix.lower() not in (".parquet", ".csv"):
        raise click.BadParameter(f"{out}: write .parquet or .csv", param_hint="--out")
    # The report written over the trials a moment after them, or either over the rulebook or an archive.
    refuse_overwriting([("--out", out), ("--report", report)], [rulebook, *data, exchange_info])
    for option, path in (("--out", out), ("--report", report)):
        # Found now, not after an hour of trials.
        if path is not None:
            _check_writable(Path(path), option)
    fill_model = make_fill_model(fill_model_name, slippage_bps, participation, impact_bps, half_spread_bps)
    config = None
    if balance is not None or fill_model != FillModel():
        from rulebot.cli.backtest import _default_balance
        from rulebot.rulebook.compiler import compile_file

        config = BacktestConfig(
            balance=balance if balance is not None else _default_balance(compile_file(rulebook)),
            fill_model=fill_model,
        )
    progress = Progress(
        TextColumn("trials"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("eta"),
        TimeRemainingColumn(),
        console=console,
        transient=True,
        disable=not console.is_terminal,
    )
    task = progress.add_task("trials", total=None)
    received = [signal.SIGINT]  # what a KeyboardInterrupt means unless a stop signal says otherwise
    try:
        with stopped_like_ctrl_c(received), progress_shown(progress):
            result = run_sweep(
                rulebook,
                data,
                params,
                search=search,
                trials=trials,
                seed=seed,
                batch=batch,
                metric=metric,
                constraints=constraints,
                workers=workers,
                engine=engine,
                address=address,
                start=start,
                end=end,
                folds=folds,
                train=train_ms,
                test=test_ms,
                config=config,
                exchange_info=exchange_info,
                on_plan=lambda total: progress.update(task, total=total),
                on_result=lambda _r: progress.advance(task),
            )
    except KeyboardInterrupt:
        # Ctrl-C while the rulebook compiles or the archives are read (before the engine runs, which
        # keeps finished trials itself): still the documented 130, not click's "Aborted!" and 1.
        console.print("interrupted before any trial ran: nothing was run", style="yellow", markup=False)
        sys.exit(128 + received[-1])
    except RulebookError as exc:
        print_rulebook_errors(rulebook, exc)
        sys.exit(1)
    except SweepError as exc:
        for problem in exc.problems:
            console.print(f"error: {problem}", style="red", markup=False, soft_wrap=True)
        console.print("nothing was run", markup=False)
        sys.exit(1)
    except (UserError, ValueError, OSError) as exc:  # unreadable archive, bad --from/--to
        console.print(f"error: {exc}", style="red", markup=False, soft_wrap=True)
        console.print("nothing was run", markup=False)
        sys.exit(1)

    text = fmt == "text"  # json: the document alone on stdout; messages stay on stderr
    shown_phase = "train" if result.folds else None
    bad = [f.fold.index for f in result.folds if f.diverges]
    warnings = [
        f"in-sample and out-of-sample diverge in fold(s) {', '.join(map(str, bad))}: "
        "the tuned parameters did not keep their edge on unseen data"
    ] * bool(bad)
    top_trial = next((t for t in result.ranked(shown_phase) if t.ok), None)
    where = "each trial's in the JSON" if not text else "the warnings column of --out" if out else "--out writes them"
    flags = [*caveats(result, top_trial), *trial_warnings(result, top_trial, where)] if top_trial else []
    warnings += [*result.notes, *flags]
    ranked = [t for t in result.ranked("test" if result.folds else None) if t.ok]
    result.replay_extra = (
        *(["--balance", str(balance)] if balance is not None else []),
        *(["--slippage-bps", str(slippage_bps)] if slippage_bps else []),
        *fill_model_args(fill_model),  # always: the default model may not be the one that ran
        *(["--exchange-info", exchange_info] if exchange_info else []),
    )
    replay = replay_args(result, ranked[0]) if ranked else None
    # The files first: after SIGHUP (the terminal closed under a long sweep) printing fails, and the
    # trials must be on disk by then.
    written: list[str] = []
    writing, problem = None, None
    try:
        if out is not None:
            writing = out
            write_rows(result, Path(out))
            written.append(f"trials written to {out}")
        if report is not None:
            writing = report
            write_report(result, Path(report), heat, [*result.notes, *flags])
            written.append(f"report written to {report}")
    except SweepError as exc:
        problem = "\n".join(f"error: {p}" for p in exc.problems)
    except OSError as exc:
        # exc.filename is None for a write that failed after the open (a full disk): name our file.
        problem = f"error: could not write {exc.filename or writing}: {exc.strerror or exc}"
    try:
        _print_results(console, result, top, shown_phase, text, warnings, engine, replay)
        for line in written:
            console.print(line, markup=False, soft_wrap=True)
    except OSError:
        if result.interrupted and received[-1] != signal.SIGINT:
            sys.exit(128 + received[-1])  # the terminal went with the SIGHUP; the files are written
        raise
    if not text:  # the trials ran: their document comes even when a file could not be written
        click.echo(sweep_json(result, warnings, replay))
    if problem is not None:
        console.print(problem, style="red", markup=False, soft_wrap=True)
        sys.exit(1)
    if result.interrupted:
        sys.exit(128 + received[-1])
    if result.trials and not any(t.ok for t in result.trials):
        # Nothing to rank: a script or a CI job must not take an empty table for a result.
        console.print("error: every trial failed (see above); nothing to rank", style="red", markup=False)
        sys.exit(1)


def _print_results(
    console: Console,
    result: SweepResult,
    top: int,
    shown_phase: str | None,
    text: bool,
    warnings: list[str],
    engine: str,
    replay: list[str] | None,
) -> None:
    """The ranked table (text only), the warnings, the failures, the count and the replay line."""
    from rulebot.sweep.output import failures, folds_table, trials_table

    if result.interrupted:
        console.print(f"interrupted: keeping the {len(result.trials)} finished trial(s)", style="yellow", markup=False)
    if text:
        out_console = output_console()
        out_console.print(trials_table(result, top, phase=shown_phase))
        # The same parameters' `rulebot backtest` shows a Sharpe of daily returns: on a short run the two
        # differ by orders of magnitude, and a user comparing them would think one of them wrong.
        out_console.print(
            "sharpe, sortino, calmar: from hourly equity returns, annualised (rulebot backtest's summary uses daily)",
            style="dim",
            markup=False,
            soft_wrap=True,
        )
        if result.folds:
            out_console.print(folds_table(result))
    for note in warnings:
        console.print(f"warning: {note}", style="yellow", markup=False, soft_wrap=True)
    for line in failures(result.trials):
        console.print(f"failed: {line}", style="yellow", markup=False, soft_wrap=True)
    console.print(
        f"{len(result.trials)} trials ({len(result.failed)} failed) on {result.workers} {engine} worker(s) "
        f"in {result.seconds:.1f} s",
        markup=False,
    )
    if replay is not None:
        console.print("replay the best: " + shlex.join(replay), markup=False, soft_wrap=True)
