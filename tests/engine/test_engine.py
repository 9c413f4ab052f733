"""The engine with the real exchange simulator: dispatch, entries, stops, states, guards."""

from __future__ import annotations

from decimal import Decimal

from rulebot.core.commands import CancelOrder, PlaceOrder
from rulebot.core.events import CandleClosed
from rulebot.engine import records as rec
from rulebot.engine.engine import Engine
from rulebot.rulebook.compiler import compile_text

from .conftest import T0, backtest, holding, trades

HEAD = """\
rulebook: t
market: usdm
symbols: [ADAUSDT]
timeframes: [1m]
account: {leverage: 5}
"""


def of(records, kind):
    return [r for r in records if isinstance(r, kind)]


def test_crossover_fires_once_on_the_candle_where_the_cross_happens(usdm):
    text = (
        HEAD
        + """\
indicators:
  fast: sma(close@1m, 2)
  slow: sma(close@1m, 4)
rules:
  - name: cross
    on: candle_close 1m
    when: crossover(fast, slow)
    do: [{log: "cross at {close@1m}"}]
"""
    )
    prices = [100, 100, 100, 100, 100, 99, 98, 97, 99, 103, 106, 107, 108]
    _, records = backtest(text, trades(prices), usdm)
    logs = [r.message for r in of(records, rec.LogLine)]
    assert logs == ["cross at 103"]


def test_entry_then_stop_placed_on_fill_then_stop_out_returns_to_flat(usdm):
    text = (
        HEAD
        + """\
rules:
  - name: buy
    on: trade
    in: flat
    when: price >= 100
    do:
      - enter: {side: long, size: 100}
      - stop_loss: {distance: 2%}
      - goto: long
  - name: never
    on: trade
    in: long
    when: price > 1000000
    do: [exit]
"""
    )
    result, records = backtest(text, trades([100, 100, 99.5, 97, 96, 100]), usdm)
    purposes = [(f.purpose, f.side, f.quantity) for f in result.fills[:2]]
    assert purposes == [("entry", "BUY", Decimal("100")), ("stop_loss", "SELL", Decimal("100"))]
    stop_fill = result.fills[1]
    assert stop_fill.price <= Decimal("98.00")  # triggered at the 98.00 stop, filled at or below it
    changes = [(s.from_state, s.to_state, s.why) for s in of(records, rec.StateChange)]
    assert changes[0] == ("flat", "long", "rule buy")
    assert ("long", "flat", "position closed") in changes
    # back in flat, the rule is live again: a new entry happened at 100
    assert result.end_equity < Decimal(10_000)


def test_money_identity_holds_exactly(usdm):
    text = (
        HEAD
        + """\
rules:
  - name: buy
    on: trade
    in: flat
    when: price < 100
    do: [{enter: {side: long, size: 500}}, {stop_loss: {distance: 5%}}, {goto: long}]
  - {name: sell, on: trade, in: long, when: price > 102, do: [exit, {cancel: all}, {goto: flat}]}
"""
    )
    result, _ = backtest(text, trades([101, 99, 100, 103, 101, 98, 104, 99, 101, 103]), usdm)
    assert len(result.fills) >= 4
    realized = sum((f.realized_pnl for f in result.fills), Decimal(0))
    fees = sum((f.fee for f in result.fills), Decimal(0))
    assert result.end_equity == Decimal(10_000) + realized - fees - result.funding_paid


def test_the_leverage_guard_resizes_an_oversized_entry(usdm):
    text = (
        HEAD
        + """\
rules:
  - name: buy
    on: trade
    in: flat
    do: [{enter: {side: long, size: 100000}}, {stop_loss: {distance: 2%}}, {goto: long}]
  - {name: out, on: trade, in: long, when: price > 1000000, do: [exit]}
"""
    )
    result, records = backtest(text, trades([100, 100, 100]), usdm, balance=1000)
    (entry,) = [f for f in result.fills if f.purpose == "entry"]
    assert entry.quantity * entry.price <= Decimal(1000) * 5
    (resize,) = [v for g in of(records, rec.GuardRecord) for v in g.verdicts if v.kind == "resize"]
    assert resize.guard == "max_leverage"


def test_entries_on_stale_data_are_refused_but_exits_go_out(usdm):
    text = (
        HEAD
        + """\
risk: {stale_after: 2s}
rules:
  - name: buy
    on: every 1m
    in: flat
    do: [{enter: {side: long, size: 100}}, {stop_loss: {distance: 2%}}, {goto: long}]
  - {name: out, on: trade, in: long, do: [exit, {goto: flat}]}
"""
    )
    # trades every 5 minutes: each `every 1m` timer sees data older than 2 s
    result, records = backtest(text, trades([100, 100, 100], every_ms=300_000), usdm)
    rejects = [v for g in of(records, rec.GuardRecord) for v in g.verdicts if v.kind == "reject"]
    assert rejects and {v.guard for v in rejects} == {"stale_data"}
    assert [f for f in result.fills if f.purpose == "entry"] == []


def test_daily_loss_cap_flattens_and_blocks_entries_until_the_next_utc_day(usdm):
    text = (
        HEAD
        + """\
risk: {daily_loss_cap: 1%}
rules:
  - name: buy
    on: trade
    in: flat
    do: [{enter: {side: long, size: 100}}, {stop_loss: {distance: 50%}}, {goto: long}]
  - {name: hold, on: trade, in: long, when: price > 1000000, do: [exit]}
"""
    )
    day = 86_400_000
    # every 3 minutes from 23:50: the last two trades fall on the next UTC day
    path = trades([100, 100, 99, 98, 97, 97], start=T0 + day - 10 * 60_000, every_ms=180_000)
    result, records = backtest(text, path, usdm, balance=10_000)
    notices = [n for n in of(records, rec.EngineNotice) if n.kind == "daily-loss-cap"]
    assert notices, "the cap must trip: 100 ADA x 2 USDT... is at least a 1% loss of 10000"
    # the exchange-side cap stop closes the position at the cap; the engine's flatten is the fallback
    assert any(f.purpose in ("daily_cap", "flatten") for f in result.fills)
    refused = [
        v
        for g in of(records, rec.GuardRecord)
        for v in g.verdicts
        if v.guard == "daily_loss_cap" and v.kind == "reject"
    ]
    assert refused, "entries after the breach on the same day must be refused"
    entries = [f.time for f in result.fills if f.purpose == "entry"]
    assert entries[0] < T0 + day <= entries[1], "one entry before the breach, the next only on the new UTC day"


def test_halt_action_cancels_flattens_and_stops_entries(usdm):
    text = (
        HEAD
        + """\
rules:
  - {name: buy, on: trade, in: flat, do: [{enter: {side: long, size: 100}}, {stop_loss: {distance: 2%}}, {goto: long}]}
  - {name: panic, on: trade, in: long, when: price < 99.5, do: [{halt: "test"}, {goto: flat}]}
"""
    )
    result, records = backtest(text, trades([100, 100, 99, 100, 100]), usdm)
    assert [f.purpose for f in result.fills] == ["entry", "flatten"]
    assert any(n.kind == "halt" for n in of(records, rec.EngineNotice))
    assert any(v.guard == "kill_switch" for g in of(records, rec.GuardRecord) for v in g.verdicts)


def test_state_timeout_moves_on_by_the_data_clock(usdm):
    text = (
        HEAD
        + """\
states:
  flat: {position: none}
  armed: {position: none, timeout: 3m, then: flat}
rules:
  - {name: arm, on: trade, in: flat, when: price > 100, do: [{goto: armed}]}
"""
    )
    _, records = backtest(text, trades([101, 100, 100, 100, 100, 100]), usdm)
    changes = [(s.time - T0, s.to_state, s.why) for s in of(records, rec.StateChange)]
    assert changes == [(0, "armed", "rule arm"), (180_000, "flat", "timeout")]


def test_backtests_are_deterministic(usdm):
    text = (
        HEAD
        + """\
rules:
  - name: buy
    on: trade
    in: flat
    when: price < 100
    do: [{enter: {side: long, size: 500}}, {stop_loss: {distance: 1%}}, {goto: long}]
  - {name: sell, on: trade, in: long, when: price > 101, do: [exit, {cancel: all}, {goto: flat}]}
"""
    )
    path = trades([100 + (i * 37 % 7) - 3 for i in range(200)], every_ms=20_000)
    a, _ = backtest(text, path, usdm)
    b, _ = backtest(text, path, usdm)
    assert a.fills == b.fills and a.end_equity == b.end_equity and len(a.fills) > 10


def test_stops_of_a_closed_position_are_canceled_and_never_close_the_next_one(usdm):
    text = (
        HEAD
        + """\
rules:
  - name: buy
    on: trade
    in: flat
    when: price < 101 or price > 107
    do: [{enter: {side: long, size: 10}}, {take_profit: {distance: 10%}}, {stop_loss: {distance: 5%}}, {goto: long}]
  - name: sell
    on: trade
    in: long
    when: price >= 104 and price <= 106
    do: [exit, {goto: flat}]
"""
    )
    result, records = backtest(text, trades([100, 100, 105, 105, 108, 108, 112, 112]), usdm)
    assert [f.purpose for f in result.fills] == ["entry", "exit", "entry"]
    canceled = [r.client_order_id for r in records if isinstance(r, CancelOrder)]
    cap_stops = {r.client_order_id for r in records if isinstance(r, PlaceOrder) and r.tag == "daily_loss_cap"}
    # the first trade's take-profit (at 110) and stop-loss, and its daily-loss-cap stop
    assert len([c for c in canceled if c not in cap_stops]) == 2 and len(canceled) == 3
    # without the cancel, the old take-profit at 110 would have closed the new position at 112
    assert result.equity_curve[-1].position == Decimal(10)  # the second position is still open


def test_restored_state_and_adopted_orders_carry_over_a_restart(usdm):
    from rulebot.core.commands import PlaceOrder
    from rulebot.core.enums import OrderType, Side
    from rulebot.engine.engine import Engine
    from rulebot.rulebook.compiler import compile_text

    text = (
        HEAD
        + """\
rules:
  - name: buy
    on: trade
    in: flat
    do: [{enter: {side: long, size: 10}}, {stop_loss: {distance: 5%}}, {goto: long}]
  - name: sell
    on: trade
    in: long
    when: price > 110
    do: [exit, {goto: flat}]
"""
    )
    book = compile_text(text)
    engine = Engine(book, usdm[0], {"USDT": Decimal(1000)}, run_id="bt", brackets=usdm[1])
    assert engine.restore_state("ADAUSDT", "long", T0 - 60_000)
    assert not engine.restore_state("ADAUSDT", "gone", T0)
    stop = PlaceOrder(
        "bt-7",
        "ADAUSDT",
        Side.SELL,
        OrderType.STOP_MARKET,
        None,
        trigger_price=Decimal(95),
        close_position=True,
        time=T0 - 60_000,
    )
    engine.adopt_order(stop, "stop_loss", "buy")
    engine.start(T0)
    engine.on_event(holding("10", time=T0))
    step = engine.on_event(trades([111])[0])  # in long already: the exit rule answers, not the entry rule
    placed = [c for c in step.commands if isinstance(c, PlaceOrder)]
    assert [c.client_order_id for c in placed] == ["bt-8", "bt-9"]  # ids go on after bt-7
    exits = [c for c in placed if c.tag != "daily_loss_cap"]  # the first mark prices the daily-cap stop
    assert len(exits) == 1 and exits[0].reduce_only
    assert engine.symbol_state("ADAUSDT") == "long"  # until the exchange reports the position closed
    engine.on_event(holding("0", time=T0 + 70_000))
    assert engine.symbol_state("ADAUSDT") == "flat"


CROSS_AFTER_RESTART = """\
rulebook: restart
market: usdm
symbols: [BTCUSDT]
timeframes: [1m, 1h]
rules:
  - name: up
    on: candle_close 1m
    when: crossover(close@1m, 100)
    do: [{log: up}]
  - name: hourly
    on: candle_close 1h
    when: crossover(close@1m, 100)
    do: [{log: hourly}]
"""


def _candle(tf: str, i: int, close: str, ms: int = 60_000) -> CandleClosed:
    c = Decimal(close)
    return CandleClosed("BTCUSDT", tf, T0 + i * ms, T0 + (i + 1) * ms - 1, c, c, c, c, Decimal(1), c, 1, Decimal(0))


def _fired(engine: Engine, event: CandleClosed) -> list[str]:
    return [r.rule for r in engine.on_event(event).records if isinstance(r, rec.Decision) and r.fired]


def test_a_crossover_on_the_first_candle_after_a_restart_compares_with_the_warmed_candle_before(usdm):
    """Tried as a bot restarted just before a cross: the warm-up (REST klines) ended on a close of
    99, the first live candle closed at 105, and crossover(close@1m, 100) did not fire: the dispatch
    had no previous value, so it read the current one (105 <= 100 and 105 > 100). A crossunder exit
    missed that way leaves the position open. A key whose rules also read another timeframe's values
    is not remembered from the warm-up (they were not read at its last candle): it waits a candle."""
    engine = Engine(compile_text(CROSS_AFTER_RESTART), usdm[0], {"USDT": Decimal(1000)}, brackets=usdm[1])
    engine.start(T0)
    warm = [_candle("1m", i, c) for i, c in enumerate(["90", "95", "99"])]
    assert engine.warm("BTCUSDT", warm) == 3
    assert _fired(engine, _candle("1m", 3, "105")) == ["up"]
    engine.warm("BTCUSDT", [_candle("1h", -2, "90", 3_600_000), _candle("1h", -1, "99", 3_600_000)])
    assert ("candle_close", "1h") not in engine.state.runs["BTCUSDT"].prev  # its rule reads close@1m
    again = Engine(compile_text(CROSS_AFTER_RESTART), usdm[0], {"USDT": Decimal(1000)}, brackets=usdm[1])
    again.start(T0)
    again.warm("BTCUSDT", [_candle("1m", i, c) for i, c in enumerate(["90", "101", "102"])])
    assert _fired(again, _candle("1m", 3, "105")) == []  # above before, above now: no cross
