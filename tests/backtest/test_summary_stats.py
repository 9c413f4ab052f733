"""The summary's shortcuts give the text of the long way: the account's fold of a one-symbol result
shared with the symbol's numbers, and the trade list written without `json`'s encoder."""

from __future__ import annotations

import io
import json
from decimal import Decimal as D

from hypothesis import given, settings
from hypothesis import strategies as st

from rulebot.backtest.result import BacktestResult, EquityPoint, FillRecord, SymbolPoint
from rulebot.backtest.stats import Stats, Trade, compute_stats, per_symbol_stats, summary_stats
from rulebot.backtest.summary_json import _trade_list_text, summary_dict, trade_dict, write_json

T = 1_717_200_000_000


def _fill(t: int, side: str, qty: str, price: str, pnl: str = "0", purpose: str = "entry") -> FillRecord:
    return FillRecord(T + t, "BTCUSDT", side, D(qty), D(price), D("0.1"), D(pnl), purpose != "entry", purpose, "r", "c")  # type: ignore[arg-type]


def _result(symbol_last: str | None) -> BacktestResult:
    """Long, liquidated twice at one time (two tiers), then short and still open at 105.0."""
    r = BacktestResult("t", "v", "BTCUSDT", "USDT", T, T + 10_000, D(1000), 100)
    r.fills = [
        _fill(0, "BUY", "2", "100"),
        _fill(1, "SELL", "1", "90", pnl="-10", purpose="liquidation"),
        _fill(1, "SELL", "1", "90", pnl="-10", purpose="liquidation"),
        _fill(2, "SELL", "2", "110"),
    ]
    r.equity_curve = [EquityPoint(T, D(1000), D(100), D(2)), EquityPoint(T + 10_000, D("969.6"), D("105.0"), D(-2))]
    if symbol_last is not None:
        r.symbol_curves = {"BTCUSDT": [SymbolPoint(T + 10_000, D(symbol_last), D(-2), D("-30.4"))]}
    r.end_equity = D("969.6")
    r.liquidations = 1
    return r


def _text(stats, result, per) -> str:  # type: ignore[no-untyped-def]
    return json.dumps(summary_dict(stats, result, per), indent=2, default=str)


def _trades(stats: Stats) -> list[dict[str, object]]:
    return [trade_dict(t) for t in stats.trades]  # as text: Decimal's == would let 10 pass for 10.0


def test_one_symbol_shares_the_accounts_fold_only_at_the_same_last_price_to_the_digit() -> None:
    # 105.0 shares the fold; 105 (equal, not the same digits), 106 and no symbol curve fold again.
    for symbol_last in ("105.0", "105", "106", None):
        r = _result(symbol_last)
        stats, per = summary_stats(r)
        long_way = per_symbol_stats(r)
        assert _text(stats, r, per) == _text(compute_stats(r), r, long_way), symbol_last
        assert _trades(per["BTCUSDT"]) == _trades(long_way["BTCUSDT"]), symbol_last
    r = _result("105")
    (t,) = [t for t in per_symbol_stats(r)["BTCUSDT"].trades if t.is_open]
    assert str(t.open_pnl) == "10"  # and the account's, at 105.0, is 10.0: a shared fold would say so
    assert per_symbol_stats(r)["BTCUSDT"].liquidations == 1 and per_symbol_stats(r)["BTCUSDT"].fills == 4


_SCALARS = st.one_of(
    st.text(),
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**30), max_value=10**30),
    st.floats(allow_nan=True, allow_infinity=True),
    st.decimals(allow_nan=False),
)


@settings(max_examples=150, deadline=None)
@given(st.lists(st.dictionaries(st.text(max_size=8), _SCALARS, max_size=6), min_size=1, max_size=5))
def test_the_trade_list_text_is_what_json_writes_for_a_top_level_key(items: list[dict[str, object]]) -> None:
    whole = json.dumps({"k": items}, indent=2, default=str)
    assert whole == '{\n  "k": ' + "".join(_trade_list_text(items)) + "\n}"


_MONEY = st.decimals(allow_nan=False, allow_infinity=False, places=4, min_value=-(10**6), max_value=10**6)
_TRADES = st.builds(
    Trade,
    side=st.sampled_from(["long", "short"]),
    entry_time=st.integers(0, 2**53),
    entry_rule=st.text(max_size=6),
    entry_qty=_MONEY,
    entry_price=_MONEY,
    exit_qty=_MONEY,
    exit_price=_MONEY,
    gross_pnl=_MONEY,
    fees=_MONEY,
    exit_time=st.none() | st.integers(0, 2**53),
    exit_reason=st.text(max_size=6),
    open_pnl=_MONEY,
    symbol=st.text(max_size=6),
)


@settings(max_examples=60, deadline=None)
@given(st.lists(_TRADES, max_size=6), st.integers(1, 300))
def test_the_streamed_summary_is_json_dumps_whatever_the_trades_and_the_chunk(trades: list[Trade], chunk: int) -> None:
    r = _result("105.0")
    stats = compute_stats(r)
    from dataclasses import replace

    stats = replace(stats, trades=trades, closed=sum(t.exit_time is not None for t in trades))
    out = io.StringIO()
    write_json(summary_dict(stats, r, stream=True), out.write, chunk=chunk)
    assert out.getvalue() == json.dumps(summary_dict(stats, r), indent=2, default=str) + "\n"
