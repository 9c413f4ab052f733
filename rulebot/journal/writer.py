"""The journal writer: one task owns the SQLite connection and writes rows in batches.

    async with Journal.open("bot.journal", run_id=..., mode="live") as journal:
        await journal.write_step(rows)       # one engine step: one transaction

A step (a decision, its guard verdicts, the commands it produced) is written in one
transaction, so a crash at any moment leaves whole steps or nothing. Commands are journaled
by the caller *before* they are sent (write-ahead): `write_step(rows, durable=True)` returns
once the rows are on disk (synchronous=FULL: they survive a power loss, and they are what
keeps a restarted bot from sending an order twice); other steps are durable across a process
kill (NORMAL). For backtests, `SyncJournal` offers the same writer to a synchronous loop.

Beside the journal, `<journal>-anchor` holds the id and hash of the last row committed,
rewritten after each commit. The chain's head in `meta` lives in the same WAL as the rows, so a
WAL cut short (or lost) rolls the head back with them and the chain still looks whole; the
anchor does not roll back, and `verify` compares the two. (A power loss can lose the last
NORMAL rows while the anchor names them: they were lost, and `verify` says so.)
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import os
import sqlite3
import threading
from collections.abc import AsyncIterator, Iterable, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

import aiosqlite

from rulebot.core.errors import UserError
from rulebot.journal.chain import GENESIS, hashed, parse_head, row_hash
from rulebot.journal.encode import Row, dumps, plain
from rulebot.journal.schema import SCHEMA_VERSION, VIEWS, migrate_script
from rulebot.journal.verify import anchor_path, anchor_problem, no_journal_here, read_anchor

_INSERT = (
    "INSERT INTO entries (id, run_id, time, kind, symbol, rule, client_order_id, version, body, mode, prev_hash, "
    "hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
_ANCHOR_SIZE = 96  # "<id> <hash>\n" padded: rewritten in place, one write of one block
# Fold the WAL into the database after this many commits (a live bot commits a few rows at a
# time, each commit a few 4 KB pages: 250 commits is about SQLite's own 1000-page default) or rows.
# How long a write or a read waits for a lock another program holds on the journal before it is
# refused as locked (SQLite's busy timeout; its default too).
LOCK_WAIT_S = 5.0
CHECKPOINT_COMMITS = 250
CHECKPOINT_ROWS = 2000
_SET_HEAD = "INSERT OR REPLACE INTO meta (key, value) VALUES ('head', ?)"


class JournalIntegrityError(RuntimeError):
    """The journal does not end where its writer left it: rows were cut off or added by hand."""


class JournalWriteError(UserError, RuntimeError):
    """The journal cannot be written (a full disk, an I/O error). Nothing may be sent that was
    not journaled first: the bot must stop. Any command ends with exit code 5 (README); a
    backtest's journal on a full disk was reported as a bug in rulebot (exit 70)."""

    exit_code = 5
    remedy = "Free disk space"  # what to do before starting again (cli/run.py says it)


class JournalLockedError(JournalWriteError):
    """Another program holds the journal in a write transaction (a sqlite3 shell, a backup or sync
    tool): SQLite waited for it and gave up. Not a full disk: freeing space would not help."""

    remedy = "Let the other program finish or close it"


def write_failure(path: str | Path, exc: BaseException) -> JournalWriteError:
    """The error for a journal write SQLite refused: a lock held by another program, or else a
    full disk or an I/O error."""
    if isinstance(exc, sqlite3.OperationalError) and _is_lock(exc):
        return JournalLockedError(_locked(path, exc))
    return JournalWriteError(f"the journal {path} cannot be written ({exc}): is the disk full?")


def _is_lock(exc: sqlite3.Error) -> bool:
    return "locked" in str(exc) or "busy" in str(exc)


def _locked(path: str | Path, exc: sqlite3.Error) -> str:
    return (
        f"the journal {path} is locked by another program ({exc}): a sqlite3 shell, a backup or a sync tool "
        "holds it in a write transaction"
    )


async def _prepare(db: aiosqlite.Connection) -> None:
    await db.execute("PRAGMA journal_mode=WAL")
    await db.execute("PRAGMA synchronous=NORMAL")  # with WAL: durable across a process kill (FULL: see write_step)
    await db.execute("PRAGMA journal_size_limit=16777216")  # a WAL grown by a burst shrinks back after a checkpoint
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

    def __init__(
        self, db: aiosqlite.Connection, run_id: str, last_id: int, last_hash: str, anchor_fd: int, mode: str = ""
    ) -> None:
        self._db = db
        self.run_id = run_id
        self.mode = mode
        self._last_id = last_id
        self._last_hash = last_hash
        self._anchor_fd = anchor_fd
        self._lock = asyncio.Lock()
        self.rows_written = 0
        self.auto_checkpoint = False  # checkpoint inside write_step (backtests: nobody waits on it)
        self._since_checkpoint = (0, 0)  # commits, rows
        self._full = False  # synchronous=FULL in force
        self.checkpoints = 0
        self.path: str | Path = ""
        self.broken = ""  # why the journal can no longer be written (then every write refuses)
        self._broken_by: type[JournalWriteError] = JournalWriteError  # raised again with `broken`

    @classmethod
    async def create(cls, path: str | Path, run_id: str, mode: str = "") -> Journal:
        # A new journal (no file, or an empty one) where an anchor was left behind: the old journal
        # was deleted on purpose, to start afresh. (A journal whose WAL was lost is never empty:
        # switching to WAL mode wrote its first page.)
        if not os.path.exists(path) or os.path.getsize(path) == 0:
            with contextlib.suppress(FileNotFoundError):
                os.replace(anchor_path(path), f"{anchor_path(path)}.old")
        db = await aiosqlite.connect(str(path), timeout=LOCK_WAIT_S)
        anchor_fd = -1
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
                    + damaged_advice(path, mode)
                )
            anchor = read_anchor(path)
            if anchor is not None:
                async with db.execute("SELECT hash FROM entries WHERE id = ?", (anchor[0],)) as cur:
                    at = await cur.fetchone()
                problem = anchor_problem(anchor, last_id, at[0] if at else None)
                if problem:
                    raise JournalIntegrityError(
                        f"the journal {path} is damaged: {problem}. Nothing was written to it. "
                        + damaged_advice(path, mode)
                    )
            anchor_fd = os.open(anchor_path(path), os.O_RDWR | os.O_CREAT, 0o600)
        except BaseException as exc:
            if anchor_fd >= 0:
                os.close(anchor_fd)
            await db.close()
            if isinstance(exc, sqlite3.OperationalError) and ("full" in str(exc) or "I/O" in str(exc) or _is_lock(exc)):
                raise write_failure(path, exc) from exc
            if isinstance(exc, sqlite3.DatabaseError):
                raise sqlite3.DatabaseError(
                    f"the journal {path} cannot be read ({exc}); nothing was written to it. "
                    + damaged_advice(path, mode)
                ) from exc
            raise
        journal = cls(db, run_id, last_id, last_hash, anchor_fd, mode)
        journal.path = path
        journal._anchor()
        return journal

    @classmethod
    def open(cls, path: str | Path, run_id: str, mode: str = "") -> _Opener:
        return _Opener(path, run_id, mode)

    async def write_step(self, rows: Sequence[Row], durable: bool = False) -> None:
        """Write rows as one transaction, chained to what is already there. `durable`: on disk
        before this returns (synchronous=FULL), for the rows that precede an order."""
        if not rows:
            return
        async with self._lock, self._failing():
            if durable != self._full:
                await self._db.execute(f"PRAGMA synchronous={'FULL' if durable else 'NORMAL'}")
                self._full = durable
            values = self._chain(rows)
            # The rows and the head that covers them commit together, or neither does.
            await self._db.executemany(_INSERT, values)
            await self._db.execute(_SET_HEAD, (f"{self._last_id} {self._last_hash}",))
            await self._db.commit()
            self._anchor()
            self.rows_written += len(values)
            commits, n = self._since_checkpoint
            self._since_checkpoint = (commits + 1, n + len(values))
        if self.auto_checkpoint:
            await self.checkpoint_if_due()

    @contextlib.asynccontextmanager
    async def _failing(self) -> AsyncIterator[None]:
        """A write that fails (SQLite: "database or disk is full", "disk I/O error") breaks the
        journal for good: its chain position is unknown, and nothing may be sent unjournaled."""
        if self.broken:
            raise self._broken_by(self.broken)
        try:
            yield
        except (sqlite3.Error, OSError) as exc:
            failure = write_failure(self.path, exc)
            self.broken, self._broken_by = str(failure), type(failure)
            with contextlib.suppress(Exception):
                await self._db.rollback()
            raise failure from exc

    def _anchor(self) -> None:
        """The last committed row, outside the WAL (no fsync: an anchor behind the journal is
        harmless, and a kill leaves what was written in the page cache)."""
        os.pwrite(self._anchor_fd, f"{self._last_id} {self._last_hash}\n".ljust(_ANCHOR_SIZE).encode(), 0)

    async def checkpoint_if_due(self) -> None:
        """Fold the WAL into the database file once enough was written (PASSIVE: never waits
        for readers such as a concurrent `rulebot audit`)."""
        commits, rows = self._since_checkpoint
        if commits < CHECKPOINT_COMMITS and rows < CHECKPOINT_ROWS:
            return
        async with self._lock, self._failing():
            await self._db.execute("PRAGMA wal_checkpoint(PASSIVE)")
            self._since_checkpoint = (0, 0)
            self.checkpoints += 1

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
            last_hash_new = row_hash(last_hash, hashed(content, self.mode))
            out.append((*content, self.mode, last_hash, last_hash_new))
            last_hash = last_hash_new
        self._last_id, self._last_hash = last_id, last_hash
        return out

    async def close(self) -> None:
        """Always ends the writer thread, even when the last write failed (a full disk): a
        thread left running keeps the process from exiting."""
        try:
            with contextlib.suppress(sqlite3.Error):  # closing checkpoints: a full disk fails that too
                await self._db.close()
        finally:
            if self._anchor_fd >= 0:
                with contextlib.suppress(OSError):
                    os.close(self._anchor_fd)
                self._anchor_fd = -1


def damaged_advice(path: str | Path, mode: str = "") -> str:
    """What to do about a journal that does not verify (said wherever one is refused); a backtest's
    or a demo's (`mode`) has no run directory and no exchange to take positions from."""
    check = f"Run `rulebot audit -j {path} verify` for details, keep the file (and {Path(path).name}-wal, -anchor) "
    if mode in ("backtest", "demo"):
        return check + "as evidence, and give --journal another file."
    return check + (
        "as evidence, and start with a new journal: move them aside or use another --run-dir. The new run "
        "takes the open orders and positions from the exchange, but not today's daily-loss state: check it."
    )


class _Opener:
    def __init__(self, path: str | Path, run_id: str, mode: str = "") -> None:
        self.path, self.run_id, self.mode = path, run_id, mode
        self.journal: Journal | None = None

    async def __aenter__(self) -> Journal:
        self.journal = await Journal.create(self.path, self.run_id, self.mode)
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

    def __init__(self, path: str | Path, run_id: str, batch: int = 5000, mode: str = "") -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="journal-writer", daemon=True)
        self._thread.start()
        try:
            self._journal: Journal = self._call(Journal.create(path, run_id, mode))
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
    try:
        (version,) = db.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone() or ("0",)
    except sqlite3.OperationalError as exc:  # "no such table: meta" says nothing to someone who typed a path
        db.close()
        if _is_lock(exc):
            raise sqlite3.DatabaseError(f"{_locked(path, exc)}; try again when it is done") from None
        raise sqlite3.DatabaseError(no_journal_here(path)) from None
    # Another program may keep a meta(key, value) with a schema_version too: upgrading that would
    # write a journal's tables into someone else's database.
    if not str(version).isdigit() or not db.execute("SELECT 1 FROM sqlite_master WHERE name = 'entries'").fetchone():
        db.close()
        raise sqlite3.DatabaseError("not a rulebot journal (another program's database)")
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


def read_only_uri(path: str | Path) -> str:
    """The SQLite URI that opens `path` read-only. The path is percent-encoded: a raw `#`, `?` or
    `%` in it (anywhere up to the root, once resolved) would cut or change the name SQLite opens,
    and it would create an empty file there."""
    return Path(path).resolve().as_uri() + "?mode=ro"


def _connect_ro(path: str | Path) -> sqlite3.Connection:
    db = sqlite3.connect(read_only_uri(path), uri=True, timeout=LOCK_WAIT_S)
    db.row_factory = sqlite3.Row
    return db


def upgrade(path: str | Path) -> None:
    """Bring an old journal's schema up to this release (tables are only ever added to)."""

    async def run() -> None:
        async with aiosqlite.connect(str(path), timeout=LOCK_WAIT_S) as db:
            await _prepare(db)

    # A loop of its own, in a thread: the caller may be in a running loop (the web page reads journals in it).
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, run()).result()
