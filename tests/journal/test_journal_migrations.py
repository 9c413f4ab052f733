"""Old journals open in a new release: migrated in place, or given the views when read-only."""

from __future__ import annotations

import asyncio
import shutil
import sqlite3
import subprocess
from pathlib import Path

import pytest

from rulebot.journal import queries as q
from rulebot.journal.chain import GENESIS, row_hash
from rulebot.journal.encode import Row
from rulebot.journal.schema import MIGRATIONS, SCHEMA_VERSION
from rulebot.journal.verify import verify
from rulebot.journal.writer import Journal, read_only


def _old_journal(path: Path, version: int, rows: int = 3) -> None:
    """A journal as release `version` left it: its migrations and some chained rows."""
    db = sqlite3.connect(path)
    for v in range(1, version + 1):
        db.executescript(MIGRATIONS[v])
    db.execute("INSERT INTO meta VALUES ('schema_version', ?)", (str(version),))
    prev = GENESIS
    for i in range(1, rows + 1):
        values = (i, "old", i, "decision", "BTCUSDT", "r", None, "v1", '{"fired":true,"inputs":{}}')
        h = row_hash(prev, values)
        db.execute(
            "INSERT INTO entries (id, run_id, time, kind, symbol, rule, client_order_id, version, body, prev_hash, "
            "hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (*values, prev, h),
        )
        prev = h
    db.commit()
    db.close()


def _version(db: sqlite3.Connection) -> int:
    return int(db.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()[0])


def test_a_version_1_journal_is_upgraded_when_read_and_keeps_its_chain(tmp_path):
    path = tmp_path / "v1.journal"
    _old_journal(path, 1)
    db = read_only(path)
    assert _version(db) == SCHEMA_VERSION
    assert db.execute("SELECT COUNT(*) FROM decisions").fetchone()[0] == 3  # the views exist now
    assert verify(db).ok


async def test_an_old_journal_is_upgraded_when_read_from_inside_an_event_loop(tmp_path):
    """The web page reads journals from its event loop: the upgrade's own loop must not clash
    with it (it raised "asyncio.run() cannot be called from a running event loop", shown as a
    journal that cannot be read)."""
    path = tmp_path / "v1.journal"
    _old_journal(path, 1)
    db = read_only(path)
    assert _version(db) == SCHEMA_VERSION
    assert db.execute("SELECT COUNT(*) FROM decisions").fetchone()[0] == 3


def test_a_new_release_appends_to_an_old_journal_and_guards_its_tail_from_then_on(tmp_path):
    path = tmp_path / "v2.journal"
    _old_journal(path, 2)

    async def append() -> None:
        async with Journal.open(path, "new") as j:
            await j.write_step([Row(10, "log", {"message": "after the upgrade"})])

    asyncio.run(append())
    db = sqlite3.connect(path)
    assert _version(db) == SCHEMA_VERSION and verify(db).ok and verify(db).rows == 4
    db.execute("DELETE FROM entries WHERE id = 4")
    db.commit()
    assert verify(db).first_broken == 4


def test_a_journal_from_a_newer_release_is_refused_with_advice(tmp_path):
    path = tmp_path / "future.journal"
    _old_journal(path, SCHEMA_VERSION)
    db = sqlite3.connect(path)
    db.execute("UPDATE meta SET value = ? WHERE key = 'schema_version'", (str(SCHEMA_VERSION + 1),))
    db.commit()
    db.close()

    async def open_it() -> None:
        async with Journal.open(path, "r"):
            pass

    with pytest.raises(RuntimeError, match="upgrade rulebot"):
        asyncio.run(open_it())


def _make_read_only(path: Path) -> bool:
    path.chmod(0o444)
    if shutil.which("chattr"):  # root ignores file modes; the immutable flag stops it too
        subprocess.run(["chattr", "+i", str(path)], capture_output=True, check=False)
    try:
        with path.open("ab"):
            return False
    except OSError:
        return True


def test_a_read_only_old_journal_is_read_through_temporary_views(tmp_path):
    path = tmp_path / "archived.journal"
    _old_journal(path, 1)
    if not _make_read_only(path):
        pytest.skip("cannot make a file read-only here")
    try:
        db = read_only(path)
        assert _version(db) == 1  # the file was left as it was
        assert db.execute("SELECT COUNT(*) FROM decisions").fetchone()[0] == 3
        assert q.runs(db) == [] and len(q.decisions(db)) == 3  # the audit's queries work on it
        assert verify(db).ok
        db.close()
    finally:
        subprocess.run(["chattr", "-i", str(path)], capture_output=True, check=False)
        path.chmod(0o644)


@pytest.mark.parametrize("version", ["1", "2.1"])
def test_another_programs_database_with_a_meta_table_is_not_upgraded_into_a_journal(tmp_path, version):
    """A database of another program that keeps `meta(key, value)` with a schema_version (a common
    name) was taken for an old journal: `rulebot audit` wrote the journal's tables and views into
    it, or, for a version that is not a whole number, ended with exit 70."""
    from click.testing import CliRunner

    from rulebot.cli import main

    path = tmp_path / "app.db"
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE meta (key TEXT, value TEXT)")
        db.execute("INSERT INTO meta VALUES ('schema_version', ?)", (version,))
        db.execute("CREATE TABLE notes (body TEXT)")
    before = path.read_bytes()
    with pytest.raises(sqlite3.DatabaseError, match="not a rulebot journal"):
        read_only(path)
    res = CliRunner().invoke(main, ["audit", "-j", str(path), "runs"])
    assert res.exit_code == 1 and "not a rulebot journal" in res.output, res.output
    assert path.read_bytes() == before
