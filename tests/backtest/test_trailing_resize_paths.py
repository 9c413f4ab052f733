"""A trailing stop resized to a grown position, at the exchange's limit on stop orders, in a backtest.

The rulebook holds as many stop orders as Binance allows on a symbol (10: the trailing stop, eight
take-profits, the daily loss cap's stop), then adds to the position: the simulator refuses the
resized trailing stop (-4045), as it refuses the protective-stop guard's. The small trailing stop
makes room for it (engine/stop_cover.py), on the event path and the fast path alike.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal as D

from rulebot.backtest.result import BacktestResult
from rulebot.backtest.runner import BacktestConfig, run_backtest
from rulebot.core.commands import CancelOrder
from rulebot.core.enums import Market
from rulebot.engine import records as rec
from rulebot.feeds.catalog import builtin_brackets, builtin_instruments
from rulebot.rulebook.compiler import compile_text
from tests.backtest.test_fast_path import both, candles

TAKES = "\n".join(f"      - take_profit: {{price: 'entry_price * {1.5 + i / 10:.1f}', tag: tp{i}}}" for i in range(8))
BOOK = f"""
rulebook: full
market: usdm
symbols: [BTCUSDT]
account: {{margin: isolated, leverage: 5}}
timeframes: [1m]
states:
  flat: {{position: none}}
  long: {{position: long}}
  added: {{position: long}}
rules:
  - name: buy
    on: candle_close 1m
    in: flat
    when: "true"
    do:
      - enter: {{side: long, size: '10%'}}
      - trailing_stop: {{callback: 5%}}
{TAKES}
      - goto: long
  - name: add
    on: candle_close 1m
    in: long
    when: "true"
    do: [{{enter: {{side: long, size: '10%'}}}}, {{goto: added}}]
"""


def test_a_resize_refused_for_want_of_room_makes_room_alike_on_both_paths() -> None:
    book = compile_text(BOOK, "full.yaml")
    data = candles(11, 240, 0.001, 0.0)
    instruments, brackets = builtin_instruments(Market.USDM), builtin_brackets(Market.USDM)

    def run(path: str, record: Callable[[object], None]) -> BacktestResult:
        return run_backtest(book, iter(data), instruments, brackets, BacktestConfig(path=path), on_record=record)

    seen: list[object] = []

    def keep(path: str, record: Callable[[object], None]) -> BacktestResult:
        return run(path, lambda r: (record(r), seen.append(r) if path == "event" else None))

    event, _ = both(keep)
    notices = [r.message for r in seen if isinstance(r, rec.EngineNotice) and r.kind == "order-rejected"]
    assert any("-4045" in m and "cancelled to make room" in m for m in notices), notices
    made = [c for c in seen if isinstance(c, CancelOrder) and "no room for another stop (-4045)" in c.reason]
    assert len(made) == 1
    again = [r for r in seen if isinstance(r, rec.GuardRecord) and "makes room" in r.intent]
    assert len(again) == 1 and again[0].intent.startswith("trailing_stop ")
    assert not [r for r in seen if isinstance(r, rec.GuardRecord) and r.rule == "protective_stop"]
    assert event.fills and all(f.quantity > D(0) for f in event.fills)
