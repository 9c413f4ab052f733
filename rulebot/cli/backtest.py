"""`rulebot backtest` (Binance archive files) and `rulebot demo` (the built-in simulated market)."""

from __future__ import annotations

import sys
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import NoReturn

import click
from rich.console import Console

from rulebot.backtest.api import backtest, demo, demo_market, load_instruments, refuse_unknown_symbols
from rulebot.backtest.config import BacktestConfig, RuleFailed
from rulebot.backtest.result import BacktestResult
from rulebot.backtest.thinned import BUCKETS
from rulebot.cli.fill import SLIPPAGE_OPTION, fill_model_options, make_fill_model
from rulebot.cli.params import (
    BALANCE,
    EXIT_RULE_FAILED,
    FEES,
    HOURS,
    RULEBOOK,
    STRICT,
    TIME,
    refuse_overwriting,
)
from rulebot.cli.terminal import ReplayProgress, output_console
from rulebot.cli.validate import parse_sets
from rulebot.core.fees import FeeRates
from rulebot.exchange_sim import AdlModel
from rulebot.rulebook.compiled import CompiledRulebook
from rulebot.rulebook.compiler import compile_file

# Package data (pyproject.toml): present in a wheel install, not only in a checkout.
DEMO_RULEBOOK = Path(__file__).resolve().parents[1] / "rules" / "ema-trend-btc.yaml"


def _shown(path: str) -> str:
    """A path as short as it can be said: relative to here when it is below here."""
    try:
        return str(Path(path).resolve().relative_to(Path.cwd()))
    except ValueError:
        return path


def _when(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d %H:%M")


def _contract_sizes(book: CompiledRulebook, exchange_info: str | None, brackets: str | None) -> dict[str, Decimal]:
    """The contract size of each inverse (COIN-M) symbol, whose open PnL is counted in coin."""
    instruments = load_instruments(book, exchange_info, brackets_file=brackets).instruments
    return {s: i.contract_size for s in book.symbols if (i := instruments.get(s)) is not None and i.is_inverse}


def _default_balance(book: CompiledRulebook) -> Decimal:
    """10,000 of a dollar-like margin asset, or 1 coin on COIN-M, where the margin is the coin."""
    return Decimal(1) if book.market == "coinm" else Decimal(10_000)


def _rule_failed(exc: RuleFailed, console: Console) -> NoReturn:
    console.print(
        f"error: rule {exc.rule!r} failed on {exc.symbol} at {_when(exc.time)} UTC: {exc.error}",
        style="red",
        markup=False,
        soft_wrap=True,
    )
    console.print(
        "--strict stops at the first rule error; fix the condition (guard a division, or test a value "
        "before comparing it) or run without --strict to count the failures as false",
        markup=False,
        soft_wrap=True,
    )
    sys.exit(EXIT_RULE_FAILED)


def _finish(
    result: BacktestResult,
    inverse_sizes: dict[str, Decimal],
    fmt: str,
    report: str | None,
    console: Console,
) -> None:
    from rulebot.backtest.stats import summary_stats
    from rulebot.backtest.summary import month_table, summary_dict, summary_table, symbol_table

    stats, per = summary_stats(result, inverse_sizes)
    # The report is written before the summary is printed (so that the JSON can name it) but a
    # failure to write it is said only after the summary: the run's numbers are never lost.
    failure: str | None = None
    if report:
        from rulebot.backtest.report_html import write_html_report  # only when asked: its import costs a start

        try:
            write_html_report(result, stats, Path(report), per)
        except OSError as exc:
            failure = f"could not write the report to {report}: {exc.strerror or exc}"
    if fmt == "json":
        from rulebot.backtest.summary_json import write_json

        # The same text as json.dumps, written as it is made: a year's trade list is never held whole.
        doc = summary_dict(stats, result, per, stream=True)
        if report and failure is None:
            doc["report"] = report
        write_json(doc, lambda text: click.echo(text, nl=False))
    else:
        for note in result.notes:
            console.print(f"note: {note}", style="yellow", markup=False)
        console.print(summary_table(stats, result))
        if len(per) > 1:
            console.print(symbol_table(per, stats, result.margin_asset))
        if stats.metrics is not None and len(stats.metrics.months) > 1:
            console.print(month_table(stats, result.margin_asset))
        if report and failure is None:
            console.print(f"report written to {report}", markup=False, soft_wrap=True)
    if result.rule_errors:
        failed = sum(e.count for e in result.rule_errors.values())
        console.print(
            f"warning: {len(result.rule_errors)} rule(s) failed {failed:,} time(s) at run time and counted as false "
            "(see `rule errors`); `rulebot audit -j JOURNAL decisions --errors` lists them; --strict stops at "
            "the first",
            style="yellow",
            markup=False,
            soft_wrap=True,
        )
    if failure is not None:
        console.print(
            f"error: {failure}; the backtest itself finished (summary above): pick a writable path with --report",
            style="red",
            markup=False,
            soft_wrap=True,
        )
        sys.exit(1)


# One option for backtest and demo: the summary's fee row tells a demo's user to set them too.
FEES_OPTION = click.option(
    "--fees",
    type=FEES,
    default="0.0002,0.0005",
    show_default=True,
    help="Commission rates maker,taker as fractions of notional (Binance VIP 0 by default; your account's "
    "are in GET /fapi/v1/commissionRate).",
)


def _adl_option(default_text: str) -> Callable[[Callable[..., None]], Callable[..., None]]:
    return click.option(
        "--adl/--no-adl",
        default=None,
        help="Model auto-deleveraging: a profitable position closed at the bankruptcy price of the other side "
        f"when a crash outruns the market's liquidity (docs: backtest-liquidation).  [default: {default_text}]",
    )


PATH_OPTION = click.option(
    "--path",
    "path",
    type=click.Choice(["auto", "fast", "event"]),
    default="auto",
    show_default=True,
    help="fast: candles inside which nothing can act are not walked price by price, nor trades, index "
    "prices, book tops and mark prices at which nothing can act checked one by one (same results); event: walk "
    "every one; auto: fast whenever the rulebook allows it. The summary says which ran and why.",
)


@click.command("backtest")
@click.argument("rulebook", type=RULEBOOK)
@click.option(
    "--data",
    "data",
    multiple=True,
    required=True,
    type=click.Path(exists=True),
    help="Binance archive files or folders (zip or csv); repeat for several.",
)
@click.option("--from", "start", type=TIME, help="Start (UTC date or ISO time).")
@click.option("--to", "end", type=TIME, help="End (UTC date or ISO time, exclusive).")
@click.option("--set", "sets", multiple=True, metavar="NAME=VALUE", help="Override a rulebook parameter.")
@click.option(
    "--balance",
    type=BALANCE,
    help="Starting wallet in the margin asset.  [default: 10000 on USD-M, 1 coin on COIN-M]",
)
@SLIPPAGE_OPTION
@fill_model_options
@FEES_OPTION
@click.option(
    "--exchange-info",
    type=click.Path(exists=True, dir_okay=False),
    help="A saved exchangeInfo JSON to take filters from instead of the built-in catalog.",
)
@click.option(
    "--brackets",
    "brackets_file",
    type=click.Path(exists=True, dir_okay=False),
    help="A saved leverageBracket JSON (GET /fapi/v1/leverageBracket or /dapi/v2/leverageBracket) to take "
    "maintenance brackets from instead of the built-in 2024-10-24 snapshot.",
)
@click.option("--report", type=click.Path(dir_okay=False), help="Write an HTML report here.")
@click.option("--journal", type=click.Path(dir_okay=False), help="Journal every decision to this SQLite file.")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@PATH_OPTION
@_adl_option("off")
@STRICT
def backtest_cmd(
    rulebook: str,
    data: tuple[str, ...],
    start: int | None,
    end: int | None,
    sets: tuple[str, ...],
    balance: Decimal | None,
    slippage_bps: Decimal,
    fill_model_name: str,
    participation: Decimal | None,
    impact_bps: Decimal | None,
    half_spread_bps: Decimal | None,
    fees: FeeRates,
    exchange_info: str | None,
    brackets_file: str | None,
    report: str | None,
    journal: str | None,
    fmt: str,
    path: str,
    adl: bool | None,
    strict: bool,
) -> None:
    """Backtest RULEBOOK on Binance's historical files (exchange simulator, fees and funding)."""
    refuse_overwriting([("--journal", journal), ("--report", report)], [rulebook, *data, exchange_info, brackets_file])
    console = output_console(stderr=fmt == "json")
    overrides = parse_sets(sets)
    if start is not None and end is not None and end <= start:
        raise click.BadParameter("--to must be after --from", param_hint="--to")
    fill_model = make_fill_model(fill_model_name, slippage_bps, participation, impact_bps, half_spread_bps)
    progress = ReplayProgress("replaying")
    # Errors (a bad rulebook, a damaged archive file...) are reported by the CLI's edge (cli/edge.py).
    try:
        if balance is None:
            balance = _default_balance(compile_file(rulebook, overrides))
        config = BacktestConfig(
            balance=balance,
            fill_model=fill_model,
            strict=strict,
            fee_rates=fees,
            adl=AdlModel(enabled=bool(adl)),
            path=path,
            chart_buckets=BUCKETS if report else 0,  # no report, no chart: the samples only feed the summary
        )
        with progress:
            result, book, _ = backtest(
                rulebook,
                data,
                start=start,
                end=end,
                overrides=overrides,
                config=config,
                exchange_info=exchange_info,
                brackets_file=brackets_file,
                journal_path=Path(journal) if journal else None,
                on_progress=progress.update,
                on_span=progress.span,
            )
    except RuleFailed as exc:
        _rule_failed(exc, console)
    _finish(result, _contract_sizes(book, exchange_info, brackets_file), fmt, report, console)


@click.command("demo")
@click.option("--rulebook", type=RULEBOOK, default=str(DEMO_RULEBOOK), show_default=True)
@click.option(
    "--preset",
    type=click.Choice(["calm", "trending", "volatile", "crash"]),
    default="calm",
    show_default=True,
    help="The simulated market's character.",
)
@click.option("--seed", type=int, default=7, show_default=True)
@click.option("--hours", type=HOURS, default=72, show_default=True)
@click.option("--report", type=click.Path(dir_okay=False), default="demo-report.html", show_default=True)
@click.option("--journal", type=click.Path(dir_okay=False), help="Journal every decision to this SQLite file.")
@click.option(
    "--brackets",
    "brackets_file",
    type=click.Path(exists=True, dir_okay=False),
    help="A saved leverageBracket JSON (GET /fapi/v1/leverageBracket or /dapi/v2/leverageBracket) to take "
    "maintenance brackets from instead of the built-in 2024-10-24 snapshot.",
)
@SLIPPAGE_OPTION
@fill_model_options
@FEES_OPTION
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@PATH_OPTION
@_adl_option("on with --preset crash, else off")
@STRICT
def demo_cmd(
    rulebook: str,
    preset: str,
    seed: int,
    hours: int,
    report: str,
    journal: str | None,
    brackets_file: str | None,
    slippage_bps: Decimal,
    fill_model_name: str,
    participation: Decimal | None,
    impact_bps: Decimal | None,
    half_spread_bps: Decimal | None,
    fees: FeeRates,
    fmt: str,
    path: str,
    adl: bool | None,
    strict: bool,
) -> None:
    """Run a rulebook on the built-in simulated market: no data, no keys, no network."""
    refuse_overwriting([("--journal", journal), ("--report", report)], [rulebook, brackets_file])
    fill_model = make_fill_model(fill_model_name, slippage_bps, participation, impact_bps, half_spread_bps)
    console = output_console(stderr=fmt == "json")
    # Compiled and checked against the simulated market before the banner: a rulebook that cannot
    # run prints its errors alone (cli/edge.py), never under a banner that says it is running.
    book = compile_file(rulebook)
    refuse_unknown_symbols(rulebook, None, book, None, brackets_file)  # a typo, said as validate says it
    demo_market(book, brackets_file)
    if fmt == "text":
        console.print(
            f"simulated {preset} market, seed {seed}, {hours}h · rulebook {_shown(rulebook)}",
            markup=False,
            soft_wrap=True,
        )
    progress = ReplayProgress("simulating")
    try:
        config = BacktestConfig(
            balance=_default_balance(book), fill_model=fill_model, strict=strict, fee_rates=fees, path=path
        )
        with progress:
            result, book = demo(
                rulebook,
                config=config,
                seed=seed,
                preset=preset,
                hours=hours,
                on_progress=progress.update,
                on_span=progress.span,
                journal_path=Path(journal) if journal else None,
                brackets_file=brackets_file,
                adl=adl,
            )
    except RuleFailed as exc:
        _rule_failed(exc, console)
    _finish(result, _contract_sizes(book, None, brackets_file), fmt, report, console)
