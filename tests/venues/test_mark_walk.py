"""The mark walks its own high and low inside each bar when mark-price klines are given, and a
backtest without mark data says that its mark followed the last price (issue 15, item 2).

Liquidation numbers are MARGIN.md E4: long 0.5 BTC at 60,000, isolated wallet 1,500, LP
57,228.92, bankruptcy 57,000.
"""

from __future__ import annotations

from decimal import Decimal as D
from pathlib import Path

from rulebot.core.account_events import OrderUpdate
from rulebot.core.commands import PlaceOrder
from rulebot.core.enums import MarginType, Market, OrderType, Side, WorkingType
from rulebot.core.events import CandleClosed, MarkPrice
from rulebot.exchange_sim import SimExchange
from rulebot.feeds.catalog import builtin_brackets, builtin_instruments
from rulebot.feeds.replay import ReplaySource
from rulebot.venues.paper import MARK_DERIVED, MARK_FROM_BARS, PaperVenue

BTC = "BTCUSDT"
MIN = 60_000


def venue() -> tuple[SimExchange, PaperVenue]:
    inst, brackets = builtin_instruments(Market.USDM), builtin_brackets(Market.USDM)
    sim = SimExchange(
        {BTC: inst[BTC]},
        {BTC: brackets[BTC]},
        market=Market.USDM,
        balances={"USDT": D(10_000)},
        default_margin_type=MarginType.ISOLATED,
    )
    paper = PaperVenue(sim, Market.USDM)
    paper.on_market(MarkPrice(BTC, D(60_000), 1))
    sim.on_book(BTC, D("59999.9"), D(5), D(60_000), D(5), 1)
    assert sim.execute(PlaceOrder("open", BTC, Side.BUY, OrderType.MARKET, D("0.5")), 1).ok
    return sim, paper


def candle(i: int, o: str, h: str, lo: str, c: str) -> CandleClosed:
    start = i * MIN
    return CandleClosed(BTC, "1m", start, start + MIN - 1, D(o), D(h), D(lo), D(c), D(10), D(0), 0, D(0))


def mark_bar(i: int, o: str, h: str, lo: str, c: str) -> MarkPrice:
    start = i * MIN
    return MarkPrice(BTC, D(c), start + MIN - 1, bar_open_time=start, bar_open=D(o), bar_high=D(h), bar_low=D(lo))


def run(paper: PaperVenue, *events: object) -> list[object]:
    out: list[object] = []
    for e in events:
        if isinstance(e, CandleClosed):
            for _, _, reports in paper.walk(e):
                out += reports
        else:
            out += paper.on_market(e)
    return out


def liquidations(events: list[object]) -> list[OrderUpdate]:
    return [e for e in events if isinstance(e, OrderUpdate) and e.client_order_id.startswith("autoclose")]


def test_a_mark_wick_below_the_liquidation_price_liquidates_inside_the_bar() -> None:
    # The last price stays near 60,000; the mark dips to 57,100 (below LP 57,228.92) and closes
    # at 59,900. Before: only the mark's close was an event, and the position survived.
    sim, paper = venue()
    events = run(
        paper,
        mark_bar(1, "60000", "60010", "59990", "60000"),
        candle(1, "60000", "60010", "59990", "60000"),
        mark_bar(2, "60000", "60005", "57100", "59900"),
        candle(2, "60000", "60020", "59950", "59960"),
    )
    (liq,) = liquidations(events)
    assert liq.symbol == BTC and liq.last_filled_qty == D("0.5")
    assert liq.time == 2 * MIN + (MIN - 1) * 2 // 3  # the candle's third point, where the mark's low is
    assert sim.positions() == []
    assert paper.mark_sources() == {BTC: MARK_FROM_BARS}


def test_a_mark_wick_that_stays_above_the_liquidation_price_does_not_liquidate() -> None:
    sim, paper = venue()
    run(
        paper,
        mark_bar(1, "60000", "60010", "59990", "60000"),
        candle(1, "60000", "60010", "59990", "60000"),
        mark_bar(2, "60000", "60005", "57300", "59900"),
        candle(2, "60000", "60020", "56000", "59960"),  # a last-price wick alone never liquidates
    )
    assert [p.amount for p in sim.positions()] == [D("0.5")]


def test_a_mark_price_stop_triggers_on_the_marks_own_wick() -> None:
    sim, paper = venue()
    run(paper, mark_bar(1, "60000", "60010", "59990", "60000"), candle(1, "60000", "60010", "59990", "60000"))
    stop = PlaceOrder(
        "sl",
        BTC,
        Side.SELL,
        OrderType.STOP_MARKET,
        D("0.5"),
        trigger_price=D(59_000),
        working_type=WorkingType.MARK_PRICE,
        reduce_only=True,
    )
    assert paper.execute(stop, 2 * MIN).ok
    events = run(paper, mark_bar(2, "60000", "60005", "58900", "59950"), candle(2, "60000", "60020", "59950", "59990"))
    fills = [e for e in events if isinstance(e, OrderUpdate) and e.last_filled_qty > 0]
    assert [f.client_order_id for f in fills] == ["sl"]
    assert sim.positions() == []


def test_a_mark_bar_without_a_trade_candle_of_its_period_is_walked_on_its_own() -> None:
    # Trades (no candles) with mark klines: the bar is walked at its close time.
    sim, paper = venue()
    events = run(paper, mark_bar(1, "60000", "60005", "57100", "59900"))
    (liq,) = liquidations(events)
    assert liq.time == 2 * MIN - 1
    assert sim.positions() == []


def test_without_mark_data_the_mark_follows_the_last_price_and_says_so() -> None:
    inst, brackets = builtin_instruments(Market.USDM), builtin_brackets(Market.USDM)
    sim = SimExchange({BTC: inst[BTC]}, {BTC: brackets[BTC]}, market=Market.USDM, balances={"USDT": D(10_000)})
    paper = PaperVenue(sim, Market.USDM)
    run(paper, candle(1, "60000", "60010", "59000", "59500"))
    assert sim.quotes(BTC).mark == D(59_500)
    assert paper.mark_sources() == {BTC: MARK_DERIVED}
    assert "follows the last price" in MARK_DERIVED


def test_mark_price_klines_replay_with_their_bar(tmp_path: Path) -> None:
    folder = tmp_path / "futures" / "um" / "daily" / "markPriceKlines" / BTC / "1m"
    folder.mkdir(parents=True)
    header = "open_time,open,high,low,close,volume,close_time,quote_volume,count,taker_buy_volume,"
    header += "taker_buy_quote_volume,ignore\n"
    row = "1749254400000,60000.0,60005.5,57100.0,59900.1,0,1749254459999,0,60,0,0,0\n"
    (folder / f"{BTC}-1m-2025-06-07.csv").write_text(header + row)
    (event,) = list(ReplaySource(tmp_path))
    assert event == MarkPrice(
        BTC,
        D("59900.1"),
        1749254459999,
        bar_open_time=1749254400000,
        bar_open=D("60000.0"),
        bar_high=D("60005.5"),
        bar_low=D("57100.0"),
    )


def opened_long() -> tuple[SimExchange, PaperVenue]:
    """0.5 BTC long at 60,000 after one quiet candle and mark bar; no book, so fills meet the walk."""
    inst, brackets = builtin_instruments(Market.USDM), builtin_brackets(Market.USDM)
    sim = SimExchange(
        {BTC: inst[BTC]},
        {BTC: brackets[BTC]},
        market=Market.USDM,
        balances={"USDT": D(10_000)},
        default_margin_type=MarginType.ISOLATED,
    )
    paper = PaperVenue(sim, Market.USDM)
    run(paper, mark_bar(1, "60000", "60000", "60000", "60000"), candle(1, "60000", "60000", "60000", "60000"))
    assert paper.execute(PlaceOrder("open", BTC, Side.BUY, OrderType.MARKET, D("0.5")), 2 * MIN - 1).ok
    return sim, paper


def take_profit(working: WorkingType) -> PlaceOrder:
    return PlaceOrder(
        "tp",
        BTC,
        Side.SELL,
        OrderType.TAKE_PROFIT_MARKET,
        None,
        trigger_price=D(60_500),
        working_type=working,
        close_position=True,
        time=2 * MIN,
    )


def fills(events: list[object]) -> list[tuple[str, D]]:
    return [
        (e.client_order_id, e.last_filled_price) for e in events if isinstance(e, OrderUpdate) and e.last_filled_qty > 0
    ]


def test_a_mark_price_take_profit_passed_inside_the_mark_bar_fills_at_its_own_price_not_at_the_high() -> None:
    """With mark-price klines, a MARK_PRICE take-profit (the rulebook's default working type) at
    60,500 sold at the candle's high, 61,000: the mark reached its high at the walk's third point,
    and the order filled at the last price walked there. The market passed 60,500 on its way up:
    500 USDT a BTC no real order would have had. Without mark data it already filled at 60,500."""
    for working in (WorkingType.CONTRACT_PRICE, WorkingType.MARK_PRICE):
        sim, paper = opened_long()
        assert paper.execute(take_profit(working), 2 * MIN).ok
        events = run(
            paper, mark_bar(2, "60000", "60990", "59960", "60890"), candle(2, "60000", "61000", "59950", "60900")
        )
        assert fills(events) == [("tp", D(60_500))], working
        assert sim.positions() == []


def test_a_mark_price_take_profit_fills_no_better_than_the_trades_walked_while_the_mark_passed_it() -> None:
    # The mark runs ahead of the last price: it passes 60,500 while the trades only reach 60,400.
    _, paper = opened_long()
    assert paper.execute(take_profit(WorkingType.MARK_PRICE), 2 * MIN).ok
    events = run(paper, mark_bar(2, "60000", "60600", "59960", "60390"), candle(2, "60000", "60400", "59950", "60380"))
    assert fills(events) == [("tp", D(60_400))]


def test_a_mark_price_stop_fills_at_the_low_the_trades_walked_when_the_mark_bar_closed_the_other_way() -> None:
    """The trade candle closed down (walked open, high, low, close) and its mark bar closed up (open,
    low, high, close): paired point by point, the mark stood at its low while the trades stood at
    their high, and a long's MARK_PRICE stop at 59,500 sold at the candle's high, 60,300, a profit
    of 300 a BTC for a stop-loss. The mark now walks in the trades' order: it sells at the low."""
    _, paper = opened_long()
    stop = PlaceOrder(
        "sl",
        BTC,
        Side.SELL,
        OrderType.STOP_MARKET,
        None,
        trigger_price=D(59_500),
        working_type=WorkingType.MARK_PRICE,
        close_position=True,
        time=2 * MIN,
    )
    assert paper.execute(stop, 2 * MIN).ok
    events = run(paper, mark_bar(2, "60000", "60250", "59450", "60010"), candle(2, "60000", "60300", "59400", "59990"))
    assert fills(events) == [("sl", D(59_400))]
