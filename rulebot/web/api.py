"""The read side of the page's API: JSON and SVG built from a bot's status and its journal.

Nothing here reads a key file, a token or a notification setting; the status comes from the
bot's control socket and the rest from the (already redacted) journal.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from typing import Any

from rulebot.rulebook.compiler import compile_text
from rulebot.rulebook.errors import RulebookError
from rulebot.rulebook.explain import explain as explain_book
from rulebot.web import charts, diagram
from rulebot.web import journal_view as jv
from rulebot.web.bots import Bot

_explained: dict[str, dict[str, Any] | None] = {}  # rulebook version → its explain() data
# What reading a journal raises when its rows are not the shape this release writes (another
# release's journal, or one edited by hand): said as "cannot be read", never a 500.
UNREADABLE = (sqlite3.DatabaseError, ValueError, TypeError, KeyError, AttributeError, ArithmeticError)


def summary(bot: Bot) -> dict[str, Any]:
    """What the status panel shows; the same whether the bot runs or only its journal is left."""
    with bot.db() as db:
        try:
            run = jv.last_run(db) if db is not None else None
            notes = jv.problems(db, 20) if db is not None else []
            left = jv.left_open(db) if db is not None and not bot.status else []
        except UNREADABLE as exc:
            run, notes, left = None, [{"kind": "journal", "message": f"the journal cannot be read: {exc}"}], []
        if db is None and bot.unreadable:
            notes = [{"kind": "journal", "message": bot.unreadable}]
    st = bot.status or {}
    mode = st.get("mode") or (run or {}).get("mode") or "?"
    venue = str(st.get("venue") or (run or {}).get("venue") or "")
    return {
        "id": bot.id,
        "name": bot.name if bot.status or not run else str(run.get("rulebook") or bot.name),
        "running": bool(st.get("running")),
        "controllable": bot.controllable,
        "mode": _mode(mode, venue),
        "venue": venue,
        "run": run,
        "uptime_s": int(time.time() - st["started_ms"] / 1000) if st.get("started_ms") else None,
        "head": bot.head,
        "status": st or None,
        "problems": notes,
        "left_open": left,
        "reports": bot.reports(),
    }


def _mode(mode: str, venue: str) -> str:
    if mode == "live":
        return "testnet" if "testnet" in venue else "live"
    return mode


async def in_db(bot: Bot, fn: Any, *args: Any) -> Any:
    """Run a journal read in a worker thread: the server's loop never waits on SQLite."""

    def run() -> Any:
        with bot.db() as db:
            if db is None:
                raise LookupError(bot.unreadable or "no journal for this bot")
            try:
                return fn(db, *args)
            except UNREADABLE as exc:
                raise LookupError(f"the journal cannot be read: {exc}") from None

    return await asyncio.to_thread(run)


def _explained_book(version: str, text: str) -> dict[str, Any] | None:
    if version not in _explained:
        try:
            _explained[version] = explain_book(compile_text(text, "<journal>"))
        except (RulebookError, ValueError):
            _explained[version] = None
    return _explained[version]


def state_diagram(db: sqlite3.Connection, live_states: dict[str, str] | None) -> str:
    latest = jv.latest_text(db)
    if latest is None:
        return "<p class='muted'>no rulebook in the journal yet</p>"
    data = _explained_book(*latest)
    if data is None:
        return "<p class='muted'>this rulebook version does not compile with this release</p>"
    current = (
        live_states if live_states else (jv.last_states(db) or dict.fromkeys(data["symbols"], data["initial_state"]))
    )
    return diagram.render(data, current)


def chart_html(db: sqlite3.Connection, bot: Bot) -> str:
    history = jv.history(db)
    st = bot.status or {}
    symbols = list(st.get("symbols") or history["prices"].keys())
    asset = next(iter(st.get("equity", {}) or {"USDT": 0}))
    if not symbols:
        return "<p class='muted'>nothing to draw yet</p>"
    return charts.render(history, symbols, asset, list(bot.samples))
