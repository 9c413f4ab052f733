"""The journal on a real SQLite file: chained rows, tamper detection, migrations, crash safety, no secrets."""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from decimal import Decimal
from pathlib import Path

import pytest

from rulebot.backtest.api import backtest
from rulebot.core.commands import PlaceOrder
from rulebot.core.enums import OrderType, Side
from rulebot.engine import records as rec
from rulebot.engine.risk import Verdict
from rulebot.journal import queries as q
from rulebot.journal.encode import Row, to_row
from rulebot.journal.schema import MIGRATIONS
from rulebot.journal.verify import verify
from rulebot.journal.writer import Journal, SyncJournal, read_only

ROOT = Path(__file__).resolve().parents[2]
BTC_1M = ROOT.parent / "shared/data/binance-vision/futures/um/daily/klines/BTCUSDT/1m"


@pytest.fixture(scope="module")
def journaled(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("j") / "bt.journal"
    backtest(str(ROOT / "rules/ema-trend-btc.yaml"), [str(BTC_1M)], journal_path=path)
    return path


def test_a_backtest_journal_has_the_whole_story_and_verifies(journaled):
    db = read_only(journaled)
    kinds = dict(db.execute("SELECT kind, COUNT(*) FROM entries GROUP BY kind").fetchall())
    for kind in ("run_start", "rulebook", "decision", "guard", "command", "order", "account", "run_stop"):
        assert kinds.get(kind, 0) > 0, kind
    run = q.runs(db)[0]
    assert run["mode"] == "backtest" and run["stopped"] >= run["started"]
    version = db.execute("SELECT hash, text FROM rulebook_versions").fetchone()
    assert version["text"] == (ROOT / "rules/ema-trend-btc.yaml").read_text()
    assert {d["version"] for d in q.decisions(db)} == {version["hash"]}  # every decision names its version
    assert verify(db).ok


def test_explain_links_a_decision_to_its_verdicts_orders_fills_and_position(journaled):
    db = read_only(journaled)
    entry = next(d for d in q.decisions(db) if d["rule"] == "enter-long")
    story = q.explain(db, entry["id"])
    assert story is not None and story["inputs"]["risk_per_trade"] == 0.01
    guards = {v["guard"] for g in story["verdicts"] for v in g["verdicts"]}
    assert {"daily_loss_cap", "exchange_filters"} <= guards
    statuses = [o["status"] for o in story["orders"] if o["kind"] == "order"]
    assert statuses[-1] == "FILLED"
    assert story["position_after"]["positions"][0]["amount"] != "0"


def _copy(src: Path, dst: Path) -> sqlite3.Connection:
    with sqlite3.connect(src) as a, sqlite3.connect(dst) as b:
        a.backup(b)
    return sqlite3.connect(dst)


def test_verify_names_the_first_edited_deleted_or_inserted_row(journaled, tmp_path):
    db = _copy(journaled, tmp_path / "edited")
    db.execute("UPDATE entries SET time = time + 1 WHERE id = 20")
    db.commit()
    r = verify(db)
    assert not r.ok and r.first_broken == 20 and "edited" in r.problem

    db = _copy(journaled, tmp_path / "deleted")
    db.execute("DELETE FROM entries WHERE id = 15")
    db.commit()
    r = verify(db)
    assert not r.ok and r.first_broken == 16 and "deleted" in r.problem

    db = _copy(journaled, tmp_path / "inserted")  # shift rows up to make room, as a forger would
    db.execute("UPDATE entries SET id = id + 1000000 WHERE id >= 30")
    db.execute("UPDATE entries SET id = id - 1000000 + 1 WHERE id >= 1000000")
    prev = db.execute("SELECT hash FROM entries WHERE id = 29").fetchone()[0]
    db.execute("INSERT INTO entries VALUES (30, 'x', 0, 'log', '', '', NULL, '', '{}', ?, 'f00')", (prev,))
    db.commit()
    r = verify(db)
    assert not r.ok and r.first_broken == 30


def test_an_old_journal_is_upgraded_when_opened(tmp_path):
    path = tmp_path / "v1.journal"
    db = sqlite3.connect(path)
    db.executescript(MIGRATIONS[1])
    db.execute("INSERT INTO meta VALUES ('schema_version', '1')")
    db.commit()
    db.close()
    upgraded = read_only(path)
    assert upgraded.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()[0] == "2"
    assert upgraded.execute("SELECT COUNT(*) FROM decisions").fetchone()[0] == 0  # the views exist now


def test_secrets_never_reach_the_journal(tmp_path):
    secret, key, sig = "s3cr3tS3cr3t", "AKIAk3yk3yk3y", "deadbeefsignature"
    path = tmp_path / "secret.journal"
    sink = SyncJournal(path, "live-1")
    cmd = PlaceOrder("c1", "BTCUSDT", Side.BUY, OrderType.MARKET, Decimal(1), time=1)
    sink.append(to_row(cmd))
    sink.append(
        Row(
            2,
            "error",
            {
                "request": {"apiKey": key, "signature": sig, "symbol": "BTCUSDT"},
                "headers": {"X-MBX-APIKEY": key},
                "api_secret": secret,
                "listenKey": "lk",
            },
        )
    )
    sink.close()
    raw = path.read_bytes() + (
        path.with_name(path.name + "-wal").read_bytes() if path.with_name(path.name + "-wal").exists() else b""
    )
    for s in (secret, key, sig):
        assert s.encode() not in raw
    body = read_only(path).execute("SELECT body FROM entries WHERE kind = 'error'").fetchone()[0]
    assert "[redacted]" in body and "BTCUSDT" in body


def test_async_writes_chain_across_reopen(tmp_path):
    path = tmp_path / "a.journal"

    async def write(run: str, n: int) -> None:
        async with Journal.open(path, run) as j:
            for i in range(n):
                await j.write_step([Row(i, "log", {"i": i}), Row(i, "notice", {"i": i})])

    asyncio.run(write("r1", 5))
    asyncio.run(write("r2", 5))
    db = read_only(path)
    assert db.execute("SELECT COUNT(*) FROM entries").fetchone()[0] == 20
    assert verify(db).ok


WRITER = textwrap.dedent("""
    import sys
    from rulebot.engine import records as rec
    from rulebot.engine.risk import Verdict
    from rulebot.journal.encode import to_row
    from rulebot.journal.writer import SyncJournal
    sink = SyncJournal(sys.argv[1], "crash", batch=50)
    i = 0
    print("ready", flush=True)
    while True:
        i += 1
        sink.append(to_row(rec.Decision(i, "BTCUSDT", "r", "trade", "flat", {"price": 1.0}, True, "v")))
        sink.append(to_row(rec.GuardRecord(i, "BTCUSDT", "r", "enter", (Verdict("allow", "g", "ok"),), f"c{i}")))
        sink.end_step()
""")


def test_sigkill_at_any_moment_leaves_a_journal_that_verifies_with_no_partial_decision(tmp_path):
    path = tmp_path / "crash.journal"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    for delay in (0.15, 0.3, 0.45):
        proc = subprocess.Popen([sys.executable, "-c", WRITER, str(path)], stdout=subprocess.PIPE, env=env)
        assert proc.stdout is not None and proc.stdout.readline().strip() == b"ready"
        time.sleep(delay)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        db = read_only(path)
        assert verify(db).ok
        n_dec = db.execute("SELECT COUNT(*) FROM entries WHERE kind = 'decision'").fetchone()[0]
        n_guard = db.execute("SELECT COUNT(*) FROM entries WHERE kind = 'guard'").fetchone()[0]
        assert n_dec == n_guard and n_dec > 0
        last = db.execute("SELECT kind FROM entries ORDER BY id DESC LIMIT 1").fetchone()[0]
        assert last == "guard"  # every step ends with its verdicts
        db.close()


def test_record_kinds_are_encoded_exactly():
    row = to_row(
        rec.GuardRecord(
            5, "BTCUSDT", "r", "enter long", (Verdict("resize", "max_leverage", "cut", Decimal("0.123")),), "c9"
        )
    )
    assert row is not None and row.kind == "guard" and row.client_order_id == "c9"
    assert row.body["verdicts"][0]["quantity"] == "0.123"
