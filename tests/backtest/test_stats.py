"""Round trips and summary numbers on hand-built results with known answers."""

from __future__ import annotations

from decimal import Decimal as D

from rulebot.backtest.result import BacktestResult, EquityPoint, FillRecord, GuardEvent
from rulebot.backtest.stats import compute_stats, drawdown, exposure, round_trips
from rulebot.backtest.summary import summary_dict

T = 1_717_200_000_000


def fill(
    t: int, side: str, qty: str, price: str, fee: str = "0", pnl: str = "0", purpose: str = "entry", rule: str = "r"
) -> FillRecord:
    return FillRecord(
        T + t,
        "BTCUSDT",
        side,
        D(qty),
        D(price),
        D(fee),
        D(pnl),
        purpose != "entry",
        purpose,
        rule,  # type: ignore[arg-type]
        f"c{t}",
    )


def result(fills, curve=(), start="1000", end="1000", funding="0") -> BacktestResult:
    r = BacktestResult("t", "v", "BTCUSDT", "USDT", T, T + 10_000, D(start), 100)
    r.fills = list(fills)
    r.equity_curve = [EquityPoint(T + t, D(e), D(p), D(pos)) for t, e, p, pos in curve]
    r.end_equity = D(end)
    r.funding_paid = D(funding)
    return r


def test_a_round_trip_with_a_partial_exit_is_one_trade():
    trades = round_trips(
        [
            fill(0, "BUY", "2", "100", fee="0.1"),
            fill(1, "SELL", "1", "110", fee="0.05", pnl="10", purpose="take_profit"),
            fill(2, "SELL", "1", "90", fee="0.05", pnl="-10", purpose="stop_loss"),
        ],
        None,
    )
    assert len(trades) == 1
    t = trades[0]
    assert (t.side, t.entry_price, t.exit_price, t.gross_pnl, t.fees) == ("long", D(100), D(100), D(0), D("0.2"))
    assert t.exit_reason == "stop_loss" and not t.is_open and t.net_pnl == D("-0.2")


def test_a_flip_through_zero_closes_one_trade_and_opens_the_next():
    trades = round_trips(
        [
            fill(0, "BUY", "1", "100", fee="1"),
            fill(1, "SELL", "3", "120", fee="3", pnl="20", purpose="exit"),  # closes 1, opens a short of 2
        ],
        D("110"),
    )
    assert [t.side for t in trades] == ["long", "short"]
    first, second = trades
    assert first.gross_pnl == D(20) and first.fees == D(2) and first.net_pnl == D(18)  # 1 + a third of 3
    assert second.is_open and second.entry_qty == D(2) and second.entry_price == D(120)
    assert second.fees == D(2) and second.open_pnl == D(20)  # short 2 from 120, marked at 110


def test_totals_drawdown_exposure_and_split_of_net_pnl():
    fills = [
        fill(0, "BUY", "1", "100", fee="1"),
        fill(5000, "SELL", "1", "130", fee="1", pnl="30", purpose="exit"),
        fill(6000, "BUY", "1", "130", fee="1"),
        fill(9000, "SELL", "1", "120", fee="1", pnl="-10", purpose="exit"),
    ]
    curve = [
        (0, "1000", "100", "1"),
        (2000, "1040", "140", "1"),
        (4000, "1010", "110", "1"),
        (6000, "1028", "130", "0"),
        (8000, "1020", "122", "1"),
        (10000, "1016", "120", "0"),
    ]
    stats = compute_stats(result(fills, curve, end="1016", funding="0"))
    assert (stats.closed, stats.wins, stats.losses, stats.win_rate) == (2, 1, 1, D("0.5"))
    assert stats.net_pnl == D(16) and stats.gross_realized == D(20) and stats.fees == D(4)
    assert stats.unrealized == D(0)
    assert stats.max_drawdown == D(30) and stats.max_drawdown_pct == D(30) / D(1040)
    assert (stats.drawdown_peak_time, stats.drawdown_trough_time) == (T + 2000, T + 4000)
    assert stats.exposure == D("0.8")  # in a position for 8 of the 10 sampled seconds
    assert stats.average_trade == D(8) and stats.profit_factor == D(28) / D(12)
    assert (stats.best_trade, stats.worst_trade) == (D(28), D(-12))


def test_no_trades_and_no_curve_give_blanks_not_errors():
    stats = compute_stats(result([], (), end="1000"))
    assert stats.trades == () and stats.win_rate is None and stats.profit_factor is None
    assert stats.max_drawdown == 0 and stats.exposure is None and stats.average_trade is None
    doc = summary_dict(stats, result([], ()))
    assert doc["trades"] == 0 and doc["win_rate"] is None and doc["trade_list"] == []


def test_guard_interventions_are_counted_by_guard():
    r = result([])
    r.guard_events = [
        GuardEvent(T, "stale_data", "reject", "x", "r"),
        GuardEvent(T, "stale_data", "reject", "y", "r"),
        GuardEvent(T, "max_leverage", "resize", "z", "r"),
    ]
    assert compute_stats(r).guard_interventions == {"stale_data": 2, "max_leverage": 1}


def test_an_open_trade_at_the_end_is_marked_to_the_last_price_and_makes_up_the_unrealized():
    fills = [fill(0, "SELL", "2", "100", fee="0.2", rule="fade")]
    curve = [(0, "1000", "100", "-2"), (10_000, "989.8", "105", "-2")]
    stats = compute_stats(result(fills, curve, end="989.8", funding="0"))
    (t,) = stats.trades
    assert t.is_open and t.side == "short" and t.entry_rule == "fade" and t.exit_price == 0
    assert t.open_pnl == D(-10) and t.net_pnl == D("-10.2")
    assert (stats.closed, stats.open_trades, stats.win_rate) == (0, 1, None)
    assert stats.net_pnl == D("-10.2") and stats.unrealized == D(-10) and stats.fees == D("0.2")


def test_an_open_inverse_trade_is_marked_in_coin():
    fills = [fill(0, "BUY", "10", "50000")]  # 10 contracts of 100 USD
    (t,) = round_trips(fills, D(62500), inverse_size=D(100))
    assert t.open_pnl == D(10) * D(100) * (1 / D(50000) - 1 / D(62500))  # 0.004 BTC
    assert t.open_pnl == D("0.004")


def test_net_pnl_splits_into_realized_fees_funding_and_unrealized():
    fills = [
        fill(0, "BUY", "1", "100", fee="0.5"),
        fill(5000, "SELL", "1", "110", fee="0.5", pnl="10", purpose="take_profit"),
    ]
    # 10 realized, 1 of fees, 2.5 of funding paid while the position was open: 1006.5 at the end.
    stats = compute_stats(
        result(fills, [(0, "1000", "100", "1"), (10_000, "1006.5", "110", "0")], end="1006.5", funding="2.5")
    )
    assert (stats.gross_realized, stats.fees, stats.funding, stats.unrealized) == (D(10), D(1), D("2.5"), D(0))
    assert stats.net_pnl == stats.gross_realized - stats.fees - stats.funding + stats.unrealized == D("6.5")
    assert stats.return_pct == D("0.0065")
    (t,) = stats.trades
    assert t.exit_reason == "take_profit" and t.net_pnl == D(9)  # funding is not split over trades
    doc = summary_dict(stats, result(fills, end="1006.5", funding="2.5"))
    assert (doc["net_pnl"], doc["funding_paid"], doc["trade_list"][0]["exit_reason"]) == ("6.5", "2.5", "take_profit")


def test_adding_to_a_position_averages_the_entry_and_a_later_entry_is_a_new_trade():
    trades = round_trips(
        [
            fill(0, "BUY", "1", "100", rule="first"),
            fill(1, "BUY", "3", "120", rule="add"),
            fill(2, "SELL", "4", "130", pnl="60", purpose="exit"),
            fill(3, "BUY", "1", "90", rule="again"),
        ],
        None,
    )
    assert [(t.side, t.entry_rule, t.entry_price, t.entry_qty) for t in trades] == [
        ("long", "first", D(115), D(4)),
        ("long", "again", D(90), D(1)),
    ]
    assert trades[0].exit_price == D(130) and trades[0].gross_pnl == D(60)
    assert trades[1].is_open and trades[1].open_pnl == 0  # no last price: nothing to mark to


def test_a_liquidation_closes_the_trade_and_names_it():
    trades = round_trips(
        [fill(0, "BUY", "1", "100"), fill(9, "SELL", "1", "60", fee="0.3", pnl="-40", purpose="liquidation")], None
    )
    assert trades[0].exit_reason == "liquidation" and trades[0].net_pnl == D("-40.3")


def test_drawdown_and_exposure_edges():
    flat = result([], [(0, "1000", "1", "0"), (10, "1000", "1", "0")])
    assert drawdown(flat.equity_curve).amount == 0 and drawdown(flat.equity_curve).pct is None
    assert exposure(flat.equity_curve) == 0
    one = result([], [(0, "1000", "1", "1")])
    assert exposure(one.equity_curve) is None
    # A fall from a later, higher peak is the deeper one; percent is of that peak.
    curve = result([], [(0, "100", "1", "0"), (1, "90", "1", "0"), (2, "200", "1", "0"), (3, "150", "1", "0")])
    dd = drawdown(curve.equity_curve)
    assert (dd.amount, dd.pct, dd.peak_time, dd.trough_time) == (D(50), D("0.25"), T + 2, T + 3)
    # A wallet that went to zero or below has no percent to show, but the amount stays exact.
    gone = result([], [(0, "0", "1", "0"), (1, "-5", "1", "0")])
    assert drawdown(gone.equity_curve).amount == D(5) and drawdown(gone.equity_curve).pct is None


def test_zero_start_equity_gives_no_return_rather_than_an_error():
    stats = compute_stats(result([], (), start="0", end="0"))
    assert stats.return_pct is None and stats.net_pnl == 0


def test_fills_of_two_symbols_are_two_symbols_trades_not_one_blended_position():
    """A BTC sell closed an ETH long: two symbols' interleaved round trips were counted as one."""
    from dataclasses import replace

    from rulebot.backtest.result import SymbolPoint
    from rulebot.backtest.stats import compute_symbol_stats

    def eth(f: FillRecord) -> FillRecord:
        return replace(f, symbol="ETHUSDT")

    fills = [
        fill(0, "BUY", "1", "100", fee="0.1"),
        eth(fill(1, "SELL", "2", "50", fee="0.1")),
        fill(2, "SELL", "1", "110", fee="0.1", pnl="10", purpose="exit"),
        eth(fill(3, "BUY", "2", "45", fee="0.1", pnl="10", purpose="exit")),
        eth(fill(4, "BUY", "1", "40", fee="0.1")),
    ]
    r = result(fills, end="1019.5")
    r.symbols = ("BTCUSDT", "ETHUSDT")
    r.symbol_curves = {
        "BTCUSDT": [SymbolPoint(T + 4, D(110), D(0), D("9.8"))],
        "ETHUSDT": [SymbolPoint(T + 4, D(40), D(1), D("9.7"))],
    }
    r.unrealized_by_symbol = {"BTCUSDT": D(0), "ETHUSDT": D(0)}
    stats = compute_stats(r)
    assert [(t.symbol, t.side, t.is_open) for t in stats.trades] == [
        ("BTCUSDT", "long", False),
        ("ETHUSDT", "short", False),
        ("ETHUSDT", "long", True),
    ]
    assert stats.closed == 2 and stats.wins == 2
    btc, eth_stats = compute_symbol_stats(r, "BTCUSDT"), compute_symbol_stats(r, "ETHUSDT")
    assert (btc.closed, btc.net_pnl, btc.fees) == (1, D("9.8"), D("0.2"))
    assert (eth_stats.closed, eth_stats.open_trades, eth_stats.net_pnl) == (1, 1, D("9.7"))
    assert btc.net_pnl + eth_stats.net_pnl == stats.net_pnl - stats.unrealized
