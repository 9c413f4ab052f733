"""The journal writer: one task owns the SQLite connection and writes rows in batches.

    async with Journal.open("bot.journal", run_id=..., mode="live") as journal:
        await journal.write_step(rows)       # one engine step: one transaction

A step (a decision, its guard verdicts, the commands it produced) is written in one
transaction, so a crash at any moment leaves whole steps or nothing. Commands are journaled
by the caller *before* they are sent (write-ahead): `write_step` returns once the rows are
durable in the WAL. For backtests, `SyncJournal` offers the same writer to a synchronous loop.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import sqlite3
import threading
from collections.abc import Iterable, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

import aiosqlite

from rulebot.journal.chain import GENESIS, parse_head, row_hash
from rulebot.journal.encode import Row, dumps, plain
from rulebot.journal.schema import SCHEMA_VERSION, VIEWS, migrate_script

_INSERT = (
    "INSERT INTO entries (id, run_id, time, kind, symbol, rule, client_order_id, version, body, prev_hash, hash) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
_SET_HEAD = "INSERT OR REPLACE INTO meta (key, value) VALUES ('head', ?)"


class JournalIntegrityError(RuntimeError):
    """The journal does not end where its writer left it: rows were cut off or added by hand."""


async def _prepare(db: aiosqlite.Connection) -> None:
    await db.execute("PRAGMA journal_mode=WAL")
    await db.execute("PRAGMA synchronous=NORMAL")  # with WAL: durable across a process kill
    # No checkpoint inside a commit: a live bot journals each step right before its orders
    # leave, and SQLite's automatic checkpoint there cost ~3 ms at p99 (bench/latency.py).
    # Checkpoints run when nothing waits on them (`checkpoint_if_due`).
    await db.execute("PRAGMA wal_autocheckpoint=0")
    await db.execute("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
    async with db.execute("SELECT value FROM meta WHERE key = 'schema_version'") as cur:
        found = await cur.fetchone()
    current = int(found[0]) if found else 0
    for version, script in migrate_script(current):
        await db.executescript(script)
        await db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES ('schema_version', ?)", (str(version),))
    await db.commit()


class Journal:
    """The async journal of one run."""

    def __init__(self, db: aiosqlite.Connection, run_id: str, last_id: int, last_hash: str) -> None:
        self._db = db
        self.run_id = run_id
        self._last_id = last_id
        self._last_hash = last_hash
        self._lock = asyncio.Lock()
        self.rows_written = 0
        self.auto_checkpoint = False  # checkpoint inside write_step (backtests: nobody waits on it)
        self._since_checkpoint = 0

    @classmethod
    async def create(cls, path: str | Path, run_id: str) -> Journal:
        db = await aiosqlite.connect(str(path))
        try:
            await _prepare(db)
            async with db.execute("SELECT id, hash FROM entries ORDER BY id DESC LIMIT 1") as cur:
                last = await cur.fetchone()
            last_id, last_hash = (last[0], last[1]) if last else (0, GENESIS)
            async with db.execute("SELECT value FROM meta WHERE key = 'head'") as cur:
                head = await cur.fetchone()
            # Appending to a journal whose tail was tampered with would move the head past the
            # evidence: refuse instead, before anything is written.
            if head is not None and parse_head(head[0]) != (last_id, last_hash):
                head_id = parse_head(head[0])[0]
                raise JournalIntegrityError(
                    f"the journal {path} does not end where rulebot last wrote it (row {head_id}; the file "
                    f"ends at row {last_id}): rows were removed or added by hand. Nothing was written to it. "
                    f"Run `rulebot audit -j {path} verify` for details, keep the file as evidence, and "
                    "start with a new journal file."
                )
        except BaseException:
            await db.close()
            raise
        return cls(db, run_id, last_id, last_hash)

    @classmethod
    def open(cls, path: str | Path, run_id: str) -> _Opener:
        return _Opener(path, run_id)

    async def write_step(self, rows: Sequence[Row]) -> None:
        """Write rows as one transaction, chained to what is already there."""
        if not rows:
            return
        async with self._lock:
            values = self._chain(rows)
            # The rows and the head that covers them commit together, or neither does.
            await self._db.executemany(_INSERT, values)
            await self._db.execute(_SET_HEAD, (f"{self._last_id} {self._last_hash}",))
            await self._db.commit()
            self.rows_written += len(values)
            self._since_checkpoint += len(values)
        if self.auto_checkpoint:
            await self.checkpoint_if_due()

    async def checkpoint_if_due(self, every_rows: int = 2000) -> None:
        """Fold the WAL into the database file once enough rows were written (PASSIVE: never
        waits for readers such as a concurrent `rulebot audit`)."""
        if self._since_checkpoint < every_rows:
            return
        async with self._lock:
            await self._db.execute("PRAGMA wal_checkpoint(PASSIVE)")
            self._since_checkpoint = 0

    async def write(self, row: Row) -> None:
        await self.write_step([row])

    def _chain(self, rows: Iterable[Row]) -> list[tuple[Any, ...]]:
        out = []
        last_id, last_hash = self._last_id, self._last_hash
        for r in rows:
            last_id += 1
            content = (
                last_id,
                self.run_id,
                r.time,
                r.kind,
                r.symbol,
                r.rule,
                r.client_order_id,
                r.version,
                dumps(r.body if r.clean else plain(r.body)),
            )
            last_hash_new = row_hash(last_hash, content)
            out.append((*content, last_hash, last_hash_new))
            last_hash = last_hash_new
        self._last_id, self._last_hash = last_id, last_hash
        return out

    async def close(self) -> None:
        await self._db.close()


class _Opener:
    def __init__(self, path: str | Path, run_id: str) -> None:
        self.path, self.run_id = path, run_id
        self.journal: Journal | None = None

    async def __aenter__(self) -> Journal:
        self.journal = await Journal.create(self.path, self.run_id)
        return self.journal

    async def __aexit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self.journal is not None:
            await self.journal.close()


class SyncJournal:
    """The same writer for a synchronous producer (a backtest): rows are batched in memory
    and handed to the writer task on a background event loop; a batch is only cut between
    steps, so no decision is ever split from its verdicts."""

    def __init__(self, path: str | Path, run_id: str, batch: int = 5000) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="journal-writer", daemon=True)
        self._thread.start()
        try:
            self._journal: Journal = self._call(Journal.create(path, run_id))
            self._journal.auto_checkpoint = True
        except BaseException:
            self._stop_loop()
            raise
        self._pending: list[Row] = []
        self._batch = batch
        self._inflight: list[concurrent.futures.Future[None]] = []

    def _call(self, coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result()

    @property
    def rows_written(self) -> int:
        return self._journal.rows_written

    def append(self, row: Row) -> None:
        self._pending.append(row)

    def end_step(self) -> None:
        """A step ended: the batch may be cut here."""
        if len(self._pending) >= self._batch:
            self._flush()

    def _flush(self) -> None:
        if not self._pending:
            return
        rows, self._pending = self._pending, []
        self._inflight = [f for f in self._inflight if not f.done()]
        if len(self._inflight) > 4:  # back-pressure: never let the producer run far ahead
            self._inflight.pop(0).result()
        self._inflight.append(asyncio.run_coroutine_threadsafe(self._journal.write_step(rows), self._loop))

    def close(self) -> None:
        self._flush()
        for f in self._inflight:
            f.result()
        self._call(self._journal.close())
        self._stop_loop()

    def _stop_loop(self) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join()
        self._loop.close()


def read_only(path: str | Path) -> sqlite3.Connection:
    """A connection for audits: never writes, refuses a file that is not there."""
    if not Path(path).is_file():
        raise FileNotFoundError(f"no journal at {path}")
    db = _connect_ro(path)
    (version,) = db.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone() or ("0",)
    if int(version) < SCHEMA_VERSION:
        db.close()
        try:
            upgrade(path)
        except sqlite3.OperationalError:
            # A journal on read-only storage (an archive, evidence): give this connection the
            # views for its lifetime instead of upgrading the file.
            db = _connect_ro(path)
            # (TEMP views shadow the file's older ones of the same name.)
            db.executescript(VIEWS.replace("CREATE VIEW", "CREATE TEMP VIEW"))
            return db
        db = _connect_ro(path)
    return db


def _connect_ro(path: str | Path) -> sqlite3.Connection:
    db = sqlite3.connect(f"file:{Path(path).resolve()}?mode=ro", uri=True)
    db.row_factory = sqlite3.Row
    return db


def upgrade(path: str | Path) -> None:
    """Bring an old journal's schema up to this release (tables are only ever added to)."""

    async def run() -> None:
        async with aiosqlite.connect(str(path)) as db:
            await _prepare(db)

    asyncio.run(run())
