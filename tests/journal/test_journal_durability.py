"""What a crash, a power loss or a cut WAL leave behind: rows are lost loudly, never silently."""

from __future__ import annotations

import asyncio
import os
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from rulebot.cli import main
from rulebot.journal.encode import Row
from rulebot.journal.verify import read_anchor, verify
from rulebot.journal.writer import CHECKPOINT_COMMITS, Journal, JournalIntegrityError, read_only


def _files(path: Path) -> list[Path]:
    return [p for p in (path, Path(f"{path}-wal"), Path(f"{path}-anchor")) if p.exists()]


async def _write_and_copy(path: Path, crashed: Path, steps: int) -> None:
    """Write `steps` one-row steps the way a live bot does, then copy the files as a SIGKILL
    would leave them (the writer still open, the rows in its WAL)."""
    async with Journal.open(path, "live-1", "live") as j:
        for i in range(steps):
            await j.write_step([Row(i, "account", {"reason": "ORDER", "i": i})])
        crashed.mkdir()
        for f in _files(path):
            shutil.copy(f, crashed / f.name)


def test_a_wal_cut_in_half_is_reported_broken_not_ok(tmp_path):
    path, crashed = tmp_path / "journal.sqlite", tmp_path / "crashed"
    asyncio.run(_write_and_copy(path, crashed, 200))
    copy = crashed / path.name
    wal = Path(f"{copy}-wal")
    os.truncate(wal, wal.stat().st_size // 2)  # SQLite keeps the frames up to the last whole commit

    result = verify(read_only(copy), read_anchor(copy))
    assert not result.ok and result.rows < 200
    assert "missing" in result.problem and "200" in result.problem and result.first_broken == result.rows + 1

    out = CliRunner().invoke(main, ["audit", "-j", str(copy), "verify"])
    assert out.exit_code == 1 and "BROKEN" in out.output and "WAL" in out.output


def test_the_bot_will_not_append_to_a_journal_whose_wal_was_cut(tmp_path):
    path, crashed = tmp_path / "journal.sqlite", tmp_path / "crashed"
    asyncio.run(_write_and_copy(path, crashed, 50))
    copy = crashed / path.name
    Path(f"{copy}-wal").unlink()  # lost altogether

    async def append() -> None:
        async with Journal.open(copy, "live-2", "live") as j:
            await j.write(Row(0, "log", {"message": "hello"}))

    with pytest.raises(JournalIntegrityError, match="missing") as err:
        asyncio.run(append())
    assert "audit" in str(err.value) and "--run-dir" in str(err.value)


def test_a_journal_copied_without_its_wal_is_not_called_another_programs_database(tmp_path):
    """`cp journal.sqlite` from a killed bot's run directory leaves the rows behind in
    journal.sqlite-wal. audit said "not a rulebot journal (an empty file, or another program's
    database)": the user's own journal, with every row they were looking for, written off."""
    path, crashed = tmp_path / "journal.sqlite", tmp_path / "crashed"
    asyncio.run(_write_and_copy(path, crashed, 50))
    copy = crashed / path.name
    Path(f"{copy}-wal").unlink()
    for args in (["verify"], ["runs"], ["export"]):
        out = CliRunner().invoke(main, ["audit", "-j", str(copy), *args])
        assert out.exit_code == 1, out.output
        assert "another program" not in out.output and "1..50" in out.output, out.output
        assert f"{copy}-wal" in out.output, out.output
    Path(f"{copy}-anchor").unlink()  # and without its anchor: the WAL is still the likely story
    out = CliRunner().invoke(main, ["audit", "-j", str(copy), "runs"])
    assert out.exit_code == 1 and f"{copy}-wal" in out.output, out.output


def test_a_journal_killed_mid_run_still_verifies_with_its_anchor(tmp_path):
    path, crashed = tmp_path / "journal.sqlite", tmp_path / "crashed"
    asyncio.run(_write_and_copy(path, crashed, 30))
    copy = crashed / path.name
    result = verify(read_only(copy), read_anchor(copy))
    assert result.ok and result.anchored and result.rows == 30


def test_checkpoints_happen_when_a_live_bot_writes_a_row_at_a_time(tmp_path):
    """The issue's run: a 4 KB database beside a 19.5 MB WAL (no checkpoint in 1,300 rows)."""
    path = tmp_path / "journal.sqlite"

    async def run() -> tuple[int, int]:
        async with Journal.open(path, "live-1", "live") as j:
            for i in range(CHECKPOINT_COMMITS * 2):
                await j.write_step([Row(i, "account", {"reason": "ORDER", "i": i, "pad": "x" * 200})])
                await j.checkpoint_if_due()  # as the executor does after each step
            return path.stat().st_size, Path(f"{path}-wal").stat().st_size

    db_size, wal_size = asyncio.run(run())
    assert db_size > 64 * 1024  # the rows reached the database file
    assert wal_size < 8 * 1024 * 1024


def test_rows_before_an_order_are_written_with_synchronous_full(tmp_path):
    async def run() -> tuple[int, int]:
        async with Journal.open(tmp_path / "j.sqlite", "live-1", "live") as j:
            await j.write_step([Row(0, "command", {"type": "PlaceOrder"})], durable=True)
            async with j._db.execute("PRAGMA synchronous") as cur:  # the writer's own connection
                full = (await cur.fetchone())[0]
            await j.write_step([Row(0, "account", {"reason": "ORDER"})])
            async with j._db.execute("PRAGMA synchronous") as cur:
                normal = (await cur.fetchone())[0]
            return full, normal

    assert asyncio.run(run()) == (2, 1)  # FULL, then NORMAL again


def test_every_row_carries_the_mode_of_its_run_and_its_hash_covers_it(tmp_path):
    path = tmp_path / "j.sqlite"

    async def run() -> None:
        async with Journal.open(path, "dry-run-1", "dry-run") as j:
            await j.write_step([Row(0, "daily", {"day": 1})])

    asyncio.run(run())
    db = read_only(path)
    assert [r[0] for r in db.execute("SELECT mode FROM entries")] == ["dry-run"]
    assert verify(db).ok
    import sqlite3

    rw = sqlite3.connect(path)
    rw.execute("UPDATE entries SET mode = 'live'")
    rw.commit()
    assert not verify(read_only(path)).ok


def test_a_journal_deleted_to_start_afresh_is_not_taken_for_a_cut_one(tmp_path):
    path = tmp_path / "bt.journal"

    async def write(run: str) -> None:
        async with Journal.open(path, run) as j:
            await j.write_step([Row(0, "log", {"message": run})])

    asyncio.run(write("first"))
    path.unlink()  # the user removes the journal, not knowing about its anchor
    asyncio.run(write("second"))
    result = verify(read_only(path), read_anchor(path))
    assert result.ok and result.anchored and result.rows == 1


def test_a_backtest_journal_marks_its_rows_as_a_backtest(journaled):
    modes = {r[0] for r in read_only(journaled).execute("SELECT DISTINCT mode FROM entries")}
    assert modes == {"backtest"}
