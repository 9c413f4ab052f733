"""Registry of commands; each module owns one command or group, imported only when it runs.

`rulebot --help` lists every command from this table without importing any of them (their
modules pull in the engine, pyarrow, aiohttp...: a second of start-up for a help text), and
`rulebot backtest` imports only the backtest's module. `tests/cli/test_lazy_commands.py` checks
that each short help here is the one the command's own docstring gives.
"""

from __future__ import annotations

import importlib

import click

# name -> (module, attribute, the first paragraph of its help, which `rulebot --help` shortens)
COMMANDS: dict[str, tuple[str, str, str]] = {
    "new": (
        "rulebot.cli.new",
        "new_cmd",
        "Write a commented starting rulebook NAME.yaml (never over an existing file).",
    ),
    "validate": (
        "rulebot.cli.validate",
        "validate_cmd",
        "Check rulebooks (- reads one from stdin); exit 0 when all are valid, 1 otherwise.",
    ),
    "schema": (
        "rulebot.cli.schema",
        "schema_cmd",
        "Write schemas/rulebook.schema.json (for yaml-language-server and other editors).",
    ),
    "data": ("rulebot.cli.data", "data", "Historical market data for backtests and replays."),
    "backtest": (
        "rulebot.cli.backtest",
        "backtest_cmd",
        "Backtest RULEBOOK on Binance's historical files (exchange simulator, fees and funding).",
    ),
    "demo": (
        "rulebot.cli.backtest",
        "demo_cmd",
        "Run a rulebook on the built-in simulated market: no data, no keys, no network.",
    ),
    "sweep": (
        "rulebot.cli.sweep",
        "sweep_cmd",
        "Backtest RULEBOOK once per parameter set and rank the sets; with --walk-forward or --train/--test, "
        "check that the chosen parameters keep their edge on data they were not tuned on.",
    ),
    "audit": (
        "rulebot.cli.audit",
        "audit",
        "Read the audit journal: runs, decisions and why, orders, fills, PnL, integrity.",
    ),
    "dry-run": (
        "rulebot.cli.run",
        "dry_run_cmd",
        "Paper-trade RULEBOOK: real or simulated prices, simulated fills, no keys needed.",
    ),
    "run": ("rulebot.cli.run", "run_cmd", "Trade RULEBOOK on Binance with real orders."),
    "status": ("rulebot.cli.bot_control", "status_cmd", "Positions, orders, states, PnL and guards of a running bot."),
    "kill": ("rulebot.cli.bot_control", "kill_cmd", "Stop a running bot now (kill switch)."),
    "reload": (
        "rulebot.cli.bot_control",
        "reload_cmd",
        "Reload the rulebook file of a running bot (only a valid one replaces the old).",
    ),
    "fake-exchange": (
        "rulebot.cli.fake_exchange",
        "fake_exchange_cmd",
        "A Binance-compatible futures exchange here, over the simulator (for testing tools).",
    ),
    "web": (
        "rulebot.cli.web",
        "web_cmd",
        "Serve a page for running bots: status, guards, positions, the state machine, every decision and why, "
        "rulebook versions, equity and price; kill and reload with --control.",
    ),
}


def load(name: str) -> click.Command | None:
    """The command `name`, its module imported now (None: no such command)."""
    entry = COMMANDS.get(name)
    if entry is None:
        return None
    module, attr, _ = entry
    command = getattr(importlib.import_module(module), attr)
    assert isinstance(command, click.Command)
    return command
