"""The backtest summary: a table for people, the same numbers as exact strings for scripts."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from rich.table import Table

from rulebot.backtest.result import BacktestResult
from rulebot.backtest.stats import Stats, Trade


def when(ms: int | None) -> str:
    if ms is None:
        return "-"
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d %H:%M")


def money(value: Decimal | None, asset: str = "", places: int = 2) -> str:
    if value is None:
        return "-"
    text = f"{value:,.{places}f}"
    return f"{text} {asset}".strip()


def pct(value: Decimal | None) -> str:
    return "-" if value is None else f"{value * 100:.2f}%"


def duration(ms: int) -> str:
    minutes = ms // 60_000
    days, rem = divmod(minutes, 1440)
    hours, mins = divmod(rem, 60)
    return f"{days}d {hours}h {mins}m" if days else f"{hours}h {mins}m"


def summary_rows(stats: Stats, result: BacktestResult) -> list[tuple[str, str]]:
    a = result.margin_asset
    interventions = ", ".join(f"{g} {n}" for g, n in sorted(stats.guard_interventions.items())) or "none"
    still_open = len(stats.trades) - stats.closed
    return [
        ("rulebook", f"{result.rulebook} (version {result.version})"),
        (
            "market",
            f"{result.symbol} · {when(result.start_time)} → {when(result.end_time)} ({duration(stats.duration_ms)})",
        ),
        ("trades", f"{stats.closed} closed" + (f", {still_open} open at the end" if still_open else "")),
        ("win rate", f"{pct(stats.win_rate)} ({stats.wins} won, {stats.losses} lost)"),
        ("net PnL", f"{money(stats.net_pnl, a)} ({pct(stats.return_pct)})"),
        ("  realized, before fees", money(stats.gross_realized, a)),
        ("  fees", money(-stats.fees, a)),
        ("  funding", money(-stats.funding, a)),
        ("  unrealized at the end", money(stats.unrealized, a)),
        ("equity", f"{money(stats.start_equity, a)} → {money(stats.end_equity, a)}"),
        (
            "max drawdown",
            f"{money(stats.max_drawdown, a)} ({pct(stats.max_drawdown_pct)}), "
            f"{when(stats.drawdown_peak_time)} → {when(stats.drawdown_trough_time)}",
        ),
        ("exposure", f"{pct(stats.exposure)} of the time in a position"),
        ("average trade", money(stats.average_trade, a)),
        ("profit factor", "-" if stats.profit_factor is None else f"{stats.profit_factor:.2f}"),
        ("best / worst trade", f"{money(stats.best_trade, a)} / {money(stats.worst_trade, a)}"),
        ("liquidations", str(stats.liquidations)),
        ("guard interventions", interventions),
        ("fills · decisions · events", f"{stats.fills:,} · {stats.decisions:,} · {stats.events:,}"),
    ]


def summary_table(stats: Stats, result: BacktestResult) -> Table:
    table = Table(title=f"backtest · {result.rulebook}", show_header=False, title_justify="left")
    table.add_column("what", style="bold")
    table.add_column("value")
    for label, value in summary_rows(stats, result):
        style = None
        if label == "net PnL":
            style = "green" if stats.net_pnl > 0 else "red" if stats.net_pnl < 0 else None
        if label == "liquidations" and stats.liquidations:
            style = "red"
        table.add_row(label, value, style=style)
    return table


def trade_dict(t: Trade) -> dict[str, Any]:
    return {
        "side": t.side,
        "entry_time": t.entry_time,
        "entry_rule": t.entry_rule,
        "entry_price": str(t.entry_price),
        "quantity": str(t.entry_qty),
        "exit_time": t.exit_time,
        "exit_price": str(t.exit_price) if t.exit_qty else None,
        "exit_reason": t.exit_reason or None,
        "gross_pnl": str(t.gross_pnl),
        "fees": str(t.fees),
        "open_pnl": str(t.open_pnl),
        "net_pnl": str(t.net_pnl),
        "open": t.is_open,
    }


def _s(value: Decimal | None) -> str | None:
    return None if value is None else str(value)


def summary_dict(stats: Stats, result: BacktestResult) -> dict[str, Any]:
    """Exact numbers (Decimals as strings) for scripts; the same as the table shows."""
    return {
        "rulebook": result.rulebook,
        "version": result.version,
        "symbol": result.symbol,
        "margin_asset": result.margin_asset,
        "start_time": result.start_time,
        "end_time": result.end_time,
        "trades": stats.closed,
        "open_trades": len(stats.trades) - stats.closed,
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
        "trade_list": [trade_dict(t) for t in stats.trades],
    }
