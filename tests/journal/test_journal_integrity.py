"""Tamper evidence and crash safety: verify names the first broken row; SIGKILL leaves whole steps."""

from __future__ import annotations

import asyncio
import os
import random
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from rulebot.journal.chain import COLUMNS, hashed, row_hash
from rulebot.journal.encode import Row
from rulebot.journal.verify import verify
from rulebot.journal.writer import Journal, JournalIntegrityError, read_only

ROOT = Path(__file__).resolve().parents[2]
_COLS = ", ".join((*COLUMNS, "prev_hash", "hash"))


def test_a_journal_as_written_verifies(journaled):
    result = verify(read_only(journaled))
    assert result.ok and result.rows > 20 and result.first_broken is None


def test_verify_names_the_first_edited_deleted_or_inserted_row(copy_of):
    _, db = copy_of("edited")
    db.execute("UPDATE entries SET time = time + 1 WHERE id = 20")
    db.commit()
    r = verify(db)
    assert not r.ok and r.first_broken == 20 and "edited" in r.problem

    _, db = copy_of("deleted")
    db.execute("DELETE FROM entries WHERE id = 15")
    db.commit()
    r = verify(db)
    assert not r.ok and r.first_broken == 16 and "deleted" in r.problem

    _, db = copy_of("inserted")  # shift rows up to make room, as a forger would
    db.execute("UPDATE entries SET id = id + 1000000 WHERE id >= 30")
    db.execute("UPDATE entries SET id = id - 1000000 + 1 WHERE id >= 1000000")
    prev = db.execute("SELECT hash FROM entries WHERE id = 29").fetchone()[0]
    db.execute(f"INSERT INTO entries ({_COLS}) VALUES (30, 'x', 0, 'log', '', '', NULL, '', '{{}}', ?, 'f00')", (prev,))
    db.commit()
    r = verify(db)
    assert not r.ok and r.first_broken == 30


def _last_id(db) -> int:
    return int(db.execute("SELECT MAX(id) FROM entries").fetchone()[0])


def test_rows_cut_off_the_end_are_detected(copy_of):
    _, db = copy_of("truncated")
    last = _last_id(db)
    db.execute("DELETE FROM entries WHERE id > ?", (last - 3,))
    db.commit()
    r = verify(db)
    assert not r.ok and r.first_broken == last - 2 and "deleted from the end" in r.problem


def test_rows_appended_with_a_valid_chain_are_detected(copy_of):
    _, db = copy_of("appended")
    last = _last_id(db)
    prev = db.execute("SELECT hash FROM entries WHERE id = ?", (last,)).fetchone()[0]
    values = (last + 1, "forged", 0, "log", "", "", None, "", '{"message":"all fine"}')
    db.execute(f"INSERT INTO entries ({_COLS}) VALUES ({', '.join('?' * 11)})", (*values, prev, row_hash(prev, values)))
    db.commit()
    r = verify(db)
    assert not r.ok and r.first_broken == last + 1 and "added" in r.problem


def test_an_edit_with_the_chain_recomputed_after_it_is_still_detected(copy_of):
    _, db = copy_of("rechained")
    db.execute("UPDATE entries SET body = '{}' WHERE id = 10")
    prev = db.execute("SELECT hash FROM entries WHERE id = 9").fetchone()[0]
    query = f"SELECT {', '.join(COLUMNS)}, mode FROM entries WHERE id >= 10 ORDER BY id"
    for *row, mode in db.execute(query).fetchall():
        new = row_hash(prev, hashed(row, mode))  # as the writer hashes: its mode too
        db.execute("UPDATE entries SET prev_hash = ?, hash = ? WHERE id = ?", (prev, new, row[0]))
        prev = new
    db.commit()
    r = verify(db)
    assert not r.ok and "recomputed" in r.problem


def test_the_writer_refuses_to_extend_a_journal_whose_tail_was_removed(copy_of):
    path, db = copy_of("refused")
    db.execute("DELETE FROM entries WHERE id = ?", (_last_id(db),))
    db.commit()
    before = _last_id(db)

    async def append() -> None:
        async with Journal.open(path, "next") as j:
            await j.write(Row(0, "log", {"message": "hello"}))

    with pytest.raises(JournalIntegrityError, match="Nothing was written") as err:
        asyncio.run(append())
    assert "audit" in str(err.value) and "new journal" in str(err.value)
    assert _last_id(db) == before and not verify(db).ok  # the evidence is still there


WRITER = textwrap.dedent("""
    import sys
    from rulebot.engine import records as rec
    from rulebot.engine.risk import Verdict
    from rulebot.journal.encode import to_row
    from rulebot.journal.writer import SyncJournal
    sink = SyncJournal(sys.argv[1], sys.argv[2], batch=50)
    i = 0
    print("ready", flush=True)
    while True:
        i += 1
        sink.append(to_row(rec.Decision(i, "BTCUSDT", "r", "trade", "flat", {"price": 1.0}, True, "v")))
        sink.append(to_row(rec.GuardRecord(i, "BTCUSDT", "r", "enter", (Verdict("allow", "g", "ok"),), f"c{i}")))
        sink.append(to_row(rec.StateChange(i, "BTCUSDT", "flat", "long", "r")))
        sink.end_step()
""")


def test_sigkill_at_any_moment_leaves_a_journal_that_verifies_with_no_partial_decision(tmp_path):
    path = tmp_path / "crash.journal"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    moments = random.Random().sample(range(5, 45), 3)  # hundredths of a second after the writer is up
    rows_before = 0
    for n, moment in enumerate(moments):
        proc = subprocess.Popen([sys.executable, "-c", WRITER, str(path), f"run{n}"], stdout=subprocess.PIPE, env=env)
        assert proc.stdout is not None and proc.stdout.readline().strip() == b"ready"
        time.sleep(moment / 100)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        db = read_only(path)
        result = verify(db)
        assert result.ok, (moment, result.problem)
        assert result.rows > rows_before  # each run got something durable in before it died
        rows_before = result.rows
        steps = db.execute(
            "SELECT run_id, time, GROUP_CONCAT(kind, ' ') FROM (SELECT * FROM entries ORDER BY id) "
            "GROUP BY run_id, time"
        ).fetchall()
        assert {kinds for _, _, kinds in steps} == {"decision guard state"}, moment  # whole steps only
        db.close()


def test_a_row_the_file_cannot_decode_is_named_as_damage_not_a_crash(copy_of):
    # A flipped bit in a text column (a bad disk, a copy cut short) leaves bytes that are not
    # UTF-8: SQLite refuses to hand the row over, and verify must report that row as broken.
    _, db = copy_of("bitrot")
    db.execute("UPDATE entries SET mode = CAST(X'6261ff6b' AS TEXT) WHERE id = 12")
    db.commit()
    r = verify(db)
    assert not r.ok and r.first_broken == 12 and r.rows == 11
    assert "damaged" in r.problem and "UTF-8" in r.problem
