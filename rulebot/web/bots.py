"""The bots a `rulebot web` serves: a run directory (a running bot's control socket, its journal,
its backtest reports) or a journal alone (a finished run, read-only).

Each bot keeps what the server saw of it live (equity and price samples for the chart), so
that a page opened later still shows the curve since the server started.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rulebot.journal.writer import read_only
from rulebot.runtime import control

JOURNAL_NAME = "journal.sqlite"
MAX_REPORTS = 200
SAMPLES = 5000


@dataclass
class Bot:
    id: str
    run_dir: Path | None = None
    journal_file: Path | None = None
    status: dict[str, Any] | None = None  # the last answer of the control socket; None: not running
    head: int = 0  # the journal's last row id
    samples: deque[tuple[int, float, float]] = field(default_factory=lambda: deque(maxlen=SAMPLES))
    unreadable: str = ""  # why the journal file could not be opened the last time it was tried

    @property
    def name(self) -> str:
        if self.status and self.status.get("rulebook"):
            return str(self.status["rulebook"])
        where = self.run_dir or self.journal_file
        return where.name if where is not None else self.id

    @property
    def journal_path(self) -> Path | None:
        if self.journal_file is not None:
            return self.journal_file
        if self.run_dir is not None and (self.run_dir / JOURNAL_NAME).is_file():
            return self.run_dir / JOURNAL_NAME
        return None

    @property
    def controllable(self) -> bool:
        return self.run_dir is not None and (self.run_dir / control.SOCKET_NAME).exists()

    @contextlib.contextmanager
    def db(self) -> Iterator[sqlite3.Connection | None]:
        path = self.journal_path
        if path is None:
            yield None
            return
        try:
            conn = read_only(path)
        except (FileNotFoundError, sqlite3.DatabaseError, RuntimeError) as exc:
            self.unreadable = f"{path} cannot be read as a journal: {exc}"
            yield None
            return
        self.unreadable = ""
        try:
            yield conn
        finally:
            conn.close()

    async def poll(self) -> bool:
        """Ask the bot and its journal what changed; True when anything did."""
        before = (self.status, self.head)
        self.status = await self._ask_status()
        self.head = await asyncio.to_thread(self._head)
        if self.status and self.status.get("running"):
            self._sample(self.status)
        return (self.status, self.head) != before

    async def _ask_status(self) -> dict[str, Any] | None:
        if not self.controllable:
            return None
        assert self.run_dir is not None
        try:
            answer = await control.request(self.run_dir, {"cmd": "status"}, timeout=3.0)
        except (OSError, ConnectionError, TimeoutError, ValueError):
            return None
        return answer if answer.get("ok") else None

    def _head(self) -> int:
        with self.db() as db:
            if db is None:
                return 0
            try:
                return int(db.execute("SELECT COALESCE(MAX(id), 0) FROM entries").fetchone()[0])
            except sqlite3.DatabaseError:
                return 0

    def _sample(self, status: dict[str, Any]) -> None:
        t = int(status.get("engine_time") or 0)
        if not t or (self.samples and self.samples[-1][0] >= t):
            return
        equity = next(iter(status.get("equity", {}).values()), None)
        risk = status.get("risk") or {}
        first: dict[str, Any] = next(iter(risk.values()), {})
        mark = first.get("mark") or first.get("last")
        self.samples.append((t, float(equity) if equity else float("nan"), float(mark) if mark else 0.0))

    def reports(self) -> list[str]:
        """HTML files under the run directory (backtest reports), as paths relative to it."""
        if self.run_dir is None or not self.run_dir.is_dir():
            return []
        root = self.run_dir.resolve()
        found: list[str] = []
        # Two levels at most: a run directory can be pointed anywhere, and this runs on each poll.
        for p in sorted([*root.glob("*.html"), *root.glob("*/*.html")]):
            if len(found) >= MAX_REPORTS:
                break
            if p.is_file() and p.resolve().is_relative_to(root):
                found.append(p.relative_to(root).as_posix())
        return found

    def report_path(self, rel: str) -> Path | None:
        """The report `rel` names, only if it is one of `reports()`: never a path outside the
        run directory (`..`, an absolute path, a symbolic link that leads out)."""
        if self.run_dir is None or rel not in self.reports():
            return None
        root = self.run_dir.resolve()
        path = (root / rel).resolve()
        return path if path.is_relative_to(root) and path.is_file() else None
