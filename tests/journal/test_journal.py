"""The journal on a real SQLite file: a backtest's whole story, linked for `explain`, written exactly."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from decimal import Decimal
from itertools import islice
from pathlib import Path

import pytest

from rulebot.backtest.api import BacktestError, _run, backtest
from rulebot.backtest.runner import BacktestConfig
from rulebot.core.enums import Market
from rulebot.engine import records as rec
from rulebot.engine.risk import Verdict
from rulebot.feeds.catalog import builtin_brackets, builtin_instruments
from rulebot.feeds.simulated.config import preset
from rulebot.feeds.simulated.market import SimulatedMarket
from rulebot.journal import queries as q
from rulebot.journal.encode import Row, to_row
from rulebot.journal.verify import verify
from rulebot.journal.writer import Journal, SyncJournal, read_only
from rulebot.rulebook.compiler import compile_file
from rulebot.testing.shared import ARCHIVE

ROOT = Path(__file__).resolve().parents[2]
BTC_1M = ARCHIVE / "futures/um/daily/klines/BTCUSDT/1m"


def test_a_backtest_journal_has_the_whole_story_and_verifies(journaled):
    db = read_only(journaled)
    kinds = dict(db.execute("SELECT kind, COUNT(*) FROM entries GROUP BY kind").fetchall())
    for kind in ("run_start", "rulebook", "decision", "guard", "command", "order", "account", "run_stop"):
        assert kinds.get(kind, 0) > 0, kind
    run = q.runs(db)[0]
    assert run["mode"] == "backtest" and run["stopped"] >= run["started"]
    assert run["software"].startswith("rulebot ") and run["stop"]["fills"] > 0
    version = db.execute("SELECT hash, text, loaded_by FROM rulebook_versions").fetchone()
    assert version["text"] == (ROOT / "rules/ema-trend-btc.yaml").read_text() and version["loaded_by"] == "start"
    assert {d["version"] for d in q.decisions(db)} == {version["hash"]}  # every decision names its version
    assert {d["run_id"] for d in q.decisions(db)} == {run["run_id"]}
    assert verify(db).ok


def test_every_command_is_journaled_before_anything_the_venue_said_about_it(journaled):
    db = read_only(journaled)
    first: dict[str, str] = {}
    for kind, cid in db.execute(
        "SELECT kind, client_order_id FROM entries WHERE kind IN ('command', 'order', 'algo') ORDER BY id"
    ):
        first.setdefault(cid, kind)
    assert first and set(first.values()) == {"command"}


def test_fills_keep_their_fees_exactly(journaled_run):
    path, result = journaled_run
    fills = q.fills(read_only(path))
    assert len(fills) == len(result.fills) > 0
    assert all(isinstance(f["fee"], str) for f in fills)  # exact text, never a float
    # The journal's fees add up to the simulator's own ledger, to the last digit.
    assert sum(Decimal(f["fee"]) for f in fills) == result.fees_paid
    assert sum(Decimal(f["realized_pnl"]) for f in fills) == sum(f.realized_pnl for f in result.fills)


def test_explain_links_a_decision_to_its_verdicts_orders_fills_and_position(journaled):
    db = read_only(journaled)
    # The first entry whose maker-only limit order filled (others expire unfilled after 2m).
    stories = (q.explain(db, d["id"]) for d in q.decisions(db) if d["rule"] == "enter-long")
    story = next(s for s in stories if s and any(o["status"] == "FILLED" for o in s["orders"] if o["kind"] == "order"))
    assert story is not None and story["inputs"]["risk_per_trade"] == 0.01
    guards = {v["guard"] for g in story["verdicts"] for v in g["verdicts"]}
    assert {"daily_loss_cap", "exchange_filters"} <= guards
    statuses = [o["status"] for o in story["orders"] if o["kind"] == "order"]
    assert statuses[-1] == "FILLED"
    assert story["position_after"]["positions"][0]["amount"] != "0"
    assert q.explain(db, 1) is None  # row 1 is the run's start, not a decision


def test_explain_tells_only_the_state_changes_of_the_decisions_own_symbol(tmp_path):
    """On a rulebook with two symbols, `explain` of a BTCUSDT entry listed the state changes of
    every symbol up to the next decision: ETHUSDT's stop closing its position read as
    "state: long → flat (position closed)" in the BTCUSDT story, a close that never happened."""
    path = tmp_path / "two.journal"
    sink = SyncJournal(path, "r1")
    for row in (
        rec.Decision(1000, "BTCUSDT", "buy", "candle_close 1m", "flat", {}, True, "v1"),
        rec.StateChange(1000, "BTCUSDT", "flat", "long", "rule buy"),
        rec.StateChange(1500, "ETHUSDT", "long", "flat", "position closed"),
        rec.Decision(2000, "ETHUSDT", "buy", "candle_close 1m", "flat", {}, True, "v1"),
        rec.StateChange(2000, "ETHUSDT", "flat", "long", "rule buy"),
        rec.StateChange(2500, "BTCUSDT", "long", "flat", "position closed"),
        rec.Decision(3000, "BTCUSDT", "buy", "candle_close 1m", "flat", {}, True, "v1"),
    ):
        sink.append(to_row(row, "v1"))
        sink.end_step()
    sink.close()
    db = read_only(path)
    btc, eth, _ = (d["id"] for d in q.decisions(db))
    told = q.explain(db, btc)
    assert told is not None
    assert [(s["symbol"], s["from_state"], s["to_state"]) for s in told["state_changes"]] == [
        ("BTCUSDT", "flat", "long"),
        ("BTCUSDT", "long", "flat"),  # its own close, after ETHUSDT's decision
    ]
    told = q.explain(db, eth)
    assert told is not None
    assert [(s["symbol"], s["to_state"]) for s in told["state_changes"]] == [("ETHUSDT", "long")]


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
    assert [r[0] for r in db.execute("SELECT DISTINCT run_id FROM entries ORDER BY id")] == ["r1", "r2"]
    assert verify(db).ok


def test_the_sync_sink_writes_every_row_once_in_order(tmp_path):
    path = tmp_path / "s.journal"
    sink = SyncJournal(path, "bt", batch=7)
    for i in range(100):
        sink.append(Row(i, "log", {"i": i}))
        sink.end_step()
    sink.close()
    db = read_only(path)
    assert [json.loads(b)["i"] for (b,) in db.execute("SELECT body FROM entries ORDER BY id")] == list(range(100))
    assert verify(db).ok


def test_record_kinds_are_encoded_exactly():
    row = to_row(
        rec.GuardRecord(
            5, "BTCUSDT", "r", "enter long", (Verdict("resize", "max_leverage", "cut", Decimal("0.123")),), "c9"
        )
    )
    assert row is not None and row.kind == "guard" and row.client_order_id == "c9"
    assert row.body["verdicts"][0]["quantity"] == "0.123"
    assert to_row(object()) is None


def test_the_run_stops_at_the_last_event_and_a_failed_run_still_closes_its_journal(journaled_run, tmp_path):
    path, result = journaled_run
    assert q.runs(read_only(path))[0]["stopped"] == result.end_time

    book = compile_file(str(ROOT / "rules/ema-trend-btc.yaml"))

    def feed_that_breaks() -> Iterator[object]:
        yield from islice(SimulatedMarket(preset("calm"), seed=3), 20_000)
        raise ValueError("the feed broke")

    broken = tmp_path / "broken.journal"
    with pytest.raises(ValueError, match="the feed broke"):
        _run(
            book,
            feed_that_breaks(),
            builtin_instruments(Market.USDM),
            builtin_brackets(Market.USDM),
            BacktestConfig(),
            None,
            None,
            broken,
            "backtest",
            "test",
        )
    db = read_only(broken)
    run = q.runs(db)[0]
    assert run["stop"] == {"aborted": True, "error": "ValueError: the feed broke"} and verify(db).ok


def test_a_backtest_will_not_extend_a_tampered_journal(copy_of):
    path, db = copy_of("tampered")
    db.execute("DELETE FROM entries WHERE id = (SELECT MAX(id) FROM entries)")
    db.commit()
    with pytest.raises(BacktestError, match=r"cannot journal to .*Nothing was written"):
        backtest(str(ROOT / "rules/ema-trend-btc.yaml"), [str(BTC_1M)], journal_path=path)
