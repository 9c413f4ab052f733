"""Each mandatory guard acting in a replayed market against the real exchange simulator."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

from rulebot.core.account_events import StreamStatus
from rulebot.core.commands import PlaceOrder
from rulebot.core.enums import MarginType, OrderType, TimeInForce
from rulebot.core.events import MarkPrice, Trade
from rulebot.core.margin import Position, liquidation_price
from rulebot.engine import records as rec
from rulebot.engine.engine import Engine
from rulebot.rulebook.compiler import compile_text

from .conftest import T0, backtest, trades

HEAD = """\
rulebook: t
market: usdm
symbols: [ADAUSDT]
timeframes: [1m]
"""


def verdicts(records, guard: str) -> list[rec.GuardRecord]:
    return [r for r in records if isinstance(r, rec.GuardRecord) and any(v.guard == guard for v in r.verdicts)]


def kinds(record: rec.GuardRecord, guard: str) -> list[str]:
    return [v.kind for v in record.verdicts if v.guard == guard]


def placed(records) -> list[PlaceOrder]:
    return [r for r in records if isinstance(r, PlaceOrder)]


ENTER_ONCE = """\
rules:
  - name: buy
    on: trade
    in: flat
    when: price >= 100
    do:
      - enter: {{side: long, size: "{size}"}}
      - stop_loss: {{distance: 30%}}
      - goto: long
  - name: out
    on: trade
    in: long
    when: price > 1000000
    do: [exit]
"""


def test_liquidation_distance_refuses_an_isolated_entry_whose_liquidation_is_too_close(usdm):
    # 10x isolated liquidates about 9.6% away: inside a 15% minimum whatever the size.
    text = HEAD + "account: {leverage: 10}\nrisk: {min_liquidation_distance: 15%}\n" + ENTER_ONCE.format(size="100")
    result, records = backtest(text, trades([100, 100, 100]), usdm)
    refused = verdicts(records, "liquidation_distance")[0]
    assert kinds(refused, "liquidation_distance") == ["reject"]
    assert "lower the leverage" in refused.verdicts[-1].reason
    assert result.fills == []


def test_liquidation_distance_allows_the_same_entry_at_lower_leverage(usdm):
    text = HEAD + "account: {leverage: 5}\nrisk: {min_liquidation_distance: 15%}\n" + ENTER_ONCE.format(size="100")
    result, records = backtest(text, trades([100, 100, 100]), usdm)
    assert kinds(verdicts(records, "liquidation_distance")[0], "liquidation_distance") == ["allow"]
    assert result.fills[0].purpose == "entry"


def test_liquidation_distance_resizes_a_cross_entry_to_the_largest_safe_size(usdm):
    text = HEAD + (
        "account: {leverage: 10, margin: cross}\nrisk: {allow_cross: true, min_liquidation_distance: 20%}\n"
        + ENTER_ONCE.format(size="900")
    )  # 90,000 USDT notional on 10,000: liquidation ~10% away
    result, records = backtest(text, trades([100, 100, 100]), usdm)
    record = verdicts(records, "liquidation_distance")[0]
    resized = next(v for v in record.verdicts if v.guard == "liquidation_distance")
    assert resized.kind == "resize"
    qty = result.fills[0].quantity
    assert Decimal(300) < qty < Decimal(900)
    inst, table = usdm[0]["ADAUSDT"], usdm[1]["ADAUSDT"]
    liq = liquidation_price(inst, table, [Position(qty, Decimal(100))], Decimal(10_000), margin_type=MarginType.CROSSED)
    assert liq is not None and (Decimal(100) - liq) / Decimal(100) >= Decimal("0.20")


def test_margin_ratio_guard_reduces_a_position_near_liquidation(usdm):
    # 10x isolated long at 100 (margin 1,000), liquidation near 90.4: at 91.2 the margin
    # balance is 120 against 36.48 maintenance, a ratio of 30.4%. A large wallet keeps the
    # daily loss cap out of the way.
    text = HEAD + "account: {leverage: 10}\nrisk: {max_margin_ratio: 30%}\n" + ENTER_ONCE.format(size="100")
    prices = [100, 100, 99, 97, 95, 93, 92, 91.3, 91.2, 91.2, 91.2]
    result, records = backtest(text, trades(prices), usdm, balance=1_000_000)
    acted = verdicts(records, "max_margin_ratio")
    assert acted and kinds(acted[0], "max_margin_ratio") == ["act"]
    assert "reducing the position by half" in acted[0].verdicts[0].reason
    reduce = [f for f in result.fills if f.purpose == "deleverage"]
    assert reduce and reduce[0].quantity == Decimal(50) and reduce[0].reduce_only
    assert result.liquidations == 0


def test_protective_stop_is_placed_when_a_position_has_none(usdm):
    text = (
        HEAD
        + """\
account: {leverage: 5}
risk: {protective_stop: 3%, protective_stop_within: 5s}
rules:
  - name: buy
    on: trade
    in: flat
    when: price >= 100
    do: [{enter: {side: long, size: 100}}, {goto: long}]
  - name: out
    on: trade
    in: long
    when: price > 1000000
    do: [exit]
"""
    )
    events = trades([100, 100, 99, 98.5, 96.5, 96], every_ms=2_000)
    result, records = backtest(text, events, usdm)
    acted = verdicts(records, "protective_stop")
    assert len(acted) == 1 and kinds(acted[0], "protective_stop") == ["act"]
    stop = next(c for c in placed(records) if c.client_order_id == acted[0].client_order_id)
    assert stop.order_type is OrderType.STOP_MARKET and stop.close_position
    # 3% below the lower of entry (100) and the mark when it was placed (99)
    assert stop.trigger_price == Decimal("96.03")
    entry_time = result.fills[0].time
    assert stop.time - entry_time <= 5_000 + 2_000  # within the setting, on the data clock
    assert [f.purpose for f in result.fills] == ["entry", "protective"]


def test_protective_stop_guard_stays_quiet_when_the_rulebook_has_a_stop(usdm):
    text = HEAD + "account: {leverage: 5}\n" + ENTER_ONCE.format(size="100")
    _, records = backtest(text, trades([100] * 20, every_ms=2_000), usdm)
    assert verdicts(records, "protective_stop") == []


CHURN = """\
risk: {max_orders_per_minute: 10}
rules:
  - name: buy
    on: trade
    in: flat
    do: [{enter: {side: long, size: 10}}, {stop_loss: {distance: 5%}}, {goto: long}]
  - name: sell
    on: trade
    in: long
    do: [exit, {goto: flat}]
"""


def test_rate_limiter_keeps_orders_within_the_budget_per_minute(usdm):
    text = HEAD + "account: {leverage: 5}\n" + CHURN
    events = trades([100] * 600, every_ms=100)  # a minute of trades, a rule firing on each
    _, records = backtest(text, events, usdm)
    refused = [r for r in verdicts(records, "rate_limiter") if kinds(r, "rate_limiter") == ["reject"]]
    assert refused, "a rulebook that churns must hit the budget"
    # a refused entry does not move the symbol into a state that claims a position
    assert not [r for r in records if isinstance(r, rec.StateChange) and "entry not placed" in r.why]
    entries = [c for c in placed(records) if c.reduce_only is False and not c.close_position]
    times = sorted(c.time for c in placed(records))
    for i, t in enumerate(times):  # no 60 s window ever saw an entry beyond the budget
        window = [x for x in times[: i + 1] if x > t - 60_000]
        assert len(window) <= 10 + 2 * len(entries)  # exits and stops are never blocked
    for r in refused:
        in_window = [c for c in placed(records) if r.time - 60_000 < c.time <= r.time]
        assert len(in_window) >= 10


def test_a_disconnected_stream_stops_entries_but_not_exits(usdm):
    text = (
        HEAD
        + "account: {leverage: 5}\n"
        + """\
rules:
  - name: buy
    on: trade
    in: flat
    when: price < 100
    do: [{enter: {side: long, size: 10}}, {stop_loss: {distance: 5%}}, {goto: long}]
  - name: sell
    on: trade
    in: long
    when: price > 101
    do: [exit, {goto: flat}]
"""
    )
    ev = trades([99, 99, 102, 102, 99, 99, 99], every_ms=1_000)
    down = StreamStatus("market", False, ev[1].time + 1, "socket closed")
    up = StreamStatus("market", True, ev[5].time + 1)
    events = [*ev[:2], down, *ev[2:6], up, ev[6]]
    result, records = backtest(text, events, usdm)
    refused = [r for r in verdicts(records, "stale_data") if kinds(r, "stale_data") == ["reject"]]
    assert refused and all(down.time < r.time < up.time for r in refused)
    assert "disconnected" in refused[0].verdicts[-1].reason
    assert [f.purpose for f in result.fills] == ["entry", "exit", "entry"]  # the exit went out while down
    notices = [n.kind for n in records if isinstance(n, rec.EngineNotice)]
    assert "stream-down" in notices and "stream-up" in notices


def test_a_feed_arriving_late_is_stale_though_its_own_times_agree(usdm):
    """The live run: every frame arrived 6.7 s after Binance stamped it. The data clock (the
    frames' own times) calls it fresh; the receive stamps (on Binance's clock) show the lag."""
    text = (
        HEAD
        + """\
rules:
  - name: buy
    on: trade
    in: flat
    do: [{enter: {side: long, size: 10}}, {stop_loss: {distance: 5%}}, {goto: long}]
"""
    )
    ev = trades([99, 99, 99, 99], every_ms=100)
    late = [replace(t, received=t.time + 6_700) for t in ev]
    _, records = backtest(text, late, usdm)
    refused = verdicts(records, "stale_data")
    assert placed(records) == [] and len(refused) == len(ev)
    assert "market data is 6.7s old" in refused[0].verdicts[-1].reason
    on_time = [replace(t, received=t.time + 40) for t in ev]  # 40 ms late is fresh
    _, records = backtest(text, on_time, usdm)
    # the entry, its stop and the daily loss cap's stop
    assert [p.tag for p in placed(records)][-1] == "daily_loss_cap" and len(placed(records)) == 3


def _calm_then_wild(seconds_calm: int = 900, seconds_wild: int = 40) -> list[Trade]:
    out = []
    price = 100.0
    for i in range(seconds_calm + seconds_wild):
        wild = i >= seconds_calm
        step = (0.03 if wild else 0.0005) * (1 if i % 2 else -1)
        price = price * (1 + step)
        out.append(Trade("ADAUSDT", Decimal(f"{price:.4f}"), Decimal(1), T0 + i * 1000, i % 2 == 0, i + 1))
    return out


def test_volatility_breaker_turns_market_entries_into_banded_ioc_limits(usdm):
    events = _calm_then_wild()
    spike_at = events[900].time
    text = (
        HEAD
        + "account: {leverage: 5}\n"
        + f"""\
rules:
  - name: early
    on: trade
    in: flat
    when: time == {events[600].time}
    do: [{{enter: {{side: long, size: 1}}}}, {{stop_loss: {{distance: 20%}}}}]
  - name: late
    on: trade
    in: long
    when: time == {events[930].time}
    do: [{{enter: {{side: long, size: 1}}}}]
"""
    )
    _, records = backtest(text, events, usdm)
    entries = [c for c in placed(records) if not c.reduce_only and not c.close_position]
    early, late = entries[0], entries[1]
    assert early.order_type is OrderType.MARKET and early.time < spike_at
    assert late.order_type is OrderType.LIMIT and late.time_in_force is TimeInForce.IOC
    last = next(e.price for e in events if e.time == late.time)
    assert late.price is not None and abs(late.price / last - 1) <= Decimal("0.0051")
    tripped = verdicts(records, "volatility_breaker")
    assert len(tripped) == 1 and tripped[0].client_order_id == late.client_order_id
    breaker = next(v for v in tripped[0].verdicts if v.guard == "volatility_breaker")
    assert breaker.kind == "resize" and "IOC limit" in breaker.reason


def test_funding_guard_refuses_the_side_that_would_pay(usdm):
    due = T0 + 8 * 3_600_000
    text = (
        HEAD
        + "account: {leverage: 5}\nrisk: {funding_guard_rate: 0.05%}\n"
        + """\
rules:
  - name: long
    on: mark_price
    in: flat
    when: next_funding_in < 600
    do: [{enter: {side: long, size: 10}}, {stop_loss: {distance: 5%}}, {goto: long}]
"""
    )
    events: list[object] = []
    for i in range(5):
        t = due - 700_000 + i * 60_000
        events.append(Trade("ADAUSDT", Decimal(100), Decimal(1), t, True, i + 1))
        events.append(MarkPrice("ADAUSDT", Decimal(100), t + 1, Decimal(100), Decimal("0.001"), due))
    result, records = backtest(text, events, usdm)
    refused = verdicts(records, "funding_guard")
    assert refused and "would pay it" in refused[0].verdicts[-1].reason
    assert result.fills == []
    shorts = text.replace("side: long", "side: short")
    result, records = backtest(shorts, events, usdm)
    assert verdicts(records, "funding_guard") == []  # a short receives a positive rate
    assert result.fills and result.fills[0].side == "SELL"


def test_set_leverage_above_the_cap_is_clamped(usdm):
    text = (
        HEAD
        + "account: {leverage: 3}\n"
        + """\
rules:
  - name: lev
    on: start
    do: [{set_leverage: 10}]
"""
    )
    book = compile_text(text.replace("set_leverage: 10", "set_leverage: 25"))
    engine = Engine(book, usdm[0], {"USDT": Decimal(1000)}, brackets=usdm[1])
    step = engine.start(T0)
    record = next(r for r in step.records if isinstance(r, rec.GuardRecord))
    assert record.verdicts[0].kind == "resize" and "clamped to 10x" in record.verdicts[0].reason


def test_daily_loss_breach_survives_a_restart_the_same_day_and_clears_the_next(usdm):
    text = HEAD + "account: {leverage: 5}\n" + ENTER_ONCE.format(size="100")
    book = compile_text(text)
    first = Engine(book, usdm[0], {"USDT": Decimal(1000)}, brackets=usdm[1])
    first.start(T0)
    first.on_event(Trade("ADAUSDT", Decimal(100), Decimal(1), T0 + 1000, True, 1))
    first.state.daily_breach_day = T0 // 86_400_000  # as a breach sets it
    saved = first.daily_state()
    assert saved is not None and saved.breached

    again = Engine(book, usdm[0], {"USDT": Decimal(1000)}, brackets=usdm[1])
    again.restore_daily(saved)
    again.start(T0 + 3_600_000)
    step = again.on_event(Trade("ADAUSDT", Decimal(100), Decimal(1), T0 + 3_600_000, True, 2))
    refused = [r for r in step.records if isinstance(r, rec.GuardRecord)]
    assert refused and refused[0].verdicts[-1].guard == "daily_loss_cap"
    assert not [c for c in step.commands if isinstance(c, PlaceOrder)]

    next_day = T0 + 86_400_000 + 1000
    step = again.on_event(Trade("ADAUSDT", Decimal(100), Decimal(1), next_day, True, 3))
    assert [c for c in step.commands if isinstance(c, PlaceOrder)]


def test_a_refused_margin_type_stops_the_bot_before_any_order(usdm):
    from rulebot.core.commands import SetMarginType
    from rulebot.core.enums import Market, Side
    from rulebot.exchange_sim import SimExchange
    from rulebot.venues.paper import PaperVenue

    text = HEAD + "account: {leverage: 5}\n" + ENTER_ONCE.format(size="10")
    book = compile_text(text)
    sim = SimExchange(
        {"ADAUSDT": usdm[0]["ADAUSDT"]},
        {"ADAUSDT": usdm[1]["ADAUSDT"]},
        market=Market.USDM,
        balances={"USDT": Decimal(1000)},
        default_margin_type=MarginType.CROSSED,
    )
    venue = PaperVenue(sim, Market.USDM)
    venue.on_market(Trade("ADAUSDT", Decimal(100), Decimal(1), T0, True, 1))
    opened = venue.execute(PlaceOrder("manual-1", "ADAUSDT", Side.BUY, OrderType.MARKET, Decimal(1), time=T0), T0)
    assert opened.ok  # someone traded by hand in cross margin: Binance refuses to switch now
    engine = Engine(book, usdm[0], {"USDT": Decimal(1000)}, brackets=usdm[1])
    step = engine.start(T0)
    setup = next(c for c in step.commands if isinstance(c, SetMarginType))
    res = venue.execute(setup, T0)
    assert not res.ok
    step = engine.on_setup_rejected(setup, res.code, res.message or "", T0)
    assert engine.halted and "margin type" in engine.halted and str(res.code) in engine.halted
    step = engine.on_event(Trade("ADAUSDT", Decimal(100), Decimal(1), T0 + 1000, True, 2))
    refused = [r for r in step.records if isinstance(r, rec.GuardRecord)]
    assert refused and refused[0].verdicts[0].guard == "kill_switch"


def test_volatility_auto_reduce_cuts_an_open_position_once_per_spike(usdm):
    events = _calm_then_wild()
    text = (
        HEAD
        + "account: {leverage: 5}\nrisk: {volatility_reduce: 50%}\n"
        + f"""\
rules:
  - name: early
    on: trade
    in: flat
    when: time == {events[600].time}
    do: [{{enter: {{side: long, size: 10}}}}, {{stop_loss: {{distance: 30%}}}}, {{goto: long}}]
  - name: hold
    on: trade
    in: long
    when: price > 1000000
    do: [exit]
"""
    )
    result, records = backtest(text, events, usdm)
    acted = [r for r in verdicts(records, "volatility_breaker") if kinds(r, "volatility_breaker") == ["act"]]
    assert len(acted) == 1 and "cut by 50%" in acted[0].verdicts[0].reason
    cuts = [f for f in result.fills if f.purpose == "deleverage"]
    assert [f.quantity for f in cuts] == [Decimal(5)]
    assert cuts[0].time >= events[900].time  # only once the wild part began
    notices = [n.message for n in records if isinstance(n, rec.EngineNotice) and n.kind == "volatility-breaker"]
    assert notices and "baseline" in notices[0]
