"""The backtest summary: a table for people, the same numbers as exact strings for scripts."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from rich.table import Table
from rich.text import Text

from rulebot.backtest.metrics import CONVENTION, DAY_MS, Metrics
from rulebot.backtest.result import BacktestResult
from rulebot.backtest.stats import Stats, Trade
from rulebot.backtest.summary_warmup import warmup_dict, warmup_rows

# Margin assets worth about a dollar: cents are enough. Coin margins (BTC, ETH) need satoshis.
_DOLLAR_LIKE = frozenset({"USDT", "USDC", "BUSD", "FDUSD", "USD", ""})


def when(ms: int | None) -> str:
    if ms is None:
        return "-"
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d %H:%M")


def span(start: int | None, end: int | None) -> str:
    """`2024-06-03 15:07 → 22:16` when both fall on one day, else both in full."""
    first, last = when(start), when(end)
    if first[:10] == last[:10] and start is not None:
        last = last[11:]
    return f"{first} → {last}"


def places_for(asset: str) -> int:
    return 2 if asset in _DOLLAR_LIKE else 6


def money(value: Decimal | None, asset: str = "", places: int | None = None) -> str:
    if value is None:
        return "-"
    digits = places_for(asset) if places is None else places
    text = f"{value:,.{digits}f}"
    if text.startswith("-") and not value.quantize(Decimal(1).scaleb(-digits)):
        text = text[1:]  # a tiny loss that rounds to nothing is not "-0.00"
    return f"{text} {asset}".strip()


def price(value: Decimal) -> str:
    """Enough digits for BTC at 60,000 and for ADA at 0.35."""
    size = abs(value)
    digits = 2 if size >= 100 else 4 if size >= 1 else 6
    return f"{value:,.{digits}f}"


def pct(value: Decimal | None) -> str:
    return "-" if value is None else f"{value * 100:.2f}%"


def duration(ms: int) -> str:
    minutes = ms // 60_000
    days, rem = divmod(minutes, 1440)
    hours, mins = divmod(rem, 60)
    return f"{days}d {hours}h {mins}m" if days else f"{hours}h {mins}m"


Row = tuple[str, str]
Section = Callable[[Stats, BacktestResult], list[Row]]


def _run_rows(stats: Stats, result: BacktestResult) -> list[Row]:
    return [
        ("rulebook", f"{result.rulebook} (version {result.version})"),
        ("symbols", ", ".join(result.all_symbols)) if len(result.all_symbols) > 1 else ("symbol", result.symbol),
        ("period", f"{span(result.start_time, result.end_time)} ({duration(stats.duration_ms)})"),
    ]


def _assumption_rows(stats: Stats, result: BacktestResult) -> list[Row]:
    """What the simulation assumed (fill model, mark price, funding...): one row each."""
    fees = result.fee_rates
    return [
        ("fee rates", f"maker {rate(fees.maker)}, taker {rate(fees.taker)}"),
        ("mark price", result.mark_price_text),
    ]


def _return_rows(stats: Stats, result: BacktestResult) -> list[Row]:
    a, m = result.margin_asset, stats.metrics
    rows = [
        ("net PnL", f"{money(stats.net_pnl, a)} ({pct(stats.return_pct)})"),
        ("  realized, before fees", money(stats.gross_realized, a)),
        ("  fees", money(-stats.fees, a)),
        ("  funding", money(-stats.funding, a)),
        ("  unrealized at the end", money(stats.unrealized, a)),
        ("equity", f"{money(stats.start_equity, a)} → {money(stats.end_equity, a)}"),
    ]
    if m is not None:
        short = " (a short period annualises wildly)" if stats.duration_ms < 90 * DAY_MS else ""
        rows.append(("CAGR", f"{fpct(m.cagr)} over {duration(stats.duration_ms)}{short}"))
        rows.append(("buy and hold", benchmark_text(m)))
    return rows


def _risk_rows(stats: Stats, result: BacktestResult) -> list[Row]:
    a, m = result.margin_asset, stats.metrics
    drawdown = money(stats.max_drawdown, a)
    if stats.max_drawdown:
        drawdown += f" ({pct(stats.max_drawdown_pct)}), {span(stats.drawdown_peak_time, stats.drawdown_trough_time)}"
    rows = [("max drawdown", drawdown)]
    if m is not None:
        if stats.max_drawdown:
            lasted = duration(m.drawdown_duration_ms)
            recovered = "peak to recovery" if m.drawdown_recovery_time is not None else "not recovered by the end"
            rows.append(("  duration", f"{lasted}, {recovered}"))
        days = len(m.daily_returns)
        rows += [
            ("Sharpe", f"{ratio(m.sharpe)} (from {days} daily return{'s' * (days != 1)})"),
            ("Sortino", f"{ratio(m.sortino)} (downside deviation of the losing days, target 0)"),
            ("Calmar", f"{ratio(m.calmar)} (CAGR / max drawdown)"),
            ("  convention", CONVENTION),
        ]
    rows += [
        ("exposure", f"{pct(stats.exposure)} of the time in a position"),
        ("worst day", worst_day(result)),
        ("liquidations", liquidations_text(stats, result)),
        ("ADL", adl_text(result)),
    ]
    return rows


def _trade_rows(stats: Stats, result: BacktestResult) -> list[Row]:
    a, m = result.margin_asset, stats.metrics
    rows = [
        ("trades", f"{stats.closed} closed" + (f", {stats.open_trades} open at the end" if stats.open_trades else "")),
        ("win rate", f"{pct(stats.win_rate)} ({stats.wins} won, {stats.losses} lost)"),
        ("average trade", money(stats.average_trade, a)),
        ("profit factor", "-" if stats.profit_factor is None else f"{stats.profit_factor:.2f}"),
        ("best / worst trade", f"{money(stats.best_trade, a)} / {money(stats.worst_trade, a)}"),
    ]
    if m is not None and m.trade_durations is not None:
        d = m.trade_durations
        rows.append(
            (
                "trade duration",
                f"average {duration(d.average_ms)} · median {duration(d.median_ms)} · longest {duration(d.max_ms)}",
            )
        )
    return rows


def _activity_rows(stats: Stats, result: BacktestResult) -> list[Row]:
    interventions = ", ".join(f"{g}: {n:,}" for g, n in sorted(stats.guard_interventions.items())) or "none"
    cap_stops = (
        [("  daily-cap stops", f"{result.cap_stops:,} placed or re-priced (standing orders, not interventions)")]
        if result.cap_stops
        else []
    )
    return [
        ("guard interventions", interventions),
        *cap_stops,
        ("rule errors", rule_errors_text(result)),
        ("fill model", result.fill_model.describe()),
        ("fills · decisions · events", f"{stats.fills:,} · {stats.decisions:,} · {stats.events:,}"),
        ("path", f"{result.path}: {result.path_reason}"),
    ]


def _warning_rows(stats: Stats, result: BacktestResult) -> list[Row]:
    return [("warning", w) for w in result.warnings]


# The summary, top to bottom: each section is a list of rows, and the table draws a line
# between sections. A new kind of line (the path that ran, a fill-model assumption, warm-up)
# is a row in its section, or a new section here.
SECTIONS: list[Section] = [_run_rows, _assumption_rows, _return_rows, _risk_rows, _trade_rows, _activity_rows,
                           warmup_rows, _warning_rows]  # fmt: skip


def summary_sections(stats: Stats, result: BacktestResult) -> list[list[Row]]:
    return [rows for section in SECTIONS if (rows := section(stats, result))]


def summary_rows(stats: Stats, result: BacktestResult) -> list[Row]:
    return [row for rows in summary_sections(stats, result) for row in rows]


def fpct(value: float | None) -> str:
    return "-" if value is None else f"{value * 100:,.2f}%"


def ratio(value: float | None) -> str:
    return "-" if value is None else f"{value:,.2f}"


def benchmark_text(m: Metrics) -> str:
    """`+5.12% (BTCUSDT 60,000.00 → 63,072.00, max drawdown 3.20%)`: holding the symbols."""
    if not m.benchmarks:
        return "-"
    parts = [
        f"{b.symbol} {pct(b.ret)}: {price(b.first_price)} → {price(b.last_price)}, "
        f"max drawdown {pct(b.max_drawdown_pct)}"
        for b in m.benchmarks
    ]
    total = m.benchmark_return
    if len(m.benchmarks) == 1:
        return f"{pct(total)} ({parts[0].split(': ', 1)[1]})"
    return f"{pct(total)} equal weight ({'; '.join(parts)})"


def liquidations_text(stats: Stats, result: BacktestResult) -> str:
    """`0`, or how many and the clearance fees they paid (part of `fees` too)."""
    if not stats.liquidations:
        return "0"
    return f"{stats.liquidations} (clearance fees {money(result.clearance_fees, result.margin_asset)})"


def adl_text(result: BacktestResult) -> str:
    """Auto-deleveraging: what closed (or none) and the model that decided it."""
    if result.adl_model == "off":
        return "off (not modelled: a crash never closes a profitable position here; --adl models it)"
    closes = "; ".join(f"{when(t)} {s} {qty} at {price}" for t, s, qty, price in result.adl_closes) or "none"
    return f"{len(result.adl_closes)}: {closes} · model {result.adl_model}"


def rate(value: Decimal) -> str:
    """A fee rate as an exact percentage: 0.0002 -> 0.02%."""
    return f"{(value * 100).normalize():f}%"


SYMBOL_COLUMNS = ("symbol", "trades", "win rate", "net PnL", "realized", "fees", "funding", "unrealized",
                  "max drawdown", "exposure", "liquidations")  # fmt: skip


def symbol_rows(per: Mapping[str, Stats], total: Stats, asset: str) -> list[tuple[str, ...]]:
    """One row per symbol and a total row: the per-symbol breakdown of a several-symbol backtest."""

    def row(name: str, st: Stats) -> tuple[str, ...]:
        trades = f"{st.closed}" + (f" (+{st.open_trades} open)" if st.open_trades else "")
        return (name, trades, pct(st.win_rate), money(st.net_pnl, asset), money(st.gross_realized, asset),
                money(-st.fees, asset), money(-st.funding, asset), money(st.unrealized, asset),
                money(st.max_drawdown, asset), pct(st.exposure), str(st.liquidations))  # fmt: skip

    return [*(row(name, st) for name, st in per.items()), row("total", total)]


def symbol_table(per: Mapping[str, Stats], total: Stats, asset: str) -> Table:
    table = Table(title=Text("by symbol"), title_justify="left")
    for column in SYMBOL_COLUMNS:
        table.add_column(column, justify="left" if column == "symbol" else "right")
    rows = symbol_rows(per, total, asset)
    for i, r in enumerate(rows):
        table.add_row(*(Text(v) for v in r), end_section=i == len(rows) - 2)
    return table


MONTH_COLUMNS = ("month", "net PnL", "return", "trades closed", "max drawdown")


def month_rows(stats: Stats, asset: str) -> list[tuple[str, ...]]:
    """One row per calendar month (UTC): the month-by-month breakdown."""
    months = stats.metrics.months if stats.metrics is not None else ()
    return [(m.month, money(m.pnl, asset), pct(m.ret), str(m.trades), pct(m.max_drawdown_pct)) for m in months]


def month_table(stats: Stats, asset: str) -> Table:
    table = Table(title=Text("by month (UTC)"), title_justify="left")
    for column in MONTH_COLUMNS:
        table.add_column(column, justify="left" if column == "month" else "right")
    for r in month_rows(stats, asset):
        table.add_row(*(Text(v) for v in r))
    return table


def rule_errors_text(result: BacktestResult) -> str:
    """`none`, or each failing rule: how often, the first error and when (a failed condition
    counted as false: the backtest traded as if the rule had not been there)."""
    if not result.rule_errors:
        return "none"
    return "; ".join(
        f"{rule}: {e.count:,} ({e.first_error}; first {when(e.first_time)} on {e.symbol})"
        for rule, e in sorted(result.rule_errors.items())
    )


def worst_day(result: BacktestResult) -> str:
    """`-101.23 USDT on 2025-06-09 (cap 96.58 USDT, 4.65 USDT past it)`: the lowest daily PnL
    against that day's cap (a stop fills one price step past its trigger)."""
    w, a = result.worst_day, result.margin_asset
    if w is None:
        return "-"
    over = f", {money(-w.pnl - w.cap, a)} past it" if -w.pnl > w.cap else ""
    return f"{money(w.pnl, a)} on {when(w.day_start)[:10]} (cap {money(w.cap, a)}){over}"


def _sign_style(value: Decimal | None) -> str | None:
    if value is None or value == 0:
        return None
    return "green" if value > 0 else "red"


def summary_table(stats: Stats, result: BacktestResult) -> Table:
    # Text, not str: rulebook and guard names come from users, and rich would read "[...]" as markup.
    table = Table(title=Text(f"backtest · {result.rulebook}"), show_header=False, title_justify="left")
    table.add_column("what", style="bold", no_wrap=True)
    table.add_column("value")
    styles = {
        "net PnL": _sign_style(stats.net_pnl),
        "liquidations": "red" if stats.liquidations else None,
        "rule errors": "red" if result.rule_errors else None,
    }
    sections = summary_sections(stats, result)
    for n, rows in enumerate(sections):
        for i, (label, value) in enumerate(rows):
            last = i == len(rows) - 1 and n < len(sections) - 1
            table.add_row(Text(label), Text(value), style=styles.get(label), end_section=last)
    return table


def _s(value: Decimal | None) -> str | None:
    return None if value is None else str(value)


def trade_dict(t: Trade) -> dict[str, Any]:
    return {
        "symbol": t.symbol or None,
        "side": t.side,
        "entry_time": t.entry_time,
        "entry_rule": t.entry_rule or None,
        "entry_price": str(t.entry_price),
        "quantity": str(t.entry_qty),
        "exit_time": t.exit_time,
        "exit_price": str(t.exit_price) if t.exit_qty else None,
        "exit_quantity": str(t.exit_qty),
        "exit_reason": t.exit_reason or None,
        "gross_pnl": str(t.gross_pnl),
        "fees": str(t.fees),
        "open_pnl": str(t.open_pnl),
        "net_pnl": str(t.net_pnl),
        "open": t.is_open,
    }


def _numbers(stats: Stats) -> dict[str, Any]:
    return {
        "trades": stats.closed,
        "open_trades": stats.open_trades,
        "wins": stats.wins,
        "losses": stats.losses,
        "win_rate": _s(stats.win_rate),
        "start_equity": str(stats.start_equity),
        "end_equity": str(stats.end_equity),
        "net_pnl": str(stats.net_pnl),
        "return": _s(stats.return_pct),
        "gross_realized_pnl": str(stats.gross_realized),
        "fees": str(stats.fees),
        "funding_paid": str(stats.funding),
        "unrealized_pnl": str(stats.unrealized),
        "max_drawdown": str(stats.max_drawdown),
        "max_drawdown_pct": _s(stats.max_drawdown_pct),
        "drawdown_peak_time": stats.drawdown_peak_time,
        "drawdown_trough_time": stats.drawdown_trough_time,
        "exposure": _s(stats.exposure),
        "average_trade": _s(stats.average_trade),
        "profit_factor": _s(stats.profit_factor),
        "best_trade": _s(stats.best_trade),
        "worst_trade": _s(stats.worst_trade),
        "liquidations": stats.liquidations,
        "guard_interventions": stats.guard_interventions,
        "fills": stats.fills,
        "decisions": stats.decisions,
        "events": stats.events,
    }


def metrics_dict(m: Metrics | None) -> dict[str, Any]:
    """Ratios as floats (None where undefined), money and fractions as exact strings."""
    if m is None:
        return {}
    d = m.trade_durations
    bench = m.benchmark_return
    return {
        "sharpe": m.sharpe,
        "sortino": m.sortino,
        "cagr": m.cagr,
        "calmar": m.calmar,
        "ratio_convention": CONVENTION,
        "daily_returns": len(m.daily_returns),
        "max_drawdown_duration_ms": m.drawdown_duration_ms,
        "drawdown_recovery_time": m.drawdown_recovery_time,
        "trade_duration_ms": None if d is None else {"average": d.average_ms, "median": d.median_ms, "max": d.max_ms},
        "by_month": [
            {
                "month": mo.month,
                "start_equity": str(mo.start_equity),
                "end_equity": str(mo.end_equity),
                "pnl": str(mo.pnl),
                "return": _s(mo.ret),
                "trades": mo.trades,
                "max_drawdown_pct": _s(mo.max_drawdown_pct),
            }
            for mo in m.months
        ],
        "benchmark": {
            "kind": "buy and hold each symbol from the first to the last price, equal weight, no fees",
            "return": _s(bench),
            "symbols": {
                b.symbol: {
                    "first_price": str(b.first_price),
                    "last_price": str(b.last_price),
                    "return": str(b.ret),
                    "max_drawdown_pct": _s(b.max_drawdown_pct),
                }
                for b in m.benchmarks
            },
        },
    }


def summary_dict(stats: Stats, result: BacktestResult, per: Mapping[str, Stats] | None = None) -> dict[str, Any]:
    """Exact numbers (Decimals as strings; fractions, not percents) for scripts: what the table shows.

    The top level is the whole account; `by_symbol` (given `per`) holds the same numbers for each
    symbol (its `start_equity` is the account's, its `end_equity` the start plus its own net PnL).
    """
    doc: dict[str, Any] = {
        "rulebook": result.rulebook,
        "version": result.version,
        "symbol": ",".join(result.all_symbols),
        "symbols": list(result.all_symbols),
        "margin_asset": result.margin_asset,
        "start_time": result.start_time,
        "end_time": result.end_time,
        "duration_ms": stats.duration_ms,
        **_numbers(stats),
        "worst_day": None
        if result.worst_day is None
        else {
            "day_start": result.worst_day.day_start,
            "pnl": str(result.worst_day.pnl),
            "cap": str(result.worst_day.cap),
        },
        "rule_errors": {
            rule: {"count": e.count, "first_time": e.first_time, "first_error": e.first_error, "symbol": e.symbol}
            for rule, e in sorted(result.rule_errors.items())
        },
        "trade_list": [trade_dict(t) for t in stats.trades],
        "fee_rates": {"maker": str(result.fee_rates.maker), "taker": str(result.fee_rates.taker)},
        "fill_model": {"name": result.fill_model.name, **result.fill_model.parameters()},
        "warnings": list(result.warnings),
        "mark_price": dict(sorted(result.mark_sources.items())),
        "clearance_fees": str(result.clearance_fees),
        "adl": {
            "model": result.adl_model,
            "closes": [
                {"time": t, "symbol": s, "quantity": str(q), "price": str(p)} for t, s, q, p in result.adl_closes
            ],
        },
        "cap_stops": result.cap_stops,
        **metrics_dict(stats.metrics),
        "path": result.path,
        "path_reason": result.path_reason,
        "warmup": warmup_dict(result),
    }
    if per is not None:
        doc["by_symbol"] = {name: _numbers(st) for name, st in per.items()}
    return doc
