"""A rule's `cancel: all` takes the position's stop with it: the protective-stop guard's countdown starts
then, and its stop covers the position `protective_stop_within` later, alike on the fast path and the
event path (the differential of test_fast_path.py). The countdown did not start, and the position sat
without a stop until it was closed."""

from __future__ import annotations

from rulebot.engine import records as rec
from rulebot.rulebook.compiler import compile_text
from tests.backtest.test_fast_path import book_run, both, candles

BOOK = """\
rulebook: stop-lost
market: usdm
symbols: [BTCUSDT]
account: {leverage: 3}
timeframes: [1m]
states:
  flat: {position: none}
  long: {position: long}
  bare: {position: long}
rules:
  - name: buy
    on: candle_close 1m
    in: flat
    when: time % 600000 < 120000
    do: [{enter: {side: long, size: "0.01"}}, {stop_loss: {distance: 20%}}, {goto: long}]
  - name: tidy
    on: candle_close 1m
    in: long
    when: "true"
    do: [{cancel: all}, {goto: bare}]
  - name: out
    on: candle_close 1m
    in: bare
    when: time % 600000 >= 480000
    do: [exit, {goto: flat}]
"""


def test_a_cancelled_stop_is_replaced_by_the_guards_alike_on_both_paths() -> None:
    seen: list[object] = []
    run = book_run(compile_text(BOOK, "lost.yaml"), candles(5, 300, 0.002, 0.01), seen)

    _, fast = both(run)
    assert fast.path == "fast", fast.path_reason
    lost = [r for r in seen if isinstance(r, rec.EngineNotice) and r.kind == "stop-lost"]
    guards = [r for r in seen if isinstance(r, rec.GuardRecord) and r.rule == "protective_stop"]
    assert len(lost) >= 20, len(lost)
    assert len(guards) == len(lost)
    for notice, guard in zip(lost, guards, strict=True):
        assert "was cancelled (rule tidy: cancel)" in notice.message, notice.message
        # At the first moment of the candle walk (open, high and low 20 s apart, close) past the countdown.
        assert 10_000 <= guard.time - notice.time <= 20_000, guard.time - notice.time
        assert "10s after its stop" in guard.verdicts[0].reason, guard.verdicts[0].reason
