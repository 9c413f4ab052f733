"""The backtest summary: a table for people, the same numbers as exact strings for scripts."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from decimal import Decimal

from rich.table import Table
from rich.text import Text

from rulebot.backtest.assumptions import assumption_rows
from rulebot.backtest.metrics import CONVENTION, DAY_MS, Metrics
from rulebot.backtest.result import BacktestResult
from rulebot.backtest.stats import Stats
from rulebot.backtest.summary_json import summary_dict, trade_dict
from rulebot.backtest.summary_warmup import warmup_rows
from rulebot.backtest.text import duration, exact, fpct, money, pct, price, rate, ratio, span, when

# Names other modules import from here (the summary's public face): the JSON and the formatting.
__all__ = [
    "money",
    "month_table",
    "price",
    "span",
    "summary_dict",
    "summary_rows",
    "summary_sections",
    "summary_table",
    "symbol_table",
    "titled_sections",
    "trade_dict",
    "when",
]


Row = tuple[str, str]
Section = Callable[[Stats, BacktestResult], list[Row]]


def _run_rows(stats: Stats, result: BacktestResult) -> list[Row]:
    return [
        ("rulebook", f"{result.rulebook} (version {result.version})"),
        ("symbols", ", ".join(result.all_symbols)) if len(result.all_symbols) > 1 else ("symbol", result.symbol),
        ("period", f"{span(result.start_time, result.end_time)} ({duration(stats.duration_ms)})"),
    ]


def _assumption_rows(stats: Stats, result: BacktestResult) -> list[Row]:
    """What the simulation assumed (assumptions.py): one row each, the same in the JSON and the report."""
    return assumption_rows(result)


def _return_rows(stats: Stats, result: BacktestResult) -> list[Row]:
    a, m = result.margin_asset, stats.metrics
    rows = [
        ("net PnL", f"{money(stats.net_pnl, a)} ({pct(stats.return_pct)})"),
        ("  realized, before fees", money(stats.gross_realized, a)),
        ("  fees", money(-stats.fees, a)),
        ("  funding", money(-stats.funding, a)),
        ("  unrealized at the end", money(stats.unrealized, a)),
        *_exit_fee_rows(stats, result),
        ("equity", f"{money(stats.start_equity, a)} → {money(stats.end_equity, a)}"),
    ]
    if m is not None:
        short = " (a short period annualises wildly)" if stats.duration_ms < 90 * DAY_MS else ""
        rows.append(("CAGR", f"{fpct(m.cagr)} over {duration(stats.duration_ms)}{short}"))
        rows.append(("buy and hold", benchmark_text(m, a)))
    return rows


def _exit_fee_rows(stats: Stats, result: BacktestResult) -> list[Row]:
    """What is open at the end, valued at the last price less the taker fee closing it would cost
    (open_end.py): net PnL counts that fee."""
    if not result.open_at_end:
        return []
    a = result.margin_asset
    held = "; ".join(
        f"{o.symbol} {exact(o.quantity)} {o.unit} {o.side}, valued at {exact(o.price)} "
        f"less a {exact(o.exit_fee)} {a} exit fee"
        for o in result.open_at_end
    )
    taker = rate(result.fee_rates.taker)
    return [
        ("  fee to close it", f"{money(-stats.open_exit_fee, a)} (position open at the end: {held}; taker {taker})")
    ]


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


def _profit_factor_text(stats: Stats) -> str:
    """`1.52`; without a loss the ratio has no value, and a bare "-" read like a missing number."""
    if stats.profit_factor is not None:
        return f"{stats.profit_factor:.2f}"
    return "- (no trade lost money)" if stats.wins else "-"


def _trade_rows(stats: Stats, result: BacktestResult) -> list[Row]:
    a, m = result.margin_asset, stats.metrics
    rows = [
        ("trades", f"{stats.closed} closed" + (f", {stats.open_trades} open at the end" if stats.open_trades else "")),
        ("win rate", f"{pct(stats.win_rate)} ({stats.wins} won, {stats.losses} lost)"),
        ("average trade", money(stats.average_trade, a)),
        ("profit factor", _profit_factor_text(stats)),
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
        ("fills · decisions · events", f"{stats.fills:,} · {stats.decisions:,} · {stats.events:,}"),
        ("path", f"{result.path}: {result.path_reason}"),
    ]


def _warning_rows(stats: Stats, result: BacktestResult) -> list[Row]:
    return [("warning", w) for w in result.warnings]


# The summary, top to bottom: each section is a list of rows, and the table draws a line
# between sections. A new kind of line (the path that ran, a fill-model assumption, warm-up)
# is a row in its section, or a new section here.
SECTIONS: list[Section] = [
    _run_rows,
    _assumption_rows,
    _return_rows,
    _risk_rows,
    _trade_rows,
    _activity_rows,
    warmup_rows,
    _warning_rows,
]


# Sections drawn under a title of their own (the table's other sections speak for themselves).
TITLES: dict[Section, str] = {_assumption_rows: "assumptions"}


def summary_sections(stats: Stats, result: BacktestResult) -> list[list[Row]]:
    return [rows for _, rows in titled_sections(stats, result)]


def titled_sections(stats: Stats, result: BacktestResult) -> list[tuple[str, list[Row]]]:
    """The summary's sections with their titles ("" for none), as the table and the report draw them."""
    return [(TITLES.get(section, ""), rows) for section in SECTIONS if (rows := section(stats, result))]


def summary_rows(stats: Stats, result: BacktestResult) -> list[Row]:
    return [row for rows in summary_sections(stats, result) for row in rows]


def benchmark_text(m: Metrics, asset: str = "") -> str:
    """`+5.12% (BTCUSDT 60,000.00 → 63,072.00, max drawdown 3.20%)`: holding the symbols. For
    COIN-M, `3.22% in BTC, a 1x long of the contract (...); holding BTC itself: 0.00% in BTC, 3.32%
    in USD`: the return the strategy's own is measured against, in the coin, and beside it the
    coin's move in USD, so that neither passes for the other (which a falling market would turn
    into flattery)."""
    if not m.benchmarks:
        return "-"
    parts = [
        f"{b.symbol} {pct(b.ret)}: {price(b.first_price)} → {price(b.last_price)}, "
        f"max drawdown {pct(b.max_drawdown_pct)}"
        for b in m.benchmarks
    ]
    total = m.benchmark_return
    coin = asset or "the coin"
    one = len(m.benchmarks) == 1
    inverse = any(b.inverse for b in m.benchmarks)
    unit = (
        (f" in {coin}, a 1x long of the contract" if one else f" in {coin}, a 1x long of each contract")
        if inverse
        else ""
    )
    # Holding the coin itself is 0 in the coin; what it did in USD, said beside, so neither reads
    # as the other.
    usd = "; ".join(("" if one else f"{b.symbol} ") + f"{pct(b.price_return)} in USD" for b in m.benchmarks)
    held = f"; holding {coin} itself: {pct(Decimal(0))} in {coin}, {usd}" if inverse else ""
    if one:
        return f"{pct(total)}{unit} ({parts[0].split(': ', 1)[1]}){held}"
    return f"{pct(total)}{unit}, equal weight ({'; '.join(parts)}){held}"


def liquidations_text(stats: Stats, result: BacktestResult) -> str:
    """`0`, or how many and the clearance fees they paid (part of `fees` too)."""
    if not stats.liquidations:
        return "0"
    return f"{stats.liquidations} (clearance fees {money(result.clearance_fees, result.margin_asset)})"


def adl_text(result: BacktestResult) -> str:
    """Auto-deleveraging: what closed (or none) and the model that decided it."""
    if result.adl_model == "off":
        return "not modelled (see ADL model above)"
    closes = "; ".join(f"{when(t)} {s} {qty} at {price}" for t, s, qty, price in result.adl_closes) or "none"
    return f"{len(result.adl_closes)}: {closes} · model {result.adl_model}"


SYMBOL_COLUMNS = (
    "symbol",
    "trades",
    "win rate",
    "net PnL",
    "realized",
    "fees",
    "funding",
    "unrealized",
    "exit fee",  # to close what is open at the end: net PnL = realized + fees + funding + unrealized + this
    "max drawdown",
    "exposure",
    "liquidations",
)


def symbol_rows(per: Mapping[str, Stats], total: Stats, asset: str) -> list[tuple[str, ...]]:
    """One row per symbol and a total row: the per-symbol breakdown of a several-symbol backtest."""

    def row(name: str, st: Stats) -> tuple[str, ...]:
        trades = f"{st.closed}" + (f" (+{st.open_trades} open)" if st.open_trades else "")
        return (
            name,
            trades,
            pct(st.win_rate),
            money(st.net_pnl, asset),
            money(st.gross_realized, asset),
            money(-st.fees, asset),
            money(-st.funding, asset),
            money(st.unrealized, asset),
            money(-st.open_exit_fee, asset),
            money(st.max_drawdown, asset),
            pct(st.exposure),
            str(st.liquidations),
        )

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
    sections = titled_sections(stats, result)
    for n, (title, rows) in enumerate(sections):
        if title:
            table.add_row(Text(title, style="italic"), Text(""))
        for i, (label, value) in enumerate(rows):
            last = i == len(rows) - 1 and n < len(sections) - 1
            table.add_row(Text(label), Text(value), style=styles.get(label), end_section=last)
    return table
