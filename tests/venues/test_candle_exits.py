"""Exits inside one candle of a kline backtest never flatter the strategy.

A candle is walked through four points (open, low, high, close; high first when it closed
down), and the market traded every price between two points of one candle. So:

* a take-profit whose trigger lies between two points triggers where the market reached it, at
  its own price, not at the farther point (a long's TAKE_PROFIT_MARKET at 60,100 sold at the
  candle's high of 60,300: 200 USDT a BTC that no real order would have had);
* between the close of one candle and the open of the next nothing traded (a gap): there it
  fills at the open, never at its trigger.
"""

from __future__ import annotations

from decimal import Decimal as D

from rulebot.core.account_events import OrderUpdate
from rulebot.core.commands import PlaceOrder
from rulebot.core.enums import MarginType, Market, OrderType, Side, WorkingType
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


def test_a_take_profit_inside_the_candle_fills_at_its_own_price_not_at_the_high() -> None:
    for working in (WorkingType.CONTRACT_PRICE, WorkingType.MARK_PRICE):
        _, paper = opened(Side.BUY)
        assert paper.execute(exit_order("tp", Side.SELL, OrderType.TAKE_PROFIT_MARKET, "60100", working), MIN).ok
        (fill,) = walk(paper, candle(1, "60000", "60300", "59990", "60250"))
        assert (fill.client_order_id, fill.last_filled_price) == ("tp", D(60_100)), working


def test_a_short_take_profit_inside_the_candle_fills_at_its_own_price_not_at_the_low() -> None:
    _, paper = opened(Side.SELL)
    tp = exit_order("tp", Side.BUY, OrderType.TAKE_PROFIT_MARKET, "59900", WorkingType.CONTRACT_PRICE)
    assert paper.execute(tp, MIN).ok
    (fill,) = walk(paper, candle(1, "60000", "60010", "59700", "59750"))
    assert (fill.client_order_id, fill.last_filled_price) == ("tp", D(59_900))


def test_a_take_profit_the_market_gapped_through_fills_at_the_open() -> None:
    _, paper = opened(Side.BUY)
    tp = exit_order("tp", Side.SELL, OrderType.TAKE_PROFIT_MARKET, "60100", WorkingType.CONTRACT_PRICE)
    assert paper.execute(tp, MIN).ok
    # The previous close was 60,000: nothing traded between it and this open.
    (fill,) = walk(paper, candle(1, "60400", "60500", "60390", "60450"))
    assert fill.last_filled_price == D(60_400)


def test_a_take_profit_in_a_down_candle_fills_at_its_own_price_on_the_way_to_the_high() -> None:
    _, paper = opened(Side.BUY)
    tp = exit_order("tp", Side.SELL, OrderType.TAKE_PROFIT_MARKET, "60100", WorkingType.CONTRACT_PRICE)
    assert paper.execute(tp, MIN).ok
    (fill,) = walk(paper, candle(1, "60000", "60150", "59850", "59880"))
    assert (fill.client_order_id, fill.last_filled_price) == ("tp", D(60_100))
