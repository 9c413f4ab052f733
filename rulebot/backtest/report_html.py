"""A backtest report a person would rather look at than read: one self-contained HTML file.

Equity, drawdown, and price with entries, exits, stops, take-profits, liquidations and guard
interventions marked, drawn as inline SVG (no script, no network). Long curves are reduced
to the first, lowest, highest and last point of each pixel column, so a year of minutes
stays small and no spike disappears. Every piece of text is escaped: rule names and guard
reasons come from users.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from html import escape
from itertools import pairwise
from pathlib import Path

from rulebot import __version__
from rulebot.backtest.result import BacktestResult, EquityPoint, Marker, SymbolPoint
from rulebot.backtest.stats import Stats
from rulebot.backtest.summary import SYMBOL_COLUMNS, money, price, span, summary_rows, symbol_rows, when

WIDTH, HEIGHT, PAD_L, PAD_R, PAD_T, PAD_B = 1100, 240, 78, 14, 10, 22
MAX_MARKERS = 5000
MAX_TABLE_ROWS = 2000

LONG, SHORT = "#1a9850", "#d73027"
# kind → (colour, glyph, legend). Entries take their side's colour and direction instead.
_MARK_STYLE = {
    "exit": ("#444444", "●", "exit"),
    "stop": ("#7b3294", "■", "stop"),
    "take_profit": ("#2166ac", "◆", "take-profit"),
    "liquidation": ("#000000", "✖", "liquidation"),
    "guard": ("#f08c00", "!", "guard"),
}

Series = list[tuple[int, float]]


def downsample(points: Series, buckets: int) -> Series:
    """Keep the first, minimum, maximum and last point of each time bucket, in time order."""
    if len(points) <= buckets * 2:
        return points
    t0, t1 = points[0][0], points[-1][0]
    width = max(1, t1 - t0)
    out: Series = []
    group: Series = []
    current = 0
    for p in points:
        b = min(buckets - 1, (p[0] - t0) * buckets // width)
        if b != current and group:
            out.extend(_extremes(group))
            group = []
        current = b
        group.append(p)
    if group:
        out.extend(_extremes(group))
    return out


def _extremes(group: Series) -> Series:
    lo = min(group, key=lambda p: p[1])
    hi = max(group, key=lambda p: p[1])
    return sorted({group[0], lo, hi, group[-1]})


def nice_ticks(lo: float, hi: float, count: int = 5) -> list[float]:
    """Round values (1, 2, 2.5 or 5 times a power of ten apart) covering [lo, hi]."""
    if not (math.isfinite(lo) and math.isfinite(hi)):
        return [0.0]
    if hi <= lo:
        pad = abs(lo) * 0.01 or 1.0
        lo, hi = lo - pad, hi + pad
    raw = (hi - lo) / max(1, count - 1)
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw)
    first = math.floor(lo / step) * step
    ticks = []
    v = first
    while v < hi + step * 0.999:
        ticks.append(round(v, 12))
        v += step
    return ticks


def _tick_label(v: float, ticks: Sequence[float]) -> str:
    step = abs(ticks[1] - ticks[0]) if len(ticks) > 1 else 1.0
    digits = max(0, -math.floor(math.log10(step)) + (1 if step / 10 ** math.floor(math.log10(step)) == 2.5 else 0))
    return f"{v:,.{min(digits, 8)}f}"


_TIME_STEPS = [m * 60_000 for m in (1, 5, 15, 30, 60, 180, 360, 720, 1440, 2880, 10080, 20160)] + [
    d * 86_400_000 for d in (30, 61, 91, 182, 365)
]


def time_ticks(t0: int, t1: int, count: int = 6) -> list[int]:
    """UTC-aligned times (whole minutes, hours, days) inside [t0, t1]."""
    step = next((s for s in _TIME_STEPS if (t1 - t0) / s <= count), _TIME_STEPS[-1])
    first = -(-t0 // step) * step
    return list(range(first, t1 + 1, step)) or [t0]


def _time_label(t: int, step: int) -> str:
    fmt = "%Y-%m-%d" if step >= 86_400_000 else "%m-%d %H:%M"
    return datetime.fromtimestamp(t / 1000, UTC).strftime(fmt)


@dataclass(frozen=True, slots=True)
class _Frame:
    """Maps (time, value) to pixels for one chart."""

    t0: int
    t1: int
    lo: float
    hi: float

    def x(self, t: int) -> float:
        return PAD_L + (t - self.t0) / max(1, self.t1 - self.t0) * (WIDTH - PAD_L - PAD_R)

    def y(self, v: float) -> float:
        return PAD_T + (self.hi - v) / (self.hi - self.lo) * (HEIGHT - PAD_T - PAD_B)


def _frame_and_axes(t0: int, t1: int, values: Sequence[float]) -> tuple[_Frame, str]:
    ticks = nice_ticks(min(values), max(values))
    frame = _Frame(t0, t1, ticks[0], ticks[-1] if ticks[-1] > ticks[0] else ticks[0] + 1.0)
    parts = []
    for v in ticks:
        y = frame.y(v)
        parts.append(f'<line x1="{PAD_L}" x2="{WIDTH - PAD_R}" y1="{y:.1f}" y2="{y:.1f}" class="grid"/>')
        parts.append(f'<text x="{PAD_L - 6}" y="{y + 4:.1f}" text-anchor="end">{_tick_label(v, ticks)}</text>')
    times = time_ticks(t0, t1)
    step = times[1] - times[0] if len(times) > 1 else 86_400_000
    for t in times:
        x = frame.x(t)
        parts.append(f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{PAD_T}" y2="{HEIGHT - PAD_B}" class="grid"/>')
        parts.append(f'<text x="{x:.1f}" y="{HEIGHT - 6}" text-anchor="middle">{_time_label(t, step)}</text>')
    return frame, "".join(parts)


def _path(frame: _Frame, points: Series) -> str:
    return " ".join(f"{'M' if i == 0 else 'L'}{frame.x(t):.1f},{frame.y(v):.1f}" for i, (t, v) in enumerate(points))


def _svg(title: str, body: str) -> str:
    return f'<svg viewBox="0 0 {WIDTH} {HEIGHT}" width="100%" role="img" aria-label="{escape(title)}">{body}</svg>'


def _line_chart(title: str, points: Series, css: str, *, fill: bool = False, baseline: float | None = None) -> str:
    if not points:
        return f"<h2>{escape(title)}</h2><p>no data</p>"
    values = [v for _, v in points] + ([baseline] if baseline is not None else [])
    frame, axes = _frame_and_axes(points[0][0], points[-1][0], values)
    body = [axes]
    d = _path(frame, points)
    if baseline is not None:
        y = frame.y(baseline)
        body.append(f'<line x1="{PAD_L}" x2="{WIDTH - PAD_R}" y1="{y:.1f}" y2="{y:.1f}" class="base"/>')
    if fill:
        base = frame.y(0.0)
        body.append(
            f'<path d="{d} L{frame.x(points[-1][0]):.1f},{base:.1f} L{frame.x(points[0][0]):.1f},{base:.1f} Z" '
            f'class="{css}-fill"/>'
        )
    body.append(f'<path d="{d}" class="{css}"/>')
    return f"<h2>{escape(title)}</h2>{_svg(title, ''.join(body))}"


def _position_bands(frame: _Frame, curve: Sequence[EquityPoint | SymbolPoint]) -> str:
    """Light green behind long stretches, light red behind short ones; runs closer than a
    pixel are merged so a busy year stays a few thousand rectangles at most."""
    bands: list[list[float]] = []  # [x0, x1, sign]
    for a, b in pairwise(curve):
        sign = (a.position > 0) - (a.position < 0)
        if not sign:
            continue
        x0, x1 = frame.x(a.time), frame.x(b.time)
        if bands and bands[-1][2] == sign and x0 - bands[-1][1] < 1.0:
            bands[-1][1] = x1
        else:
            bands.append([x0, x1, sign])
    top, height = PAD_T, HEIGHT - PAD_T - PAD_B
    return "".join(
        f'<rect x="{x0:.1f}" y="{top}" width="{max(x1 - x0, 0.5):.1f}" height="{height}" '
        f'class="{"long" if s > 0 else "short"}"/>'
        for x0, x1, s in bands
    )


def _marker_style(m: Marker, entry_sides: Mapping[tuple[int, Decimal], str]) -> tuple[str, str]:
    if m.kind == "entry":
        side = entry_sides.get((m.time, m.price)) or ("SELL" if " SELL " in f" {m.label} " else "BUY")
        return (LONG, "▲") if side == "BUY" else (SHORT, "▼")
    colour, glyph, _ = _MARK_STYLE.get(m.kind, ("#444444", "?", ""))
    return colour, glyph


def _price_chart(result: BacktestResult, buckets: int, symbol: str | None = None) -> str:
    """The first symbol's price (from the equity curve), or, given `symbol`, that symbol's own."""
    title = f"Price · {symbol or result.symbol}, with orders and guards"
    curve: Sequence[EquityPoint | SymbolPoint]
    if symbol is None:
        curve = [p for p in result.equity_curve if p.price > 0]
        markers = result.markers
    else:
        curve = [p for p in result.symbol_curves.get(symbol, ()) if p.price > 0]
        markers = [m for m in result.markers if m.symbol == symbol]
    points = downsample([(p.time, float(p.price)) for p in curve], buckets)
    if not points:
        return f"<h2>{escape(title)}</h2><p>no data</p>"
    if len(markers) > MAX_MARKERS:
        markers = markers[:: len(markers) // MAX_MARKERS + 1]
    values = [v for _, v in points] + [float(m.price) for m in markers]
    frame, axes = _frame_and_axes(points[0][0], points[-1][0], values)
    entry_sides = {(f.time, f.price): f.side for f in result.fills if f.purpose == "entry"}
    body = [_position_bands(frame, curve), axes, f'<path d="{_path(frame, points)}" class="price"/>']
    for m in markers:
        colour, glyph = _marker_style(m, entry_sides)
        x, y = frame.x(m.time), frame.y(float(m.price))
        tip = f"{when(m.time)} · {m.label} @ {price(m.price)}"
        body.append(
            f'<text x="{x:.1f}" y="{y + 5:.1f}" style="fill:{colour}" text-anchor="middle" class="mark">'
            f"{glyph}<title>{escape(tip)}</title></text>"
        )
    legend = [f'<span style="color:{LONG}">▲</span> long entry', f'<span style="color:{SHORT}">▼</span> short entry']
    legend += [f'<span style="color:{c}">{g}</span> {name}' for c, g, name in _MARK_STYLE.values()]
    legend.append('<span class="swatch long"></span> long <span class="swatch short"></span> short')
    return (
        f"<h2>{escape(title)}</h2>{_svg(title, ''.join(body))}"
        f'<p class="legend">{" · ".join(legend)} — hover a mark for what it was.</p>'
    )


def _table(headers: Sequence[str], rows: Sequence[Sequence[str]], empty: str, total: int) -> str:
    if not rows:
        return f"<p>{escape(empty)}</p>"
    head = "".join(f"<th>{escape(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{escape(c)}</td>" for c in row) + "</tr>" for row in rows)
    more = f'<p class="muted">the first {len(rows):,} of {total:,}</p>' if total > len(rows) else ""
    return f'<table class="list"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>{more}'


def _trades_table(result: BacktestResult, stats: Stats) -> str:
    a = result.margin_asset
    several = len(result.all_symbols) > 1
    rows = [
        (
            *((t.symbol,) if several else ()),
            t.side,
            when(t.entry_time),
            t.entry_rule or "-",
            price(t.entry_price),
            str(t.entry_qty),
            when(t.exit_time) if t.exit_time is not None else "open",
            price(t.exit_price) if t.exit_qty else "-",
            t.exit_reason or ("marked to last price" if t.is_open else "-"),
            money(t.gross_pnl + t.open_pnl, a),
            money(t.fees, a),
            money(t.net_pnl, a),
        )
        for t in stats.trades[:MAX_TABLE_ROWS]
    ]
    headers = (
        *(("symbol",) if several else ()),
        "side",
        "entry",
        "rule",
        "entry price",
        "qty",
        "exit",
        "exit price",
        "exit by",
        "gross PnL",
        "fees",
        "net PnL",
    )
    return _table(headers, rows, "no trades", len(stats.trades))


def _guards_table(result: BacktestResult) -> str:
    rows = [(when(g.time), g.symbol or "-", g.guard, g.verdict, g.rule or "-", g.reason)
            for g in result.guard_events[:MAX_TABLE_ROWS]]  # fmt: skip
    return _table(("time", "symbol", "guard", "verdict", "rule", "reason"), rows, "the guards allowed everything",
                  len(result.guard_events))  # fmt: skip


def _symbols_table(result: BacktestResult, stats: Stats, per: Mapping[str, Stats] | None) -> str:
    if per is None or len(per) < 2:
        return ""
    rows = symbol_rows(per, stats, result.margin_asset)
    return "<h2>By symbol</h2>" + _table(SYMBOL_COLUMNS, rows, "", len(rows))


_CSS = """
body { font: 14px/1.45 system-ui, sans-serif; margin: 24px auto; max-width: 1140px; color: #222; padding: 0 12px; }
h1 { font-size: 21px; margin-bottom: 2px; } h2 { font-size: 15px; margin: 26px 0 4px; }
table { border-collapse: collapse; font-size: 13px; }
th, td { padding: 3px 10px; text-align: left; border-bottom: 1px solid #eee; }
table.summary th { font-weight: 600; white-space: nowrap; } table.list thead th { background: #f5f5f5; }
svg text { font-size: 11px; fill: #666; } svg .mark { font-size: 15px; cursor: default; }
.grid { stroke: #eee; } .base { stroke: #999; stroke-dasharray: 4 3; }
.equity { fill: none; stroke: #2166ac; stroke-width: 1.5; } .price { fill: none; stroke: #333; stroke-width: 1; }
.dd { fill: none; stroke: #d73027; stroke-width: 1; } .dd-fill { fill: #d73027; opacity: .15; }
rect.long { fill: #1a9850; opacity: .08; } rect.short { fill: #d73027; opacity: .08; }
.swatch { display: inline-block; width: 12px; height: 10px; } .swatch.long { background: #1a985033; }
.swatch.short { background: #d7302733; }
.muted, .legend { color: #666; } .pos { color: #1a9850; } .neg { color: #d73027; }
"""


def render_html(
    result: BacktestResult, stats: Stats, buckets: int = 1000, per: Mapping[str, Stats] | None = None
) -> str:
    """The report; `per` (each symbol's numbers) adds a by-symbol table. A several-symbol
    backtest gets one price chart per symbol."""
    symbols = result.all_symbols
    names = ", ".join(symbols)
    prices = (
        "".join(_price_chart(result, buckets, s) for s in symbols)
        if len(symbols) > 1
        else _price_chart(result, buckets)
    )
    curve = result.equity_curve
    a = result.margin_asset
    equity = downsample([(p.time, float(p.equity)) for p in curve], buckets)
    under: Series = []
    peak: Decimal | None = None
    for p in curve:
        peak = p.equity if peak is None else max(peak, p.equity)
        under.append((p.time, float(p.equity - peak)))
    under = downsample(under, buckets)
    rows = []
    for label, value in summary_rows(stats, result):
        css = ""
        if label == "net PnL" and stats.net_pnl:
            css = ' class="pos"' if stats.net_pnl > 0 else ' class="neg"'
        rows.append(f"<tr><th>{escape(label)}</th><td{css}>{escape(value)}</td></tr>")
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>backtest · {escape(result.rulebook)} · {escape(names)}</title>
<style>{_CSS}</style></head><body>
<h1>{escape(result.rulebook)} · {escape(names)}</h1>
<p class="muted">rulebook version {escape(result.version)} · {escape(span(result.start_time, result.end_time))} UTC
· {result.events:,} events · rulebot {escape(__version__)}</p>
<table class="summary">{"".join(rows)}</table>
{_symbols_table(result, stats, per)}
{_line_chart(f"Equity ({a})", equity, "equity", baseline=float(result.start_equity))}
{_line_chart(f"Drawdown from the running peak ({a})", under, "dd", fill=True)}
{prices}
<h2>Trades</h2>
{_trades_table(result, stats)}
<h2>Guard interventions</h2>
{_guards_table(result)}
</body></html>
"""


def write_html_report(result: BacktestResult, stats: Stats, path: Path, per: Mapping[str, Stats] | None = None) -> None:
    path.write_text(render_html(result, stats, per=per), encoding="utf-8")
