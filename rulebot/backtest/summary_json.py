"""The backtest summary for scripts: the table's numbers as exact strings (Decimals as strings,
fractions rather than percents), with what the run assumed under `assumptions`."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from decimal import Decimal
from json.encoder import encode_basestring_ascii
from typing import Any

from rulebot.backtest.assumptions import assumptions_dict
from rulebot.backtest.metrics import CONVENTION, Metrics
from rulebot.backtest.result import BacktestResult
from rulebot.backtest.stats import Stats, Trade
from rulebot.backtest.summary_warmup import warmup_dict


def _s(value: Decimal | None) -> str | None:
    return None if value is None else str(value)


_DIVISION_PLACES = 12  # more decimals than this in an average price came from a division
_ROUNDING_UNIT = Decimal(1).scaleb(-_DIVISION_PLACES)


def average_price_text(price: Decimal) -> str:
    """An average price as text. A COIN-M average is a division (qty / sum(qty / price)) carried to
    28 digits, so a single fill at 61761 read '61761.00000000000000000000000': the zeros a division
    left are dropped, never a digit of the value."""
    exponent = price.as_tuple().exponent
    if isinstance(exponent, int) and exponent < -_DIVISION_PLACES:
        short = price.quantize(_ROUNDING_UNIT)
        if short == price:
            return format(short.normalize(), "f")
    return str(price)


def trade_dict(t: Trade) -> dict[str, Any]:
    """One trade for scripts: `net_pnl` is `gross_pnl - fees + open_pnl - open_exit_fee`, the last
    two for a trade still open at the end alone (it is marked to the last price, less the taker fee
    closing it would cost: the summary's `open_exit_fee`), so the trades' net PnL adds up to the
    summary's, funding aside."""
    d = {
        "symbol": t.symbol or None,
        "side": t.side,
        "entry_time": t.entry_time,
        "entry_rule": t.entry_rule or None,
        "entry_price": average_price_text(t.entry_price),
        "quantity": str(t.entry_qty),
        "exit_time": t.exit_time,
        "exit_price": average_price_text(t.exit_price) if t.exit_qty else None,
        "exit_quantity": str(t.exit_qty),
        "exit_reason": t.exit_reason or None,
        "gross_pnl": str(t.gross_pnl),
        "fees": str(t.fees),
        "open_pnl": str(t.open_pnl),
        "net_pnl": str(t.net_pnl),
        "open": t.is_open,
    }
    if t.is_open:
        d["open_exit_fee"] = str(t.open_exit_fee)
    return d


def _numbers(stats: Stats) -> dict[str, Any]:
    return {
        "trades": stats.closed,
        "open_trades": stats.open_trades,
        "wins": stats.wins,
        "losses": stats.losses,
        "win_rate": _s(stats.win_rate),
        "start_equity": str(stats.start_equity),
        "end_equity": str(stats.end_equity),
        "end_equity_at_mark": str(stats.end_equity_at_mark),
        "net_pnl": str(stats.net_pnl),
        "return": _s(stats.return_pct),
        "gross_realized_pnl": str(stats.gross_realized),
        "fees": str(stats.fees),
        "funding_paid": str(stats.funding),
        "unrealized_pnl": str(stats.unrealized),
        "open_exit_fee": str(stats.open_exit_fee),
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


# The benchmark is in the margin asset (`margin_asset`), as the strategy's return is (metrics.Benchmark).
_BENCHMARK_KINDS = {
    False: "buy and hold each symbol from the first to the last price, equal weight, no fees",
    True: "a 1x long of each symbol's inverse contract from the first to the last price, valued in the coin "
    "(1 - first/last), equal weight, no fees",
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
            "kind": _BENCHMARK_KINDS[any(b.inverse for b in m.benchmarks)],
            "return": _s(bench),
            "symbols": {
                b.symbol: {
                    "first_price": str(b.first_price),
                    "last_price": str(b.last_price),
                    "return": str(b.ret),
                    "max_drawdown_pct": _s(b.max_drawdown_pct),
                    # COIN-M: what holding the coin itself did in USD (in the coin it is 0)
                    **({"coin_return_in_usd": str(b.price_return)} if b.inverse else {}),
                }
                for b in m.benchmarks
            },
        },
    }


class _TradeList(list):  # type: ignore[type-arg]
    """The trade list as `json` writes it, made as it is written: the encoder with an indent asks
    a list only whether it is empty and for its items (json.encoder._make_iterencode). A year's
    ~19,000 trade dicts are never held at once (issue 14); the text is the same. `write_json`
    writes it itself (`_trade_list_text`), where `json` is used for the rest of the document."""

    def __init__(self, trades: Sequence[Trade]) -> None:
        super().__init__()
        self._trades = trades

    def __len__(self) -> int:
        return len(self._trades)

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return map(trade_dict, self._trades)


# Where the trade list goes: a string no summary holds (a NUL), encoded as `json` encodes it.
_HOLE = "\x00trade list\x00"
_HOLE_TEXT = encode_basestring_ascii(_HOLE)


def write_json(doc: Mapping[str, Any], write: Callable[[str], object], chunk: int = 1 << 16) -> None:
    """`json.dumps(doc, indent=2, default=str)` and a newline, written in pieces of about `chunk`
    characters: the same text, never held whole. A streamed trade list (the top level's
    `trade_list`) is written by `_trade_list_text`: `json`'s encoder with an indent is pure Python
    and took ~0.6 s of a year's 19,000 trades, a third of what the summary costs."""
    trades = doc.get("trade_list")
    if isinstance(trades, _TradeList) and len(trades):
        doc = {**doc, "trade_list": _HOLE}
    else:
        trades = None
    pieces: list[str] = []
    size = 0
    for piece in json.JSONEncoder(indent=2, default=str).iterencode(doc):
        if trades is not None and piece.endswith(_HOLE_TEXT):  # the key's line, then the list
            pieces.append(piece[: -len(_HOLE_TEXT)])
            for text in _trade_list_text(trades):
                pieces.append(text)
                size += len(text)
                if size >= chunk:
                    write("".join(pieces))
                    pieces, size = [], 0
            trades = None
            continue
        pieces.append(piece)
        size += len(piece)
        if size >= chunk:
            write("".join(pieces))
            pieces, size = [], 0
    pieces.append("\n")
    write("".join(pieces))


def _trade_list_text(trades: Iterable[Mapping[str, Any]]) -> Iterator[str]:
    """A non-empty list of flat dicts as `json` writes the value of a top-level key with indent=2
    (the list's items at two levels in, their keys at three): one piece per dict."""
    key_sep, close_item = ",\n      ", "\n    }"
    keys: dict[str, str] = {}
    first = True
    for item in trades:
        parts = []
        for k, v in item.items():
            key = keys.get(k)
            if key is None:
                key = keys[k] = encode_basestring_ascii(k) + ": "
            parts.append(key + _scalar(v))
        lead = "[\n    " if first else ",\n    "
        yield lead + ("{\n      " + key_sep.join(parts) + close_item if parts else "{}")
        first = False
    yield "\n  ]"


def _scalar(v: object) -> str:
    """A value as `json.dumps(v, default=str)` writes it: the trade dicts hold only these."""
    if type(v) is str:
        return encode_basestring_ascii(v)
    if v is None:
        return "null"
    if v is True:
        return "true"
    if v is False:
        return "false"
    if type(v) is int:
        return int.__repr__(v)
    return json.dumps(v, default=str)  # anything else (a float, a Decimal): json's own words


def summary_dict(
    stats: Stats, result: BacktestResult, per: Mapping[str, Stats] | None = None, *, stream: bool = False
) -> dict[str, Any]:
    """Exact numbers (Decimals as strings; fractions, not percents) for scripts: what the table shows.

    The top level is the whole account; `by_symbol` (given `per`) holds the same numbers for each
    symbol (its `start_equity` is the account's, its `end_equity` the start plus its own net PnL).
    With `stream`, the trade list is made as `write_json` writes it (a list for nothing else).
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
        "open_at_end": [
            {
                "symbol": o.symbol,
                "side": o.side,
                "quantity": str(o.quantity),
                "price": str(o.price),
                "exit_fee": str(o.exit_fee),
            }
            for o in result.open_at_end
        ],
        "trade_list": _TradeList(stats.trades) if stream else [trade_dict(t) for t in stats.trades],
        "fee_rates": {"maker": str(result.fee_rates.maker), "taker": str(result.fee_rates.taker)},
        "fill_model": {"name": result.fill_model.name, **result.fill_model.parameters()},
        "warnings": list(result.warnings),
        "notes": list(result.notes),
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
        "assumptions": assumptions_dict(result),
    }
    if per is not None:
        doc["by_symbol"] = {name: _numbers(st) for name, st in per.items()}
    return doc
