"""A journal another program holds locked (a sqlite3 shell, a backup or sync tool) is reported as
locked, with what to do about it, not as a full disk or as another program's database."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from rulebot.cli import main
from rulebot.journal import writer
from rulebot.journal.encode import Row
from rulebot.journal.writer import Journal, JournalLockedError, JournalWriteError
from rulebot.testing.bots import hold_on_candle
from rulebot.testing.shared import ARCHIVE

DAY = ARCHIVE / "futures/um/daily/klines/BTCUSDT/1m/BTCUSDT-1m-2025-06-07.zip"
BOOK = hold_on_candle("locked")


@pytest.fixture(autouse=True)
def _short_lock_wait(monkeypatch: pytest.MonkeyPatch) -> None:
    """SQLite's 5 s wait for another program's lock, cut short: each test waits it out once or twice."""
    monkeypatch.setattr(writer, "LOCK_WAIT_S", 0.3)


async def _write_rows(path: Path, n: int) -> None:
    async with Journal.open(path, "run-1", "dry-run") as j:
        for i in range(n):
            await j.write_step([Row(i, "log", {"message": f"row {i}"})])


@contextlib.contextmanager
def _held(path: Path) -> Iterator[None]:
    """Another connection in a write transaction on the file (SQLite's locks are per connection)."""
    other = sqlite3.connect(path, isolation_level=None)
    try:
        other.execute("BEGIN EXCLUSIVE")
        yield
    finally:
        other.close()


def test_a_write_to_a_locked_journal_says_locked_and_stays_refused(tmp_path):
    path = tmp_path / "journal.sqlite"
    asyncio.run(_write_rows(path, 3))

    refused: list[JournalWriteError] = []

    async def append() -> None:
        async with Journal.open(path, "run-2", "dry-run") as j:
            for i in range(2):
                try:
                    await j.write(Row(i, "log", {"message": "hello"}))
                except JournalWriteError as exc:
                    refused.append(exc)

    with _held(path):
        asyncio.run(append())
    assert len(refused) == 2  # the first write waited for the lock and gave up; the journal stays broken
    for exc in refused:
        assert type(exc) is JournalLockedError, exc
        assert "locked by another program" in str(exc) and "disk" not in str(exc)
        assert exc.remedy == "Let the other program finish or close it"
        assert exc.exit_code == 5  # as any journal that cannot be written (README)


def test_a_dry_run_on_a_locked_journal_does_not_start_and_says_why(tmp_path):
    book = tmp_path / "locked.yaml"
    book.write_text(BOOK)
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    journal = run_dir / "journal.sqlite"
    asyncio.run(_write_rows(journal, 1))
    args = ["dry-run", str(book), "--market", f"replay:{DAY}", "--max-events", "50", "--run-dir", str(run_dir)]
    with _held(journal):
        out = CliRunner().invoke(main, [*args, "--no-watch"])
    assert out.exit_code == 5, out.output
    assert "is locked by another program" in out.stderr and "Let the other program finish" in out.stderr
    assert "disk" not in out.stderr.lower() and "Traceback" not in out.output
    with contextlib.closing(sqlite3.connect(journal)) as db:
        assert db.execute("SELECT count(*) FROM fills").fetchone() == (0,)  # nothing was traded


def test_an_audit_of_a_locked_journal_says_locked_not_another_programs_database(tmp_path):
    path = tmp_path / "journal.sqlite"
    asyncio.run(_write_rows(path, 3))
    with contextlib.closing(sqlite3.connect(path)) as db:
        db.execute("PRAGMA journal_mode=DELETE")  # a copy out of WAL: a writer's lock keeps readers out too
    with _held(path):
        out = CliRunner().invoke(main, ["audit", "-j", str(path), "verify"])
    assert out.exit_code == 1, out.output
    assert "locked by another program" in out.output and "not a rulebot journal" not in out.output
    after = CliRunner().invoke(main, ["audit", "-j", str(path), "verify"])
    assert after.exit_code == 0 and "chain is intact" in after.output
