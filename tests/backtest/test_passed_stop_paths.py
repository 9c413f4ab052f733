"""A stop-loss or take-profit whose trigger the price has already passed when it is placed closes the
position at market (engine/exits.py `close_passed`), and the fast path gives the event path's backtest
of it: the same journal, fills and summary (the differential of test_fast_path.py)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from rulebot.backtest.result import BacktestResult
from rulebot.backtest.runner import BacktestConfig, run_backtest
from rulebot.core.enums import Market
from rulebot.engine import records as rec
from rulebot.feeds.catalog import builtin_brackets, builtin_instruments
from rulebot.journal import queries as q
from rulebot.journal.backtest_sink import RunJournal
from rulebot.journal.verify import verify
from rulebot.journal.writer import read_only
from rulebot.rulebook.compiler import compile_text
from tests.backtest.test_fast_path import both, candles

# A red candle puts the long's stop at its open above the price (refused, -2021: closed at market); a
# green one below it, where it waits. The short's take-profit at the open is passed on a red candle too.
BOOK = """\
rulebook: passed-stops
market: usdm
symbols: [BTCUSDT]
account: {leverage: 3}
timeframes: [1m]
states:
  flat: {position: none}
  long: {position: long}
  short: {position: short}
rules:
  - name: buy
    on: candle_close 1m
    in: flat
    when: time %% 600000 < 300000
    do: [{enter: {side: long, size: "0.01"}}, {%s: {price: "open@1m", working_type: contract_price}}, {goto: long}]
  - name: sell
    on: candle_close 1m
    in: flat
    when: time %% 600000 >= 300000
    do:
      - enter: {side: short, size: "0.01"}
      - take_profit: {price: "open@1m", working_type: contract_price}
      - stop_loss: {distance: 0.3%%}
      - goto: short
"""


def runner(text: str) -> Callable[[str, Callable[[object], None]], BacktestResult]:
    book = compile_text(text, "passed.yaml")
    data = candles(11, 600, 0.002, 0.01)
    instruments, brackets = builtin_instruments(Market.USDM), builtin_brackets(Market.USDM)

    def run(path: str, record: Callable[[object], None]) -> BacktestResult:
        return run_backtest(book, iter(data), instruments, brackets, BacktestConfig(path=path), on_record=record)

    return run


@pytest.mark.parametrize("kind", ["stop_loss", "take_profit"])
def test_passed_stops_close_at_market_alike_on_both_paths(kind: str) -> None:
    seen: list[object] = []
    run = runner(BOOK % kind)

    def journaled(path: str, record: Callable[[object], None]) -> BacktestResult:
        return run(path, lambda r: (seen.append(r) if path == "event" else None, record(r)))

    event, fast = both(journaled)
    assert fast.path == "fast", fast.path_reason
    passed = [r for r in seen if isinstance(r, rec.EngineNotice) and "already passed" in r.message]
    assert len(passed) >= 10, len(passed)
    # Every refused stop or take-profit closed its position: none was held on to the next entry.
    closes = [f for f in event.fills if f.purpose == "exit"]
    assert len(closes) >= len(passed)
    entries = [f for f in event.fills if f.purpose == "entry"]
    assert len(entries) - len([f for f in event.fills if f.purpose != "entry"]) in (0, 1)


@pytest.mark.parametrize("path", ["event", "fast"])
def test_a_stop_the_exchange_refused_is_rejected_in_the_backtest_journal(tmp_path: Path, path: str) -> None:
    """`audit explain` of a backtest showed the refused stop as sent and nothing more, where a dry-run's
    or a live run's journal has its REJECTED status (runtime/executor.py, `status_row`): the same row
    here, on both paths."""
    book = compile_text(BOOK % "stop_loss", "passed.yaml")
    journal = RunJournal(tmp_path / "bt.journal", book, "backtest", "sim")
    instruments, brackets = builtin_instruments(Market.USDM), builtin_brackets(Market.USDM)
    data = iter(candles(11, 600, 0.002, 0.01))
    config = BacktestConfig(path=path)
    result = run_backtest(
        book, data, instruments, brackets, config, on_record=journal.record, on_step_end=journal.end_step
    )
    journal.close()
    assert result.path == path
    db = read_only(tmp_path / "bt.journal")
    story = q.explain(db, q.decisions(db)[0]["id"])
    assert story is not None
    stop = next(o for o in story["orders"] if o["kind"] == "command" and o.get("order_type") == "STOP_MARKET")
    told = [o for o in story["orders"] if o["client_order_id"] == stop["client_order_id"] and o["kind"] != "command"]
    assert [(o["kind"], o["status"], o["reject_code"]) for o in told] == [("order", "REJECTED", -2021)]
    assert "Order would immediately trigger" in told[0]["reject_reason"]
    # ...and the engine's word on it, that its trigger had passed and it closed the position at market.
    notices = [e["message"] for e in story["engine_after"] if e["kind"] == "notice"]
    assert any(f"{stop['client_order_id']} rejected" in n and "closed at market" in n for n in notices), notices
    statuses = {o["client_order_id"]: o["status"] for o in q.orders(db)}
    assert statuses[stop["client_order_id"]] == "REJECTED"
    assert verify(db).ok
