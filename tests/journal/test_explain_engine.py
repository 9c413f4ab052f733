"""`explain` of a decision tells what the engine did on its own for the symbol afterwards: the
protective stop it placed, the daily-cap stop and its re-pricing, a refused stop closed at market."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rulebot.backtest.api import backtest
from rulebot.engine import records as rec
from rulebot.engine.risk import Verdict
from rulebot.journal import queries as q
from rulebot.journal.encode import to_row
from rulebot.journal.writer import SyncJournal, read_only
from rulebot.testing.shared import ARCHIVE

BTC_1M = ARCHIVE / "futures/um/daily/klines/BTCUSDT/1m"

# An entry with no stop of its own: the engine's protective-stop guard places one 10 s later.
NO_STOP = """
rulebook: no-stop
market: usdm
symbols: [BTCUSDT]
account: {margin: isolated, position_mode: one_way, leverage: 5}
timeframes: [1m, 15m]
indicators:
  ema_fast: ema(close@15m, 21)
  ema_slow: ema(close@15m, 55)
rules:
  - name: enter
    on: candle_close 15m
    in: flat
    when: ema_fast > ema_slow
    do:
      - enter: {side: long, size: 0.1, order: market}
  - name: leave
    on: candle_close 15m
    in: long
    when: ema_fast < ema_slow
    do:
      - exit: {order: market}
risk:
  daily_loss_cap: 3%
"""


@pytest.fixture(scope="module")
def no_stop_journal(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("no-stop")
    (folder / "no-stop.yaml").write_text(NO_STOP)
    path = folder / "bt.journal"
    backtest(str(folder / "no-stop.yaml"), [str(BTC_1M)], journal_path=path)
    return path


def test_explain_of_an_entry_tells_the_protective_stop_the_engine_placed(no_stop_journal: Path) -> None:
    """The entry's explain listed its own guards and its order only: the 5% stop the protective-stop
    guard placed 10 s later, and the daily-cap stop, were in the journal but in no decision's story."""
    db = read_only(no_stop_journal)
    entry = next(d for d in q.decisions(db) if d["rule"] == "enter")
    story = q.explain(db, entry["id"])
    assert story is not None
    engine = story["engine_after"]
    assert [e["id"] for e in engine] == sorted(e["id"] for e in engine)  # in the order it happened
    guard = next(e for e in engine if e["kind"] == "guard" and e["rule"] == "protective_stop")
    assert entry["time"] < guard["time"] <= entry["time"] + 60_000  # 10 s on, at the next price it saw
    assert "no stop on the exchange 10s after it opened" in guard["verdicts"][0]["reason"]
    placed = next(e for e in engine if e["kind"] == "command" and e["client_order_id"] == guard["client_order_id"])
    assert placed["type"] == "PlaceOrder" and placed["order_type"] == "STOP_MARKET" and placed["close_position"]
    assert any(e["kind"] == "algo" and e["client_order_id"] == guard["client_order_id"] for e in engine)
    assert any(e["kind"] == "guard" and e["rule"] == "daily_loss_cap" for e in engine)
    # Nothing told twice: the decision's own verdicts and orders are not the engine's.
    own = {v["id"] for v in story["verdicts"]} | {o["id"] for o in story["orders"]}
    assert own and not own & {e["id"] for e in engine}
    # Only up to the symbol's next decision: the exit's cancels of the stops are the exit's story.
    following = next(d for d in q.decisions(db) if d["id"] > entry["id"])
    assert all(e["id"] < following["id"] for e in engine)
    exit_story = q.explain(db, following["id"])
    assert exit_story is not None
    cancels = [e for e in exit_story["engine_after"] if e["kind"] == "command" and e["type"] == "CancelOrder"]
    assert guard["client_order_id"] in {c["client_order_id"] for c in cancels}
    assert json.dumps(story, default=str)  # the JSON answer carries it


def test_explain_tells_a_refused_stop_and_the_close_at_market_in_time_order(tmp_path: Path) -> None:
    """A stop the exchange refused and the engine's close at market, written by hand as the engine
    journals them, on two symbols: each symbol's story has only its own, and the account's notices."""
    sink = SyncJournal(tmp_path / "j.journal", "r1")
    refused = (Verdict("act", "protective_stop", "the long position had no stop on the exchange 10s after it opened"),)
    for row in (
        rec.Decision(1000, "BTCUSDT", "buy", "candle_close 1m", "flat", {}, True, "v1"),
        rec.GuardRecord(11_000, "BTCUSDT", "protective_stop", "protective stop 95000", refused, "s-1"),
        rec.EngineNotice(11_000, "BTCUSDT", "order-rejected", "s-1 refused: Order would immediately trigger"),
        rec.EngineNotice(11_000, "ETHUSDT", "order-rejected", "e-1 refused"),
        rec.EngineNotice(12_000, "", "daily-loss-cap", "daily loss reached the cap: positions flattened"),
        rec.Decision(13_000, "BTCUSDT", "buy", "candle_close 1m", "flat", {}, True, "v1"),
        rec.EngineNotice(14_000, "BTCUSDT", "replace-stop", "after the next decision"),
    ):
        sink.append(to_row(row, "v1"))
        sink.end_step()
    sink.close()
    db = read_only(tmp_path / "j.journal")
    first = q.decisions(db)[0]["id"]
    story = q.explain(db, first)
    assert story is not None
    told = [(e["time"], e["kind"], e["rule"] or e.get("notice")) for e in story["engine_after"]]
    assert told == [
        (11_000, "guard", "protective_stop"),
        (11_000, "notice", "order-rejected"),
        (12_000, "notice", "daily-loss-cap"),  # the account's: every symbol's
    ]
    assert [e.get("message") for e in story["engine_after"] if e["kind"] == "notice"] == [
        "s-1 refused: Order would immediately trigger",
        "daily loss reached the cap: positions flattened",
    ]


def test_explain_reads_only_the_rows_of_its_window(tmp_path: Path) -> None:
    """On a journal of 200,000 rows, explain of a decision near its end reads the few rows after it by
    id, with the indexes, never the table: SQLite's count of the instructions it ran says so."""
    sink = SyncJournal(tmp_path / "big.journal", "r1")
    for i in range(100_000):
        sink.append(to_row(rec.EngineNotice(i, "ETHUSDT", "note", "x"), "v1"))
        sink.append(to_row(rec.Decision(i, "ETHUSDT", "buy", "candle_close 1m", "flat", {}, True, "v1"), "v1"))
    for row in (
        rec.Decision(200_000, "BTCUSDT", "buy", "candle_close 1m", "flat", {}, True, "v1"),
        rec.EngineNotice(200_001, "BTCUSDT", "replace-stop", "the stop is replaced"),
        rec.Decision(200_002, "BTCUSDT", "buy", "candle_close 1m", "flat", {}, True, "v1"),
    ):
        sink.append(to_row(row, "v1"))
    sink.end_step()
    sink.close()
    db = read_only(tmp_path / "big.journal")
    ran = [0]

    def count() -> int:
        ran[0] += 1
        return 0

    db.set_progress_handler(count, 1000)
    story = q.explain(db, 200_001)
    assert story is not None and [e["message"] for e in story["engine_after"]] == ["the stop is replaced"]
    assert ran[0] < 50, f"{ran[0]}k SQLite instructions for a window of one row"
