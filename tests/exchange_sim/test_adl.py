"""Auto-deleveraging (issue 15, item 4): when the other side's liquidations outrun the market, a
profitable position is closed at their bankruptcy price, by its ADL quantile.

Binance facts: FACTS §6.3 (client id `adl_autoclose`, execution type CALCULATED, type
LIQUIDATION); the ADL FAQ (closed at the bankruptcy price of the liquidated order, no trading
fee, open orders canceled; ranking "Leverage PnL" = max(0, uPnL) / max(1, wallet) x margin
ratio); `GET /fapi/v1/adlQuantile` (quantiles 0..4). What a backtest must assume (the crowd's
leverage, when liquidity fails, the quantile edges) is `AdlModel`'s docstring.
"""

from __future__ import annotations

from decimal import Decimal as D

from hypothesis import given, settings
from hypothesis import strategies as st

from rulebot.core.enums import MarginType, OrderStatus, OrderType, Side
from rulebot.exchange_sim import AdlModel
from rulebot.exchange_sim.adl import ADL_CLIENT_ID, crowd_bankruptcy, leverage_pnl, quantile

from .conftest import BTCUSDT, FAPI, algos, book, market, order, trades, usdm

ON = AdlModel(enabled=True)


def short(leverage: int, adl: AdlModel = ON, qty: str = "0.5", side: Side = Side.SELL):
    sim = usdm(default_margin_type=MarginType.ISOLATED, default_leverage=leverage, adl=adl)
    book(sim, "60000", "60000.1")
    sim.on_trade(BTCUSDT, D(60000), D(1), 1000, False)  # the peak of the window
    assert sim.execute(market("open", side, qty), 1000).ok
    return sim


def crash(sim, *prices: str) -> list:
    events: list = []
    for n, p in enumerate(prices, start=1):
        events += sim.on_trade(BTCUSDT, D(p), D(1), 1000 + n * 10_000, False)
        events += sim.on_mark_price(BTCUSDT, D(p), 1000 + n * 10_000)
    return events


def test_leverage_pnl_is_binances_ranking_figure() -> None:
    # max(0, 500) / max(1, 1,000) x 30 / (1,000 + 500) = 0.5 x 0.02 = 0.01
    assert leverage_pnl(D(500), D(1000), D(30)) == D("0.01")
    assert leverage_pnl(D(-500), D(1000), D(30)) == 0  # a losing position is last in the queue
    assert leverage_pnl(D(2), D("0.5"), D(1)) == D(2) / D(1) * (D(1) / D("2.5"))  # wallet floored at 1
    assert [quantile(D(v)) for v in ("0", "0.0005", "0.001", "0.005", "0.02", "1.26")] == [0, 1, 2, 3, 4, 4]


def test_a_crash_the_market_cannot_absorb_deleverages_half_of_a_10x_short() -> None:
    # The crowd bought the 60,000 peak at 20x: bankrupt at 57,000. The price runs 2% past that
    # (55,860) to 55,000 within the minute: ADL. Our 10x short (wallet 3,000, uPnL 2,500,
    # MM 110): Leverage PnL 2,500/3,000 x 110/5,500 = 0.0167 -> quantile 3 -> half closed, at
    # 57,000.0, with no fee; its stop is canceled (Binance cancels the open orders).
    sim = short(10)
    assert sim.execute_algo(order("sl", Side.BUY, OrderType.STOP_MARKET, "0.5", trigger="63000"), 1000).ok
    events = crash(sim, "58000", "57000", "55000")
    (fill,) = trades(events)
    assert (fill.client_order_id, fill.execution_type, fill.order_type) == (
        ADL_CLIENT_ID,
        "CALCULATED",
        OrderType.LIQUIDATION,
    )
    assert (fill.side, fill.last_filled_qty, fill.last_filled_price, fill.status) == (
        Side.BUY,
        D("0.25"),
        D("57000.0"),
        OrderStatus.FILLED,
    )
    assert (fill.realized_pnl, fill.commission) == (D("750"), D(0))
    assert fill.time == 31_000
    assert [(a.client_algo_id, a.status) for a in algos(events)] == [("sl", "EXPIRED")]
    assert [p.amount for p in sim.positions()] == [D("-0.25")]


def test_a_20x_short_is_first_in_the_queue_and_closed_whole() -> None:
    # Wallet 1,500: 2,500/1,500 x 110/4,000 = 0.046 -> quantile 4.
    sim = short(20)
    (fill,) = trades(crash(sim, "58000", "57000", "55000"))
    assert (fill.last_filled_qty, fill.last_filled_price) == (D("0.5"), D("57000.0"))
    assert sim.positions() == []


def test_the_losing_side_is_not_deleveraged_and_adl_is_off_by_default() -> None:
    long = short(20, side=Side.BUY, qty="0.05")
    assert not [f for f in trades(crash(long, "58000", "57000", "55000")) if f.client_order_id == ADL_CLIENT_ID]
    off = short(20, adl=AdlModel())
    assert not trades(crash(off, "58000", "57000", "55000"))


def test_a_fall_the_market_absorbs_deleverages_nobody() -> None:
    sim = short(20)
    assert not trades(crash(sim, "58000", "57000", "56000"))  # 56,000 > 57,000 x 0.98


@settings(max_examples=100, deadline=None)
@given(
    peak=st.integers(min_value=20_000, max_value=90_000),
    lev=st.integers(min_value=2, max_value=50),
    depth=st.floats(min_value=0.0, max_value=0.6, allow_nan=False),
    rise=st.booleans(),
)
def test_an_adl_close_is_never_at_a_worse_price_than_bankruptcy_for_the_other_side(
    peak: int, lev: int, depth: float, rise: bool
) -> None:
    model = AdlModel(enabled=True, crowd_leverage=D(lev), shares=(D(1),) * 5)
    sim = usdm("1000000", default_margin_type=MarginType.ISOLATED, default_leverage=20, adl=model)
    start = D(peak)
    book(sim, str(start - D("0.1")), str(start))
    sim.on_trade(BTCUSDT, start, D(1), 1000, False)
    # Short into a fall (the crowd is long), long into a rise (the crowd is short).
    assert sim.execute(market("open", Side.BUY if rise else Side.SELL, "0.01"), 1000).ok
    move = D(repr(depth))
    price = (start * (1 + move) if rise else start * (1 - move)).quantize(D("0.1"))
    events = sim.on_trade(BTCUSDT, max(D("0.1"), price), D(1), 2000, False)
    for f in trades(events):
        bankrupt = crowd_bankruptcy(FAPI[0][BTCUSDT], start, not rise, D(lev))
        # A bankrupt long sells to us at or above its bankruptcy price; a short buys at or below.
        assert f.last_filled_price <= bankrupt if rise else f.last_filled_price >= bankrupt
        assert abs(f.last_filled_price - bankrupt) < D("0.1")
        assert f.last_filled_price % D("0.1") == 0
