"""`rulebot backtest` (Binance archive files) and `rulebot demo` (the built-in simulated market)."""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import click
from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from rulebot.backtest.api import BacktestError, backtest, demo
from rulebot.backtest.result import BacktestResult
from rulebot.backtest.runner import BacktestConfig
from rulebot.cli.validate import parse_sets, print_rulebook_errors
from rulebot.exchange_sim import FillModel
from rulebot.rulebook.errors import RulebookError

DEMO_RULEBOOK = Path(__file__).resolve().parents[2] / "rules" / "ema-trend-btc.yaml"


def _progress(console: Console) -> tuple[Progress, object]:
    progress = Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        TimeElapsedColumn(),
        console=console,
        transient=True,
        disable=not console.is_terminal,
    )
    task = progress.add_task("replaying", total=None)
    return progress, task


def _when(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d %H:%M")


def _finish(result: BacktestResult, fmt: str, report: str | None, notes: tuple[str, ...], console: Console) -> None:
    from rulebot.backtest.report_html import write_html_report
    from rulebot.backtest.stats import compute_stats
    from rulebot.backtest.summary import summary_dict, summary_table

    stats = compute_stats(result)
    if report:
        write_html_report(result, stats, Path(report))
    if fmt == "json":
        doc = summary_dict(stats, result)
        if report:
            doc["report"] = report
        click.echo(json.dumps(doc, indent=2, default=str))
        return
    for note in notes:
        console.print(f"note: {note}", style="yellow", markup=False)
    console.print(summary_table(stats, result))
    if report:
        console.print(f"report: {report}", markup=False)


@click.command("backtest")
@click.argument("rulebook", type=click.Path(exists=True, dir_okay=False))
@click.option(
    "--data",
    "data",
    multiple=True,
    required=True,
    type=click.Path(exists=True),
    help="Binance archive files or folders (zip or csv); repeat for several.",
)
@click.option("--from", "start", help="Start (UTC date or ISO time).")
@click.option("--to", "end", help="End (UTC date or ISO time, exclusive).")
@click.option("--set", "sets", multiple=True, metavar="NAME=VALUE", help="Override a rulebook parameter.")
@click.option(
    "--balance", type=Decimal, default=Decimal(10_000), show_default=True, help="Starting wallet in the margin asset."
)
@click.option(
    "--slippage-bps",
    type=Decimal,
    default=Decimal(0),
    show_default=True,
    help="Taker fills this much worse than the quote or trade (basis points).",
)
@click.option(
    "--exchange-info",
    type=click.Path(exists=True, dir_okay=False),
    help="A saved exchangeInfo JSON to take filters from instead of the built-in catalog.",
)
@click.option("--report", type=click.Path(dir_okay=False), help="Write an HTML report here.")
@click.option("--journal", type=click.Path(dir_okay=False), help="Journal every decision to this SQLite file.")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
def backtest_cmd(
    rulebook: str,
    data: tuple[str, ...],
    start: str | None,
    end: str | None,
    sets: tuple[str, ...],
    balance: Decimal,
    slippage_bps: Decimal,
    exchange_info: str | None,
    report: str | None,
    journal: str | None,
    fmt: str,
) -> None:
    """Backtest RULEBOOK on Binance's historical files (exchange simulator, fees and funding)."""
    console = Console(stderr=fmt == "json", highlight=False)
    config = BacktestConfig(balance=balance, fill_model=FillModel(slippage_bps=slippage_bps))
    progress, task = _progress(console)
    try:
        with progress:
            result, _, notes = backtest(
                rulebook,
                data,
                start=start,
                end=end,
                overrides=parse_sets(sets),
                config=config,
                exchange_info=exchange_info,
                journal_path=Path(journal) if journal else None,
                on_progress=lambda n, t: progress.update(task, description=f"{n:,} events · {_when(t)}"),  # type: ignore[arg-type]
            )
    except RulebookError as exc:
        print_rulebook_errors(rulebook, exc)
        sys.exit(1)
    except (BacktestError, ValueError) as exc:
        console.print(f"error: {exc}", style="red", markup=False)
        sys.exit(1)
    _finish(result, fmt, report, notes, console)


@click.command("demo")
@click.option("--rulebook", type=click.Path(exists=True, dir_okay=False), default=str(DEMO_RULEBOOK), show_default=True)
@click.option(
    "--preset",
    type=click.Choice(["calm", "trending", "volatile", "crash"]),
    default="calm",
    show_default=True,
    help="The simulated market's character.",
)
@click.option("--seed", type=int, default=7, show_default=True)
@click.option("--hours", type=int, default=72, show_default=True)
@click.option("--report", type=click.Path(dir_okay=False), default="demo-report.html", show_default=True)
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
def demo_cmd(rulebook: str, preset: str, seed: int, hours: int, report: str, fmt: str) -> None:
    """Run a rulebook on the built-in simulated market: no data, no keys, no network."""
    console = Console(stderr=fmt == "json", highlight=False)
    if fmt == "text":
        console.print(f"simulated {preset} market, seed {seed}, {hours}h · rulebook {rulebook}", markup=False)
    progress, task = _progress(console)
    try:
        with progress:
            result, _ = demo(
                rulebook,
                seed=seed,
                preset=preset,
                hours=hours,
                on_progress=lambda n, t: progress.update(task, description=f"{n:,} events · {_when(t)}"),
            )  # type: ignore[arg-type]
    except RulebookError as exc:
        print_rulebook_errors(rulebook, exc)
        sys.exit(1)
    except BacktestError as exc:
        console.print(f"error: {exc}", style="red", markup=False)
        sys.exit(1)
    _finish(result, fmt, report, (), console)
