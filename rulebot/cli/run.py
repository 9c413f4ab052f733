"""`rulebot dry-run`, `run --live`, `status`, `kill` and `reload`."""

from __future__ import annotations

import asyncio
import json
import os
import sqlite3
import sys
from collections.abc import Awaitable, Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import click
from rich.table import Table

from rulebot.binance.codes import BinanceError
from rulebot.cli.params import BALANCE, COUNT, EXIT_RULE_FAILED, FEES, HOURS, SPEED, STRICT
from rulebot.cli.terminal import output_console
from rulebot.cli.validate import print_rulebook_errors
from rulebot.core.fees import FeeRates
from rulebot.journal.writer import JournalIntegrityError, JournalWriteError
from rulebot.notify.follow import run_with_notifications, settings_for
from rulebot.notify.settings import NotifySettings, NotifySettingsError
from rulebot.rulebook.compiler import compile_file
from rulebot.rulebook.errors import RulebookError
from rulebot.runtime import control
from rulebot.runtime.assemble import Connection, default_run_dir, dry_run, live
from rulebot.runtime.keys import CredentialsError
from rulebot.runtime.killswitch import Policy
from rulebot.runtime.paper_account import PaperAccountError
from rulebot.runtime.reload import untrusted
from rulebot.runtime.run_config import RunConfig
from rulebot.runtime.runner import Runner
from rulebot.venues.binance.limiter import RateBudgetExceeded
from rulebot.venues.binance.transport import TransportError

_out = output_console()
NO_WATCH_HELP = "Do not reload when the file changes (SIGHUP and `rulebot reload` still do)."

RUN_DIR = click.option(
    "--run-dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Where the bot keeps its journal and control socket (default .rulebot/<rulebook> live, "
    ".rulebot/<rulebook>.dry-run for a dry-run).",
)
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


def _compile(rulebook: str) -> Any:
    try:
        return compile_file(rulebook)
    except RulebookError as exc:
        print_rulebook_errors(rulebook, exc)
        sys.exit(1)


def _print_status(s: dict[str, Any]) -> None:
    """The running bot as tables a person reads at a glance (`--format json` has every field)."""
    if not s.get("rulebook"):
        _out.print("running" if s.get("running") else "the bot has not started its engine yet", markup=False)
        return
    _out.print(
        f"{s.get('rulebook')} {s.get('version')} · {s.get('mode')} · run {s.get('run_id')} · "
        f"{s.get('events', 0):,} events · {'running' if s.get('running') else 'stopped'}",
        markup=False,
    )
    if s.get("stop_reason"):
        _out.print(f"stopped: {s['stop_reason']}", markup=False)
    account = _table("account", "asset", "equity", "today's PnL")
    for asset, equity in s.get("equity", {}).items():
        account.add_row(asset, equity, s.get("daily_pnl", {}).get(asset, "-"))
    _out.print(account)
    symbols = _table("symbols", "symbol", "state", "data", "indicators")
    for symbol, state in s.get("states", {}).items():
        d = s.get("data", {}).get(symbol, {})
        age = "no data yet" if d.get("age_s") is None else f"{d['age_s']:.1f} s old"
        warm = s.get("warmup", {}).get(symbol, {})
        shown = ", ".join(
            f"{name}@{w['timeframe']} " + ("ready" if w["ready"] else f"warming {w['candles']}/{w['needs']}")
            for name, w in warm.items()
        )
        symbols.add_row(symbol, state, age, shown or "-")
    _out.print(symbols)
    positions = _table("positions", "symbol", "side", "size", "entry", "uPnL")
    for p in s.get("positions", []):
        positions.add_row(p["symbol"], p["side"], p["size"], p["entry_price"], p["upnl"])
    _out.print(positions if positions.row_count else "positions: none", markup=False)
    orders = _table("working orders", "order", "symbol", "for", "side", "type", "quantity", "price", "status")
    for o in s.get("orders", []):
        qty = "whole position" if o.get("close_position") else o.get("quantity") or "-"
        price = o.get("price") or (f"trigger {o['trigger_price']}" if o.get("trigger_price") else "market")
        orders.add_row(o["client_order_id"], o["symbol"], o["purpose"], o["side"], o["type"], qty, price, o["status"])
    _out.print(orders if orders.row_count else "working orders: none", markup=False)
    _out.print(f"guards: {_guards(s.get('guards', {}))}", markup=False)


def _table(title: str, *columns: str) -> Table:
    table = Table(title=title, title_justify="left")
    for c in columns:
        table.add_column(c)
    return table


def _guards(g: dict[str, Any]) -> str:
    """One line: what is stopping or limiting the bot, or that nothing is."""
    tripped = [s for s, on in g.get("volatility_breaker", {}).items() if on]
    parts = [
        f"HALTED ({g['halted']})" if g.get("halted") else "not halted",
        "daily loss limit REACHED" if g.get("daily_loss_breached") else "daily loss limit ok",
        f"streams down: {', '.join(g['streams_down'])}" if g.get("streams_down") else "streams up",
        f"volatility breaker tripped: {', '.join(tripped)}" if tripped else "volatility breaker off",
    ]
    return " · ".join(parts)


# What can stop a bot from starting (or end it) that a person can act on: no traceback for these.
_FAILURES = (CredentialsError, ValueError, OSError, BinanceError, TransportError, RateBudgetExceeded,
             JournalIntegrityError, PaperAccountError, sqlite3.DatabaseError)  # fmt: skip


JOURNAL_FAILED = 5  # the journal could not be written (a full disk): documented in the README


def _policy(choice: str | None) -> Policy | None:
    return "flatten" if choice == "flatten" else "keep" if choice == "keep" else None


def _notify(path: str | None, key_file: str | None = None) -> NotifySettings | None:
    try:
        return settings_for(path, key_file)
    except NotifySettingsError as exc:
        click.echo(f"error: {exc}; nothing was started", err=True)
        sys.exit(1)


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
        # Said once the journal was verified and opened: a refused journal is not a running bot.
        runner.on_started = lambda: _out.print(
            f"running {runner.book.name} ({runner.cfg.mode}) · journal {runner.cfg.journal_path()} · "
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
                "stops on the exchange: check them there). Free disk space, then start it again"
            )
        else:
            what = "the bot did not start; nothing was traded. Free disk space, then start it again"
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
    _print_status(status)
    if status.get("rule_failed"):
        click.echo(f"error: {status.get('stop_reason')}", err=True)
        sys.exit(EXIT_RULE_FAILED)
    if status.get("failed"):
        click.echo(f"error: {status.get('stop_reason')}", err=True)
        sys.exit(3)


@click.command("dry-run")
@click.argument("rulebook", type=click.Path(exists=True, dir_okay=False))
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
@click.option("--balance", type=BALANCE, default=Decimal(10_000), show_default=True, help="Paper wallet.")
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
@click.option("--max-events", type=COUNT, help="Stop after this many market events.")
@click.option("--on-exit", type=click.Choice(["flatten", "keep"]), help="Kill-switch policy (default: the rulebook's).")
@click.option("--no-watch", is_flag=True, help=NO_WATCH_HELP)
@NOTIFY
@STRICT
@RUN_DIR
@_connection_options
def dry_run_cmd(
    rulebook: str,
    market_spec: str,
    preset: str,
    seed: int,
    hours: int,
    speed: float,
    balance: Decimal,
    fees: FeeRates | None,
    key_file: str | None,
    max_events: int | None,
    on_exit: str | None,
    no_watch: bool,
    notify: str | None,
    strict: bool,
    run_dir: Path | None,
    testnet: bool,
    rest_url: str | None,
    ws_url: str | None,
) -> None:
    """Paper-trade RULEBOOK: real or simulated prices, simulated fills, no keys needed."""
    book = _compile(rulebook)
    cfg = RunConfig(
        Path(rulebook),
        "dry-run",
        run_dir or default_run_dir(Path(rulebook), "dry-run"),
        balance=balance,
        on_exit=_policy(on_exit),
        watch=not no_watch,
        max_events=max_events,
        strict=strict,
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
        ),
        _notify(notify),
    )


@click.command("run")
@click.argument("rulebook", type=click.Path(exists=True, dir_okay=False))
@click.option("--live", "is_live", is_flag=True, help="Trade with real orders (required: there is no default).")
@click.option("--key-file", type=click.Path(dir_okay=False), help="BINANCE_API_KEY=…/BINANCE_API_SECRET=… (mode 600).")
@click.option("--on-exit", type=click.Choice(["flatten", "keep"]), help="Kill-switch policy (default: the rulebook's).")
@click.option("--max-events", type=COUNT, hidden=True)
@click.option("--no-watch", is_flag=True, help=NO_WATCH_HELP)
@NOTIFY
@STRICT
@RUN_DIR
@_connection_options
def run_cmd(
    rulebook: str,
    is_live: bool,
    key_file: str | None,
    on_exit: str | None,
    max_events: int | None,
    no_watch: bool,
    notify: str | None,
    strict: bool,
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
    )
    conn = Connection("testnet" if testnet else "mainnet", rest_url, ws_url)
    _run(
        lambda: live(book, cfg, conn, key_file, announce=lambda m: _out.print(m, markup=False)),
        _notify(notify, key_file),
    )


def _ask(run_dir: Path, payload: dict[str, Any]) -> dict[str, Any]:
    try:
        return asyncio.run(control.request(run_dir, payload))
    except ConnectionRefusedError:
        click.echo(
            f"error: no bot answers at {run_dir / control.SOCKET_NAME} (it stopped without removing it)", err=True
        )
        sys.exit(1)
    except (ConnectionError, OSError, TimeoutError) as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(1)


def _dir(rulebook: str | None, run_dir: Path | None) -> Path:
    if run_dir is not None:
        return run_dir
    if rulebook is None:
        raise click.UsageError("give the RULEBOOK the bot runs or --run-dir")
    live_dir, paper_dir = default_run_dir(Path(rulebook)), default_run_dir(Path(rulebook), "dry-run")
    running = [d for d in (live_dir, paper_dir) if (d / control.SOCKET_NAME).exists()]
    if len(running) > 1:
        raise click.UsageError(
            f"a live bot ({live_dir}) and a dry-run ({paper_dir}) both run {rulebook}: say which with --run-dir"
        )
    return running[0] if running else live_dir


@click.command("status")
@click.argument("rulebook", required=False)
@RUN_DIR
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
def status_cmd(rulebook: str | None, run_dir: Path | None, fmt: str) -> None:
    """Positions, orders, states, PnL and guards of a running bot."""
    answer = _ask(_dir(rulebook, run_dir), {"cmd": "status"})
    if fmt == "json":
        click.echo(json.dumps(answer, indent=2))
    else:
        _print_status(answer)


@click.command("kill")
@click.argument("rulebook", required=False)
@RUN_DIR
@click.option("--flatten/--keep", "flatten", default=None, help="Close positions, or keep them with their stops.")
def kill_cmd(rulebook: str | None, run_dir: Path | None, flatten: bool | None) -> None:
    """Stop a running bot now (kill switch)."""
    policy = None if flatten is None else "flatten" if flatten else "keep"
    answer = _ask(_dir(rulebook, run_dir), {"cmd": "kill", "policy": policy})
    click.echo(f"kill: {'sent' if answer.get('ok') else answer.get('error')} (policy {answer.get('policy')})")
    sys.exit(0 if answer.get("ok") else 1)


@click.command("reload")
@click.argument("rulebook", required=False)
@RUN_DIR
def reload_cmd(rulebook: str | None, run_dir: Path | None) -> None:
    """Reload the rulebook file of a running bot (only a valid one replaces the old)."""
    answer = _ask(_dir(rulebook, run_dir), {"cmd": "reload"})
    if answer.get("ok"):
        click.echo(f"reloaded: version {answer.get('version')}" + (" (unchanged)" if answer.get("unchanged") else ""))
    else:
        click.echo("reload refused; the running rulebook is unchanged:", err=True)
        for e in answer.get("errors") or [answer.get("error") or "no reason given"]:
            click.echo(f"  {e}", err=True)
        sys.exit(1)
