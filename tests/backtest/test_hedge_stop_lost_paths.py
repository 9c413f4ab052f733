"""Hedge mode, backtest: a rule's `cancel: all` takes both legs' stops (a long and a short leg of one
size: the position nets to 0); each leg gets the protective-stop guard's stop `protective_stop_within`
later, on its own leg and side, alike on the event path and the auto path (the fast path refuses hedge
mode). The guard's countdown was the symbol's: its stop went on the long leg, and the short leg sat
without a stop until it was closed (~6 min a trade)."""

from __future__ import annotations

from rulebot.engine import records as rec
from rulebot.rulebook.compiler import compile_text
from tests.backtest.test_fast_path import book_run, both, candles

BOOK = """\
rulebook: hedge-stop-lost
market: usdm
symbols: [BTCUSDT]
account: {leverage: 3, position_mode: hedge}
timeframes: [1m]
states:
  flat: {position: none}
  long: {position: long}
  both: {position: any}
  bare: {position: any}
rules:
  - name: buy
    on: candle_close 1m
    in: flat
    when: time % 600000 < 120000
    do: [{enter: {side: long, size: "0.01"}}, {stop_loss: {distance: 20%}}, {goto: long}]
  - name: sell
    on: candle_close 1m
    in: long
    when: "true"
    do: [{enter: {side: short, size: "0.01"}}, {stop_loss: {distance: 20%}}, {goto: both}]
  - name: tidy
    on: candle_close 1m
    in: both
    when: "true"
    do: [{cancel: all}, {goto: bare}]
  - name: out
    on: candle_close 1m
    in: bare
    when: time % 600000 >= 480000
    do: [exit, {goto: flat}]
"""


def test_each_leg_of_a_hedge_gets_the_guards_stop_after_a_cancel_alike_on_both_paths() -> None:
    seen: list[object] = []
    run = book_run(compile_text(BOOK, "hedge-lost.yaml"), candles(5, 300, 0.002, 0.01), seen)

    event, _ = both(run, "auto")
    lost = [r for r in seen if isinstance(r, rec.EngineNotice) and r.kind == "stop-lost"]
    guards = [r for r in seen if isinstance(r, rec.GuardRecord) and r.rule == "protective_stop"]
    assert len(lost) >= 20 and len(lost) % 2 == 0, len(lost)
    assert len(guards) == len(lost)
    placed = {r.client_order_id: r for r in seen if hasattr(r, "position_side") and hasattr(r, "client_order_id")}
    legs = []
    for notice, guard in zip(lost, guards, strict=True):
        assert "was cancelled (rule tidy: cancel)" in notice.message, notice.message
        assert 10_000 <= guard.time - notice.time <= 20_000, guard.time - notice.time
        cmd = placed[guard.client_order_id]
        legs.append((cmd.position_side.value, cmd.side.value))
    assert legs == [("LONG", "SELL"), ("SHORT", "BUY")] * (len(lost) // 2)
    stops = [f for f in event.fills if f.purpose == "protective"]
    assert stops == [], stops  # 20% away: none triggers
