"""The equity curve and the price with its markers, drawn by the backtest report's own SVG code
(one drawing for backtests and running bots: the same marks mean the same things)."""

from __future__ import annotations

from bisect import bisect_right
from decimal import Decimal
from typing import Any, Literal, cast

from rulebot.backtest import report_html as draw
from rulebot.backtest.report_svg import downsample
from rulebot.backtest.result import BacktestResult, EquityPoint, FillRecord, Marker

Kind = Literal["entry", "exit", "stop", "take_profit", "liquidation", "guard"]
CSS = draw._CSS  # the report's chart styles, served with the page


def render(history: dict[str, Any], symbols: list[str], asset: str, samples: list[tuple[int, float, float]]) -> str:
    """HTML with SVG charts: the equity, and each symbol's price with its markers. `samples` are
    (time, equity, first symbol's price) the server saw live."""
    equity = sorted(set(history["equity"]) | {(t, e) for t, e, _ in samples if e == e})
    html = draw._line_chart(
        f"Equity ({asset})", downsample(equity, 600), "equity", baseline=equity[0][1] if equity else None
    )
    for i, symbol in enumerate(symbols):
        live = {(t, p) for t, _, p in samples if p > 0} if i == 0 else set()
        html += _price(history, symbol, asset, sorted(set(history["prices"].get(symbol, [])) | live))
    return html


def _price(history: dict[str, Any], symbol: str, asset: str, prices: list[tuple[int, float]]) -> str:
    positions: list[tuple[int, float]] = history["positions"].get(symbol, [])
    times = [t for t, _ in positions]
    curve = []
    for t, p in prices:
        i = bisect_right(times, t) - 1
        held = positions[i][1] if i >= 0 else 0.0
        curve.append(EquityPoint(t, Decimal(0), Decimal(repr(p)), Decimal(repr(held))))
    price_times = [t for t, _ in prices]
    markers, fills = [], []
    for m in history["markers"]:
        if m["symbol"] not in (symbol, ""):
            continue
        value = m["price"]
        if value is None:  # a guard verdict has no price: draw it on the line, at its time
            i = bisect_right(price_times, m["time"]) - 1
            if i < 0 and not prices:
                continue
            value = repr(prices[max(i, 0)][1])
        markers.append(Marker(m["time"], Decimal(value), cast(Kind, m["kind"]), m["label"]))
        if m["kind"] == "entry":
            fills.append(
                FillRecord(
                    m["time"],
                    symbol,
                    m["side"],
                    Decimal(0),
                    Decimal(value),
                    Decimal(0),
                    Decimal(0),
                    False,
                    "entry",
                    "",
                    "",
                )
            )
    result = BacktestResult(
        rulebook="",
        version="",
        symbol=symbol,
        margin_asset=asset,
        start_time=0,
        end_time=0,
        start_equity=Decimal(0),
        events=0,
        fills=fills,
        equity_curve=curve,
        markers=markers,
    )
    return draw._price_chart(result, 600)
