"""`rulebot dry-run` and `run --live` (`status`, `kill` and `reload` are in bot_control.py)."""

from __future__ import annotations

import asyncio
import os
import sqlite3
import sys
from collections.abc import Awaitable, Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import click

from rulebot.backtest.api import refuse_unknown_symbols
from rulebot.binance.codes import BinanceError
from rulebot.cli.bot_control import print_status
from rulebot.cli.fill import SLIPPAGE_OPTION, fill_model_options, make_fill_model
from rulebot.cli.params import BALANCE, COUNT, EXIT_RULE_FAILED, FEES, HOURS, RULEBOOK, RUN_DIR, SPEED, STRICT
from rulebot.cli.terminal import output_console
from rulebot.cli.validate import print_rulebook_errors
from rulebot.core.fees import FeeRates
from rulebot.journal.writer import JournalIntegrityError, JournalWriteError
from rulebot.notify.follow import run_with_notifications, settings_for
from rulebot.notify.settings import NotifySettings, NotifySettingsError
from rulebot.rulebook.compiler import compile_file
from rulebot.rulebook.errors import RulebookError
from rulebot.runtime.assemble import Connection, default_run_dir, dry_run, live
from rulebot.runtime.keys import CredentialsError
from rulebot.runtime.killswitch import Policy
from rulebot.runtime.paper_account import PaperAccountError
from rulebot.runtime.reload import untrusted
from rulebot.runtime.run_config import ForeignPolicy, RunConfig
from rulebot.runtime.runner import Runner
from rulebot.venues.binance.limiter import RateBudgetExceeded
from rulebot.venues.binance.transport import TransportError

_out = output_console()
NO_WATCH_HELP = "Do not reload when the file changes (SIGHUP and `rulebot reload` still do)."

CONNECTION = [
    click.option("--testnet", is_flag=True, help="Binance's futures testnet."),
    click.option(
        "--base-url", "--rest-url", "rest_url", help="Another REST base (a proxy, or `rulebot fake-exchange`)."
    ),
    click.option("--ws-url", help="Another WebSocket base."),
]


def _connection_options(f: Any) -> Any:
    for opt in reversed(CONNECTION):
        f = opt(f)
    return f


_DRY_RUN_SYMBOLS = "for a symbol Binance lists, dry-run it with --market binance"


def _compile(rulebook: str, symbols_advice: str | None = None) -> Any:
    """The compiled rulebook, or its errors printed and exit 1. `symbols_advice`: a symbol no
    built-in list knows is an error too (the built-in markets trade no other), with this advice."""
    try:
        book = compile_file(rulebook)
        if symbols_advice is not None:
            refuse_unknown_symbols(rulebook, None, book, advice=symbols_advice)
        return book
    except RulebookError as exc:
        print_rulebook_errors(rulebook, exc)
        sys.exit(1)


# What can stop a bot from starting (or end it) that a person can act on: no traceback for these.
_FAILURES = (
    CredentialsError,
    ValueError,
    OSError,
    BinanceError,
    TransportError,
    RateBudgetExceeded,
    JournalIntegrityError,
    PaperAccountError,
    sqlite3.DatabaseError,
)


JOURNAL_FAILED = 5  # the journal could not be written (a full disk): documented in the README


def _policy(choice: str | None) -> Policy | None:
    return "flatten" if choice == "flatten" else "keep" if choice == "keep" else None


def _notify(path: str | None, key_file: str | None = None) -> NotifySettings | None:
    try:
        return settings_for(path, key_file)
    except NotifySettingsError as exc:
        click.echo(f"error: {exc}; nothing was started", err=True)
        sys.exit(1)


RESUME = click.option(
    "--resume",
    is_flag=True,
    help="Lift a halt that holds across restarts (the rulebook's `halt` action, or `on_breach: halt`): "
    "without it the bot starts halted, refusing entries.",
)
NOTIFY = click.option(
    "--notify",
    type=click.Path(dir_okay=False),
    help="Notification settings (mode 600; default for `run`: notify.yaml beside --key-file).",
)


def _run(runner_factory: Callable[[], Awaitable[Runner]], notify: NotifySettings | None = None) -> None:
    runners: list[Runner] = []

    async def main() -> dict[str, Any]:
        runner = await runner_factory()
        runners.append(runner)
        # Said once the journal was opened and the start not refused (a journal, a paper account, foreign orders).
        fills = "" if runner.cfg.mode == "live" else f" · fills {runner.fill_model.name}"
        runner.on_started = lambda: _out.print(
            f"running {runner.book.name} ({runner.cfg.mode}){fills} · journal {runner.cfg.journal_path()} · "
            f"control {runner.cfg.run_dir}/control.sock · Ctrl-C stops",
            markup=False,
        )
        return await run_with_notifications(runner, notify)

    try:
        status = asyncio.run(main())
    except JournalWriteError as exc:
        runner = runners[0] if runners else None
        if runner is not None and runner.engine is not None and runner.engine.started:
            cancelled = len(runner.cancelled_unjournaled)
            what = (
                "the bot stopped: nothing can be journaled, so nothing more was sent "
                f"(it cancelled {cancelled} working entr{'y' if cancelled == 1 else 'ies'}; positions keep their "
                f"stops on the exchange: check them there). {exc.remedy}, then start it again"
            )
        else:
            what = f"the bot did not start; nothing was traded. {exc.remedy}, then start it again"
        click.echo(f"error: {exc}\n{what}", err=True)
        sys.exit(JOURNAL_FAILED)
    except _FAILURES as exc:
        engine = runners[0].engine if runners else None
        if engine is not None and engine.started:
            what = "the bot stopped; its orders and positions were left as they were: check them on the exchange"
        else:
            what = "the bot did not start; nothing was traded"
        click.echo(f"error: {exc}\n{what}", err=True)
        sys.exit(1)
    print_status(status)
    if status.get("rule_failed"):
        click.echo(f"error: {status.get('stop_reason')}", err=True)
        sys.exit(EXIT_RULE_FAILED)
    if status.get("failed"):
        click.echo(f"error: {status.get('stop_reason')}", err=True)
        sys.exit(3)


@click.command("dry-run")
@click.argument("rulebook", type=RULEBOOK)
@click.option(
    "--market",
    "market_spec",
    default="simulated",
    show_default=True,
    help="binance (public streams), simulated, or replay:PATH[,PATH...] (Binance archive files).",
)
@click.option(
    "--preset", type=click.Choice(["calm", "trending", "volatile", "crash"]), default="calm", show_default=True
)
@click.option("--seed", type=int, default=7, show_default=True)
@click.option("--hours", type=HOURS, default=24, show_default=True, help="Length of the simulated market.")
@click.option(
    "--speed",
    type=SPEED,
    default=0.0,
    show_default=True,
    help="Simulated/replayed data at this many times real time (0: as fast as possible).",
)
@click.option(
    "--balance", type=BALANCE, help="Paper wallet in the margin asset.  [default: 10000 on USD-M, 1 coin on COIN-M]"
)
@click.option(
    "--fees",
    type=FEES,
    help="Commission rates maker,taker as fractions of notional. Default: with --market binance and an API "
    "key (--key-file or BINANCE_API_KEY/BINANCE_API_SECRET), the account's GET commissionRate; else Binance "
    "VIP 0 (0.0002,0.0005).",
)
@click.option(
    "--key-file",
    type=click.Path(dir_okay=False),
    help="With --market binance: a key to read the account's commission rates with (nothing is traded).",
)
@SLIPPAGE_OPTION
@fill_model_options
@click.option("--max-events", type=COUNT, help="Stop after this many market events.")
@click.option("--on-exit", type=click.Choice(["flatten", "keep"]), help="Kill-switch policy (default: the rulebook's).")
@click.option("--no-watch", is_flag=True, help=NO_WATCH_HELP)
@NOTIFY
@STRICT
@RESUME
@RUN_DIR
@_connection_options
def dry_run_cmd(
    rulebook: str,
    market_spec: str,
    preset: str,
    seed: int,
    hours: int,
    speed: float,
    balance: Decimal | None,
    fees: FeeRates | None,
    key_file: str | None,
    slippage_bps: Decimal,
    fill_model_name: str,
    participation: Decimal | None,
    impact_bps: Decimal | None,
    half_spread_bps: Decimal | None,
    max_events: int | None,
    on_exit: str | None,
    no_watch: bool,
    notify: str | None,
    strict: bool,
    resume: bool,
    run_dir: Path | None,
    testnet: bool,
    rest_url: str | None,
    ws_url: str | None,
) -> None:
    """Paper-trade RULEBOOK: real or simulated prices, simulated fills, no keys needed."""
    # Filled as a backtest of the same rulebook fills (realistic by default): never better than it.
    fill_model = make_fill_model(fill_model_name, slippage_bps, participation, impact_bps, half_spread_bps)
    # A typo in a symbol, said at its place as validate and backtest say it (Binance's own list decides there).
    book = _compile(rulebook, None if market_spec == "binance" else _DRY_RUN_SYMBOLS)
    cfg = RunConfig(
        Path(rulebook),
        "dry-run",
        run_dir or default_run_dir(Path(rulebook), "dry-run"),
        balance=balance,
        on_exit=_policy(on_exit),
        watch=not no_watch,
        max_events=max_events,
        strict=strict,
        resume=resume,
    )
    conn = Connection("testnet" if testnet else "mainnet", rest_url, ws_url)
    _run(
        lambda: dry_run(
            book,
            cfg,
            market_spec,
            preset=preset,
            seed=seed,
            hours=hours,
            speed=speed,
            connection=conn,
            fee_rates=fees,
            key_file=key_file,
            fill_model=fill_model,
        ),
        _notify(notify),
    )


@click.command("run")
@click.argument("rulebook", type=RULEBOOK)
@click.option("--live", "is_live", is_flag=True, help="Trade with real orders (required: there is no default).")
@click.option("--key-file", type=click.Path(dir_okay=False), help="BINANCE_API_KEY=…/BINANCE_API_SECRET=… (mode 600).")
@click.option("--on-exit", type=click.Choice(["flatten", "keep"]), help="Kill-switch policy (default: the rulebook's).")
@click.option(
    "--foreign-orders",
    type=click.Choice(["refuse", "cancel", "keep"]),
    default="refuse",
    show_default=True,
    help="Open orders on the rulebook's symbols that this bot's journal does not know: refuse to start "
    "beside them, cancel them, or keep them and trade beside them.",
)
@click.option("--max-events", type=COUNT, hidden=True)
@click.option("--no-watch", is_flag=True, help=NO_WATCH_HELP)
@NOTIFY
@STRICT
@RESUME
@RUN_DIR
@_connection_options
def run_cmd(
    rulebook: str,
    is_live: bool,
    key_file: str | None,
    on_exit: str | None,
    foreign_orders: ForeignPolicy,
    max_events: int | None,
    no_watch: bool,
    notify: str | None,
    strict: bool,
    resume: bool,
    run_dir: Path | None,
    testnet: bool,
    rest_url: str | None,
    ws_url: str | None,
) -> None:
    """Trade RULEBOOK on Binance with real orders."""
    if not is_live:
        click.echo(
            "error: `rulebot run` places real orders: add --live to mean it (or use `rulebot dry-run`)", err=True
        )
        sys.exit(2)
    why = untrusted(Path(rulebook), os.stat(rulebook))
    if why:  # what it trades is only ever what the bot's own user wrote (reloads check the same)
        click.echo(f"error: {rulebook}: {why}\nthe bot did not start; nothing was traded", err=True)
        sys.exit(1)
    book = _compile(rulebook)
    cfg = RunConfig(
        Path(rulebook),
        "live",
        run_dir or default_run_dir(Path(rulebook)),
        on_exit=_policy(on_exit),
        watch=not no_watch,
        max_events=max_events,
        strict=strict,
        resume=resume,
        foreign_orders=foreign_orders,
    )
    conn = Connection("testnet" if testnet else "mainnet", rest_url, ws_url)
    _run(
        lambda: live(book, cfg, conn, key_file, announce=lambda m: _out.print(m, markup=False)),
        _notify(notify, key_file),
    )
