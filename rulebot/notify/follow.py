"""Notifications of a running bot, taken from its journal as it is written.

The follower reads new rows of the bot's own run (a read-only connection, in a worker thread)
twice a second and offers each that matters to the `Notifier`. The engine never waits on it:
it shares nothing with the engine but the journal file, which SQLite's WAL lets it read while
the bot writes.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import sys
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

from rulebot.journal.writer import read_only_uri
from rulebot.notify.deliver import Notifier
from rulebot.notify.events import Message, classify
from rulebot.notify.settings import NotifySettings

_COLUMNS = "id, time, kind, symbol, rule, client_order_id, body"


class JournalNotifications:
    def __init__(
        self, journal: Path, run_id: str, settings: NotifySettings, bot: str, *, every_s: float = 0.5, **kw: Any
    ) -> None:
        self.journal = journal
        self.run_id = run_id
        self.every_s = every_s
        self.notifier = Notifier(settings, bot, **kw)
        self._last = 0
        self._db: sqlite3.Connection | None = None
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self.notifier.start()
        self._task = asyncio.create_task(self._follow(), name="notify-follow")

    async def close(self, drain_s: float = 5.0) -> None:
        """Read what the run wrote last (its stop), send it within `drain_s`, then stop."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        with contextlib.suppress(sqlite3.Error, OSError):
            await self.poll()
        await self.notifier.close(drain_s)
        if self._db is not None:
            self._db.close()

    async def _follow(self) -> None:
        while True:
            with contextlib.suppress(sqlite3.Error, OSError):
                await self.poll()
            await asyncio.sleep(self.every_s)

    async def poll(self) -> int:
        rows = await asyncio.to_thread(self._read)
        for row in rows:
            message = classify(row)
            if message is not None:
                self.notifier.offer(message)
        return len(rows)

    def _read(self) -> list[dict[str, Any]]:
        if self._db is None:
            if not self.journal.is_file():
                return []
            self._db = sqlite3.connect(read_only_uri(self.journal), uri=True, check_same_thread=False)
            self._db.row_factory = sqlite3.Row
        rows = [
            dict(r)
            for r in self._db.execute(
                f"SELECT {_COLUMNS}, run_id FROM entries WHERE id > ? ORDER BY id LIMIT 2000", (self._last,)
            )
        ]
        if rows:  # past other runs' rows too: a long journal is read once, not at every poll
            self._last = rows[-1]["id"]
        return [r for r in rows if r["run_id"] == self.run_id]


def settings_for(notify: str | None, key_file: str | None) -> NotifySettings | None:
    """`--notify FILE`, else `notify.yaml` beside the key file when there is one; None: off.
    Raises NotifySettingsError (a user error) for a file that is there but wrong."""
    from rulebot.notify.settings import beside, load

    if notify is not None:
        return load(notify)
    if key_file is not None and beside(key_file).is_file():
        return load(beside(key_file))
    return None


async def run_with_notifications(runner: Any, settings: NotifySettings | None) -> Any:
    """`runner.run()`, with its journal followed for notifications while it runs."""
    if settings is None:
        return await runner.run()
    pending: set[asyncio.Task[None]] = set()

    def failed(text: str) -> None:
        """A message that could not be delivered: said on stderr, and journaled, so that the page and
        `rulebot audit` show it too (the text names the target, never its URL or token)."""
        print(text, file=sys.stderr)
        task = asyncio.get_running_loop().create_task(_journaled(runner, text))
        pending.add(task)
        task.add_done_callback(pending.discard)

    notes = JournalNotifications(runner.cfg.journal_path(), runner.run_id, settings, runner.book.name, warn=failed)
    notes.start()
    near = asyncio.create_task(watch_liquidation(runner.status, notes.notifier, settings.liquidation_warning))
    try:
        return await runner.run()
    finally:
        near.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await near
        await notes.close()


async def _journaled(runner: Any, text: str) -> None:
    # A "notify-failed" notice is no notification itself (events.py): a failing target cannot feed on it.
    with contextlib.suppress(Exception):  # the journal may have closed with the run
        await runner.notice("notify-failed", text)


async def watch_liquidation(
    status: Callable[[], dict[str, Any]], notifier: Notifier, within: Decimal, every_s: float = 1.0
) -> None:
    """Warn once when a position's liquidation price comes within `within` of the mark (the
    journal has no row for that: the exchange's margin call comes much later), and again only
    after it has moved half as far again away."""
    warned: set[str] = set()
    while True:
        st = status()
        for symbol, r in (st.get("risk") or {}).items():
            raw = r.get("liquidation_distance")
            if raw is None:
                warned.discard(symbol)
                continue
            distance = Decimal(raw)
            if distance < within and symbol not in warned:
                warned.add(symbol)
                text = (
                    f"mark {r.get('mark')}, liquidation price {r.get('liquidation_price')}: "
                    f"{distance * 100:.1f}% away (warning under {within * 100:.0f}%)"
                )
                t = int(st.get("engine_time") or 0)
                notifier.offer(Message("liquidation", f"liquidation near {symbol}", text, t, symbol, 0))
            elif distance > within * Decimal("1.5"):
                warned.discard(symbol)
        await asyncio.sleep(every_s)
