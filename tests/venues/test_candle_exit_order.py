"""A stop and a take-profit inside the same candle: the stop fills first, whatever way the
candle closed.

A candle is walked open, low, high, close when it closed up, open, high, low, close when it
closed down: which extreme came first is a guess. When a position's stop and its take-profit
(or a closing limit) both lie inside the candle, that guess decides whether the trade won; the
backtest takes the one that errs against the strategy, the stop (2025-06-10 00:31 BTCUSDT: a
long's bracket of +-80 around 110,184 inside a down candle of 110,079-110,273 was a win).
"""

from __future__ import annotations

from decimal import Decimal as D

from rulebot.core.account_events import OrderUpdate
from rulebot.core.commands import PlaceOrder
from rulebot.core.enums import MarginType, Market, OrderType, Side, TimeInForce, WorkingType
from rulebot.core.events import CandleClosed
from rulebot.exchange_sim import SimExchange
from rulebot.feeds.catalog import builtin_brackets, builtin_instruments
from rulebot.venues.paper import PaperVenue

BTC = "BTCUSDT"
MIN = 60_000


def candle(i: int, o: str, h: str, lo: str, c: str) -> CandleClosed:
    start = i * MIN
    return CandleClosed(BTC, "1m", start, start + MIN - 1, D(o), D(h), D(lo), D(c), D(10), D(0), 0, D(0))


def walk(paper: PaperVenue, c: CandleClosed) -> list[OrderUpdate]:
    """The fills reported while the candle was walked."""
    out: list[OrderUpdate] = []
    for _, _, reports in paper.walk(c):
        out += [e for e in reports if isinstance(e, OrderUpdate) and e.last_filled_qty > 0]
    return out


def opened(side: Side) -> tuple[SimExchange, PaperVenue]:
    """0.5 BTC long (BUY) or short (SELL) at 60,000 after one quiet candle; no mark data."""
    inst, brackets = builtin_instruments(Market.USDM), builtin_brackets(Market.USDM)
    sim = SimExchange(
        {BTC: inst[BTC]},
        {BTC: brackets[BTC]},
        market=Market.USDM,
        balances={"USDT": D(10_000)},
        default_margin_type=MarginType.ISOLATED,
    )
    paper = PaperVenue(sim, Market.USDM)
    walk(paper, candle(0, "60000", "60000", "60000", "60000"))
    assert paper.execute(PlaceOrder("open", BTC, side, OrderType.MARKET, D("0.5")), MIN - 1).ok
    return sim, paper


def exit_order(cid: str, side: Side, kind: OrderType, trigger: str, working: WorkingType) -> PlaceOrder:
    return PlaceOrder(
        cid, BTC, side, kind, None, trigger_price=D(trigger), working_type=working, close_position=True, time=MIN - 1
    )


def test_a_long_with_stop_and_take_profit_inside_a_down_candle_is_stopped_first() -> None:
    sim, paper = opened(Side.BUY)
    for order in (
        exit_order("sl", Side.SELL, OrderType.STOP_MARKET, "59900", WorkingType.CONTRACT_PRICE),
        exit_order("tp", Side.SELL, OrderType.TAKE_PROFIT_MARKET, "60100", WorkingType.CONTRACT_PRICE),
    ):
        assert paper.execute(order, MIN).ok
    # Closed down: the high-first walk would have taken the profit, then gone to the low.
    fills = walk(paper, candle(1, "60000", "60150", "59850", "59880"))
    assert [f.client_order_id for f in fills] == ["sl"]
    assert sim.positions() == []


def test_a_short_with_stop_and_take_profit_inside_an_up_candle_is_stopped_first() -> None:
    sim, paper = opened(Side.SELL)
    for order in (
        exit_order("sl", Side.BUY, OrderType.STOP_MARKET, "60100", WorkingType.MARK_PRICE),
        exit_order("tp", Side.BUY, OrderType.TAKE_PROFIT_MARKET, "59900", WorkingType.MARK_PRICE),
    ):
        assert paper.execute(order, MIN).ok
    fills = walk(paper, candle(1, "60000", "60150", "59850", "60120"))
    assert [f.client_order_id for f in fills] == ["sl"]
    assert sim.positions() == []


def test_a_long_with_a_closing_limit_and_a_stop_inside_a_down_candle_is_stopped_first() -> None:
    sim, paper = opened(Side.BUY)
    limit = PlaceOrder(
        "tp", BTC, Side.SELL, OrderType.LIMIT, D("0.5"), D(60_100), time_in_force=TimeInForce.GTC, reduce_only=True
    )
    stop = exit_order("sl", Side.SELL, OrderType.STOP_MARKET, "59900", WorkingType.MARK_PRICE)
    assert paper.execute(limit, MIN).ok and paper.execute(stop, MIN).ok
    fills = walk(paper, candle(1, "60000", "60150", "59850", "59880"))
    assert [f.client_order_id for f in fills] == ["sl"]
    assert sim.positions() == []


def test_a_stop_alone_keeps_the_candles_own_order() -> None:
    # Nothing to choose between: an up candle's low is walked first, as ever.
    _, paper = opened(Side.BUY)
    assert paper.execute(exit_order("sl", Side.SELL, OrderType.STOP_MARKET, "59900", WorkingType.MARK_PRICE), MIN).ok
    c = candle(1, "60000", "60150", "59850", "60100")
    assert paper.path(c)[1] == (D(60_000), D(59_850), D(60_150), D(60_100))
    assert [f.client_order_id for f in walk(paper, c)] == ["sl"]
