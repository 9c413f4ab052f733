"""`rulebot status`, `kill` and `reload`: requests to a running bot over its control socket, and
its status as tables a person reads at a glance.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from pathlib import Path
from typing import Any

import click
from rich.table import Table

from rulebot.backtest.text import number_text, order_prices, places_for
from rulebot.cli.params import RUN_DIR
from rulebot.cli.terminal import output_console
from rulebot.runtime import control
from rulebot.runtime.assemble import default_run_dir
from rulebot.runtime.reload import MAX_SETTLE_WAIT_S

_out = output_console()


def print_status(s: dict[str, Any]) -> None:
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
    # Amounts as the backtest summary writes them (cents, or satoshis for a coin), quantities and
    # prices exactly: the JSON's Decimal strings carry the exponent of the step or tick ("0.010").
    account = _table("account", "asset", "equity", "today's PnL")
    for asset, equity in s.get("equity", {}).items():
        places = places_for(asset)
        account.add_row(asset, number_text(equity, places), number_text(s.get("daily_pnl", {}).get(asset), places))
    _out.print(account)
    # A position's PnL is in the account's margin asset; one market's assets are all dollars or all coins.
    places = max((places_for(asset) for asset in s.get("equity", {})), default=places_for(""))
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
        positions.add_row(
            p["symbol"],
            p["side"],
            number_text(p["size"]),
            number_text(p["entry_price"]),
            number_text(p["upnl"], places),
        )
    _out.print(positions if positions.row_count else "positions: none", markup=False)
    orders = _table("working orders", "order", "symbol", "for", "side", "type", "quantity", "price", "status")
    for o in s.get("orders", []):
        qty = "whole position" if o.get("close_position") else number_text(o.get("quantity"))
        price = order_prices(o.get("price"), o.get("trigger_price"), "market")
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


_STARTING_S = 3.0  # a starting bot's socket file exists from bind() until listen(): refused meanwhile
_ANSWER_S = 10.0  # a running bot answers between two events
# A reload first waits for a file still being written to settle (at most MAX_SETTLE_WAIT_S).
_RELOAD_ANSWER_S = MAX_SETTLE_WAIT_S + _ANSWER_S


def _ask(run_dir: Path, payload: dict[str, Any], wait_s: float | None = None) -> dict[str, Any]:
    deadline = time.monotonic() + _STARTING_S
    wait_s = _ANSWER_S if wait_s is None else wait_s
    try:
        while True:
            try:
                return asyncio.run(control.request(run_dir, payload, wait_s))
            except ConnectionRefusedError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
    except ConnectionRefusedError:
        click.echo(
            f"error: no bot answers at {run_dir / control.SOCKET_NAME} (it stopped without removing it)", err=True
        )
        sys.exit(1)
    except TimeoutError:  # its str() is empty: the operator got "error: " and nothing else
        click.echo(
            f"error: the bot at {run_dir} did not answer within {wait_s:g} s (busy or stuck): "
            "its output says what it is doing; try again",
            err=True,
        )
        sys.exit(1)
    except (ConnectionError, OSError) as exc:
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
        print_status(answer)


@click.command("kill")
@click.argument("rulebook", required=False)
@RUN_DIR
@click.option("--flatten/--keep", "flatten", default=None, help="Close positions, or keep them with their stops.")
def kill_cmd(rulebook: str | None, run_dir: Path | None, flatten: bool | None) -> None:
    """Stop a running bot now (kill switch)."""
    policy = None if flatten is None else "flatten" if flatten else "keep"
    answer = _ask(_dir(rulebook, run_dir), {"cmd": "kill", "policy": policy})
    said = (answer.get("already") or "sent") if answer.get("ok") else answer.get("error")
    click.echo(f"kill: {said} (policy {answer.get('policy')})")
    sys.exit(0 if answer.get("ok") else 1)


@click.command("reload")
@click.argument("rulebook", required=False)
@RUN_DIR
def reload_cmd(rulebook: str | None, run_dir: Path | None) -> None:
    """Reload the rulebook file of a running bot (only a valid one replaces the old)."""
    answer = _ask(_dir(rulebook, run_dir), {"cmd": "reload"}, _RELOAD_ANSWER_S)
    if answer.get("ok"):
        click.echo(f"reloaded: version {answer.get('version')}" + (" (unchanged)" if answer.get("unchanged") else ""))
        for w in answer.get("warnings") or []:
            click.echo(f"  {w}", err=True)
    else:
        click.echo("reload refused; the running rulebook is unchanged:", err=True)
        for e in answer.get("errors") or [answer.get("error") or "no reason given"]:
            click.echo(f"  {e}", err=True)
        sys.exit(1)
