"""The daily loss cap holds on the exchange (issue 12, item 3): an entry's own fees are counted
before it is sent, and a stop at the cap's price closes the position through a gap and while
the bot hears nothing."""

from __future__ import annotations

from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from rulebot.core.enums import Market, OrderType, PositionSide
from rulebot.core.events import Trade
from rulebot.core.fees import DEFAULT_FEE_RATES
from rulebot.engine import records as rec
from rulebot.engine.daily_cap import cap_price
from rulebot.feeds.catalog import builtin_instruments

from .faulty_paper import FaultyPaper

D = Decimal
BOOK = """\
rulebook: capped
market: usdm
symbols: [BTCUSDT]
account: {leverage: 10}
rules:
  - name: buy
    on: trade
    in: flat
    do: [{enter: {side: long, size: "%s"}}, {stop_loss: {distance: 50%%}}, {goto: long}]
  - name: hold
    on: trade
    in: long
    when: price > 100000000
    do: [exit]
risk: {max_leverage: 10, daily_loss_cap: "%s"}
"""


def refusals(fp: FaultyPaper) -> list[str]:
    return [
        v.reason
        for r in fp.records
        if isinstance(r, rec.GuardRecord)
        for v in r.verdicts
        if v.guard == "daily_loss_cap" and v.kind == "reject"
    ]


def test_an_entry_whose_own_fees_would_breach_the_daily_cap_is_refused_before_it_is_sent():
    # 1.5 BTC at 60,000 pays 45 USDT to open and 45 to close: more than the 50 USDT cap. It
    # used to be sent, breach the cap on its fill and be flattened in the same second.
    fp = FaultyPaper(BOOK % ("1.5", "50 USDT"))
    fp.start()
    fp.trade(60000)
    fp.trade(60000)
    assert fp.entries() == [] and fp.position == 0
    assert "less this entry's fees 90.00 USDT (to open and to close) would reach the cap 50.00 USDT" in refusals(fp)[0]
    assert not fp.notices("daily-loss-cap")  # nothing was lost: no breach


def test_the_daily_cap_is_a_stop_on_the_exchange_at_the_price_where_the_cap_is_reached():
    fp = FaultyPaper(BOOK % ("0.1", "20 USDT"))
    fp.start()
    fp.trade(60000)
    assert fp.position == D("0.1")
    (cap_stop,) = [c for c in fp.placed if c.tag == "daily_loss_cap"]
    assert cap_stop.order_type is OrderType.STOP_MARKET and cap_stop.close_position
    trigger = cap_stop.trigger_price
    assert trigger is not None
    # closing 0.1 BTC at the trigger, taker fee included, loses the 20 USDT cap (the entry's fee
    # of 3 USDT counted): within a tick, rounded toward the market so it fires no later
    lost = D(3) + D("0.1") * (60000 - trigger) + D("0.1") * trigger * DEFAULT_FEE_RATES.taker
    assert D(20) - D("0.1") * D("0.1") <= lost <= D(20)


def test_the_daily_cap_holds_through_a_gap_while_the_bot_hears_nothing():
    fp = FaultyPaper(BOOK % ("0.1", "20 USDT"))
    fp.start()
    fp.trade(60000)
    fp.stalled = True  # the bot is dead: the exchange goes on without it
    fp.trade(59000, dt_ms=2000)  # a gap far through the cap's price (the stop-loss is at 30,000)
    assert fp.position == 0, "the exchange-side cap stop closed the position"
    wallet = fp.sim.balances()[0].wallet_balance
    trigger = next(c.trigger_price for c in fp.placed if c.tag == "daily_loss_cap")
    assert trigger is not None
    # the cap, plus the gap's overshoot past the trigger (and its fee): one step of the price path
    overshoot = D("0.1") * (trigger - 59000) * (1 + DEFAULT_FEE_RATES.taker)
    assert D(10_000) - wallet <= D(20) + overshoot
    fp.release()  # the bot comes back and learns of the breach: no entries today
    assert fp.notices("daily-loss-cap")
    fp.trade(59000)
    assert len(fp.entries()) == 1


# -- the cap price itself, linear and inverse --------------------------------------------------

_USDM = builtin_instruments(Market.USDM)["BTCUSDT"]
_COINM = builtin_instruments(Market.COINM)["BTCUSD_PERP"]


@settings(max_examples=200, deadline=None)
@given(
    inverse=st.booleans(),
    qty=st.integers(min_value=-500, max_value=500).filter(bool),
    entry=st.integers(min_value=20_000, max_value=120_000),
    others=st.integers(min_value=-1_000, max_value=1_000),
)
def test_closing_at_the_cap_price_leaves_exactly_the_floor(inverse, qty, entry, others):
    """At the cap price, equity without the position + its PnL - the taker fee to close it is the
    day's start less the cap: the stop sits where the cap is, for USDⓈ-M and COIN-M alike."""
    inst = _COINM if inverse else _USDM
    q = D(qty) if inverse else D(qty) / 1000  # contracts, or BTC
    ep = D(entry)
    scale = D("0.001") if inverse else D(1)  # coin-margined amounts are in BTC
    floor = D(10_000) * scale
    without = floor + D(others) * scale  # may be below the floor: then the position must gain
    taker = DEFAULT_FEE_RATES.taker
    price = cap_price(inst, q, ep, without, floor, taker)
    if price is None:
        return  # no positive price reaches the floor
    side = PositionSide.LONG if q > 0 else PositionSide.SHORT
    at = without + inst.pnl(side, abs(q), ep, price) - abs(inst.notional(abs(q), price)) * taker
    assert abs(at - floor) <= floor * D("1e-20")


TWO = """\
rulebook: capped-two
market: usdm
symbols: [BTCUSDT, ETHUSDT]
account: {leverage: 10}
rules:
  - name: buy
    on: trade
    in: flat
    when: price > 10000 or price < 2999
    do: [{enter: {side: long, size: "0.1"}}, {stop_loss: {distance: 50%}}, {goto: long}]
risk: {max_leverage: 10, daily_loss_cap: "20 USDT"}
"""


def test_an_entry_that_fills_after_the_breach_flattened_everything_is_closed_too():
    """ETHUSDT's entry is on its way (its fill not heard yet) when BTCUSDT's loss breaches the cap:
    the flatten finds nothing to close on ETHUSDT, and the fill, heard afterwards, opened a
    position with no stop (the flatten dropped the entry's stop, and no cap stop is placed after a
    breach). It used to stay open for the rest of the day."""
    fp = FaultyPaper(TWO)
    fp.start()
    fp.trade(60000)
    assert fp.position == D("0.1")
    fp.session.market(Trade("ETHUSDT", D(3000), D(1), fp.time, True, fp.time))  # no entry at 3000
    fp.stalled = True  # the user stream holds the ETHUSDT fill back
    fp.time += 1000
    fp.session.market(Trade("ETHUSDT", D(2998), D(1), fp.time, True, fp.time))  # the entry leaves
    fp.trade(59000, dt_ms=2000)  # BTCUSDT gaps through the cap: a breach
    fp.release()
    assert fp.notices("daily-loss-cap")
    fp.session.market(Trade("ETHUSDT", D(2998), D(1), fp.time + 1000, True, fp.time + 1000))
    assert fp.sim.positions() == [], "a position was left open after the daily loss cap flattened everything"


COINM_BOOK = BOOK.replace("usdm", "coinm").replace("BTCUSDT", "BTCUSD_PERP")


def test_coinm_daily_cap_messages_give_the_amounts_in_coin_digits():
    # 1,000 contracts at 60,000 pay 0.00083333 BTC to open and as much to close: more than the
    # 0.0015 BTC cap. The refusal read "daily PnL 0.00 less this entry's fees 0.00 (to open and to
    # close) would reach the cap 0.00": cents of a coin, nothing a user could check.
    fp = FaultyPaper(COINM_BOOK % ("1000", "0.0015 BTC"), balance=1)
    fp.start()
    fp.trade(60000)
    fp.trade(60000)
    assert fp.entries() == [] and fp.position == 0
    assert (
        "daily PnL 0.000000 BTC less this entry's fees 0.001667 BTC (to open and to close) "
        "would reach the cap 0.001500 BTC" in refusals(fp)[0]
    )


def test_coinm_daily_cap_breach_and_stop_name_the_loss_in_coin_digits():
    fp = FaultyPaper(COINM_BOOK % ("100", "0.0005 BTC"), balance=1)
    fp.start()
    fp.trade(60000)
    assert fp.position == D(100)
    assert [c.tag for c in fp.placed].count("daily_loss_cap") == 1
    allowed = [
        v.reason
        for r in fp.records
        if isinstance(r, rec.GuardRecord)
        for v in r.verdicts
        if v.guard == "daily_loss_cap"
    ]
    assert "where daily PnL would reach the cap -0.000500 BTC" in allowed[-1]
    assert "daily PnL 0.000000 BTC within the cap 0.000500 BTC" in allowed[0]
    fp.trade(50000)
    (breach,) = fp.notices("daily-loss-cap")
    assert breach.startswith("daily loss -0.0")
    assert " BTC reached the cap 0.000500 BTC:" in breach


def test_a_coinm_short_has_a_cap_price_when_its_loss_can_reach_the_cap():
    # An inverse short's loss grows without bound toward its notional in coin as the price rises:
    # with 0.002 BTC of room and 0.5 BTC of position, the cap is reached near 17,250. cap_price
    # said None (its denominator is negative for a short), so no COIN-M short ever had its
    # daily-cap stop on the exchange.
    q, ep, floor, taker = D(-100), D("17207.6"), D("0.998"), DEFAULT_FEE_RATES.taker
    price = cap_price(_COINM, q, ep, D(1), floor, taker)
    assert price is not None and ep < price < D(17300)
    at = D(1) + _COINM.pnl(PositionSide.SHORT, D(100), ep, price) - abs(_COINM.notional(D(100), price)) * taker
    assert abs(at - floor) <= D("1e-20")
    # With more room than the short's whole notional (0.5811 BTC at entry) it can never be reached.
    assert cap_price(_COINM, q, ep, D(1), D("0.4"), taker) is None


def test_a_coinm_short_keeps_its_daily_cap_stop_on_the_exchange_while_the_bot_is_dead():
    book = COINM_BOOK.replace("side: long", "side: short").replace("in: long", "in: short")
    book = book.replace("{goto: long}", "{goto: short}")
    fp = FaultyPaper(book % ("100", "0.002 BTC"), balance=1)
    fp.start()
    fp.trade(20000)
    assert fp.position == D(-100)
    (cap_stop,) = [c for c in fp.placed if c.tag == "daily_loss_cap"]
    assert cap_stop.trigger_price is not None and cap_stop.trigger_price > 20000
    fp.stalled = True  # the bot is dead: the exchange goes on without it
    fp.trade(21000, dt_ms=2000)  # a gap far through the cap's price (the stop-loss is at 30,000)
    assert fp.position == 0, "the exchange-side cap stop closed the short"


def test_a_coinm_cap_stop_is_not_re_placed_for_a_move_of_a_few_satoshis():
    # The slack that keeps the cap's stop in place compared the trigger's move in USD times the
    # contracts with a share of the cap in BTC: any move at all re-priced it (a cancel and a new
    # order, on the exchange's order-rate limits), here for a funding payment of 0.05% of the cap.
    from rulebot.core.events import FundingRate

    fp = FaultyPaper(COINM_BOOK % ("100", "0.01 BTC"), balance=1)
    fp.start()
    fp.trade(20000)
    assert [c.tag for c in fp.placed].count("daily_loss_cap") == 1
    fp.time += 1000
    fp.session.market(FundingRate(fp.symbol, D("0.00001"), fp.time, mark_price=D(20000)))
    fp.trade(20000)
    assert [c.tag for c in fp.placed].count("daily_loss_cap") == 1  # the stop stays as it is
    fp.time += 1000  # 0.00015 BTC, 1.5% of the cap: past the slack, the stop follows
    fp.session.market(FundingRate(fp.symbol, D("0.0003"), fp.time, mark_price=D(20000)))
    fp.trade(20000)
    assert [c.tag for c in fp.placed].count("daily_loss_cap") == 2
