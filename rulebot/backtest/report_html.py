"""A backtest report a person would rather look at than read: one self-contained HTML file.

Equity, drawdown, and price with entries, exits, stops, take-profits, liquidations and guard
interventions marked, drawn as inline SVG (no script, no network). Long curves are reduced
to the minimum and maximum of each pixel column, so a year of minutes stays small and no
spike disappears.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from html import escape
from pathlib import Path

from rulebot.backtest.result import BacktestResult, Marker
from rulebot.backtest.stats import Stats
from rulebot.backtest.summary import money, summary_rows, when

WIDTH, HEIGHT, PAD_L, PAD_R, PAD_T, PAD_B = 1100, 240, 70, 12, 12, 22
_MARK_STYLE = {
    "entry": ("#1f77b4", "▲"),
    "exit": ("#555555", "●"),
    "stop": ("#d62728", "■"),
    "take_profit": ("#2ca02c", "◆"),
    "liquidation": ("#000000", "✖"),
    "guard": ("#ff7f0e", "!"),
}

Series = list[tuple[int, float]]


def downsample(points: Series, buckets: int) -> Series:
    """Keep the first, minimum, maximum and last point of each time bucket, in time order."""
    if len(points) <= buckets * 2:
        return points
    t0, t1 = points[0][0], points[-1][0]
    span = max(1, t1 - t0)
    out: Series = []
    group: Series = []
    current = 0
    for p in points:
        b = min(buckets - 1, (p[0] - t0) * buckets // span)
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
    keep = {group[0], lo, hi, group[-1]}
    return sorted(keep)


class _Frame:
    """Maps (time, value) to pixels for one chart."""

    def __init__(self, t0: int, t1: int, lo: float, hi: float) -> None:
        if hi <= lo:
            hi, lo = hi + 1.0, lo - 1.0
        self.t0, self.t1, self.lo, self.hi = t0, max(t1, t0 + 1), lo, hi

    def x(self, t: int) -> float:
        return PAD_L + (t - self.t0) / (self.t1 - self.t0) * (WIDTH - PAD_L - PAD_R)

    def y(self, v: float) -> float:
        return PAD_T + (self.hi - v) / (self.hi - self.lo) * (HEIGHT - PAD_T - PAD_B)


def _axes(frame: _Frame, unit: str) -> str:
    parts = []
    for i in range(5):
        v = frame.lo + (frame.hi - frame.lo) * i / 4
        y = frame.y(v)
        parts.append(f'<line x1="{PAD_L}" x2="{WIDTH - PAD_R}" y1="{y:.1f}" y2="{y:.1f}" class="grid"/>')
        parts.append(f'<text x="{PAD_L - 6}" y="{y + 4:.1f}" text-anchor="end">{v:,.2f}</text>')
    for i in range(5):
        t = frame.t0 + (frame.t1 - frame.t0) * i // 4
        x = frame.x(t)
        anchor = "start" if i == 0 else "end" if i == 4 else "middle"
        parts.append(f'<text x="{x:.1f}" y="{HEIGHT - 6}" text-anchor="{anchor}">{escape(when(t))}</text>')
    parts.append(f'<text x="4" y="{PAD_T + 10}" class="unit">{escape(unit)}</text>')
    return "".join(parts)


def _path(frame: _Frame, points: Series) -> str:
    return " ".join(f"{'M' if i == 0 else 'L'}{frame.x(t):.1f},{frame.y(v):.1f}" for i, (t, v) in enumerate(points))


def _chart(title: str, points: Series, unit: str, css: str, fill: bool = False, markers: Sequence[Marker] = ()) -> str:
    if not points:
        return f"<h2>{escape(title)}</h2><p>no data</p>"
    values = [v for _, v in points] + [float(m.price) for m in markers]
    frame = _Frame(points[0][0], points[-1][0], min(values), max(values))
    body = [_axes(frame, unit)]
    d = _path(frame, points)
    if fill:
        base = frame.y(0.0)
        body.append(
            f'<path d="{d} L{frame.x(points[-1][0]):.1f},{base:.1f} L{frame.x(points[0][0]):.1f},{base:.1f} Z" '
            f'class="{css}-fill"/>'
        )
    body.append(f'<path d="{d}" class="{css}"/>')
    for m in markers:
        color, glyph = _MARK_STYLE.get(m.kind, ("#444", "?"))
        x, y = frame.x(m.time), frame.y(float(m.price))
        body.append(
            f'<text x="{x:.1f}" y="{y + 4:.1f}" fill="{color}" text-anchor="middle" class="mark">{glyph}'
            f"<title>{escape(when(m.time))} · {escape(m.label)} @ {escape(str(m.price))}</title></text>"
        )
    return (
        f'<h2>{escape(title)}</h2><svg viewBox="0 0 {WIDTH} {HEIGHT}" width="100%" role="img" '
        f'aria-label="{escape(title)}">{"".join(body)}</svg>'
    )


def _table(headers: Sequence[str], rows: Sequence[Sequence[str]], empty: str) -> str:
    if not rows:
        return f"<p>{escape(empty)}</p>"
    head = "".join(f"<th>{escape(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{escape(c)}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def render_html(result: BacktestResult, stats: Stats, buckets: int = 1000) -> str:
    curve = result.equity_curve
    equity = downsample([(p.time, float(p.equity)) for p in curve], buckets)
    peak = Decimal("-Infinity")
    under: Series = []
    for p in curve:
        peak = max(peak, p.equity)
        under.append((p.time, float(p.equity - peak)))
    under = downsample(under, buckets)
    price = downsample([(p.time, float(p.price)) for p in curve if p.price > 0], buckets)
    markers = result.markers if len(result.markers) <= 5000 else result.markers[:: len(result.markers) // 5000 + 1]
    a = result.margin_asset
    trades = [
        (
            t.side,
            when(t.entry_time),
            t.entry_rule or "-",
            f"{t.entry_price:,.2f}",
            f"{t.entry_qty}",
            when(t.exit_time) if t.exit_time else "open",
            f"{t.exit_price:,.2f}" if t.exit_qty else "-",
            t.exit_reason or "-",
            money(t.fees, a, 4),
            money(t.net_pnl, a),
        )
        for t in stats.trades
    ]
    guards = [(when(g.time), g.guard, g.verdict, g.rule or "-", g.reason) for g in result.guard_events[:2000]]
    summary = "".join(f"<tr><th>{escape(k)}</th><td>{escape(v)}</td></tr>" for k, v in summary_rows(stats, result))
    legend = " ".join(
        f'<span style="color:{c}">{g}</span> {escape(k.replace("_", " "))}' for k, (c, g) in _MARK_STYLE.items()
    )
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<title>backtest · {escape(result.rulebook)}</title>
<style>
body {{ font: 14px/1.4 system-ui, sans-serif; margin: 24px auto; max-width: 1140px; color: #222; }}
h1 {{ font-size: 20px; margin-bottom: 4px; }} h2 {{ font-size: 16px; margin: 24px 0 4px; }}
table {{ border-collapse: collapse; font-size: 13px; }} th, td {{ padding: 3px 10px; text-align: left;
border-bottom: 1px solid #eee; }} thead th {{ background: #f5f5f5; }}
svg text {{ font-size: 11px; fill: #666; }} svg .mark {{ font-size: 14px; cursor: default; }}
.grid {{ stroke: #eee; }} .equity {{ fill: none; stroke: #1f77b4; stroke-width: 1.5; }}
.price {{ fill: none; stroke: #444; stroke-width: 1; }} .dd {{ fill: none; stroke: #d62728; stroke-width: 1; }}
.dd-fill {{ fill: #d62728; opacity: .15; }} .unit {{ fill: #999; }}
.muted {{ color: #777; }}
</style></head><body>
<h1>{escape(result.rulebook)} · {escape(result.symbol)}</h1>
<p class="muted">version {escape(result.version)} · {escape(when(result.start_time))} → {escape(when(result.end_time))}
· {result.events:,} events</p>
<table>{summary}</table>
{_chart("Equity", equity, a, "equity")}
{_chart("Drawdown", under, a, "dd", fill=True)}
{_chart("Price, with orders and guards", price, result.symbol, "price", markers=markers)}
<p class="muted">{legend} — hover a mark for what it was.</p>
<h2>Trades</h2>
{
        _table(
            ("side", "entry", "rule", "entry price", "qty", "exit", "exit price", "exit by", "fees", "net PnL"),
            trades,
            "no trades",
        )
    }
<h2>Guard interventions</h2>
{_table(("time", "guard", "verdict", "rule", "reason"), guards, "the guards allowed everything")}
</body></html>
"""


def write_html_report(result: BacktestResult, stats: Stats, path: Path) -> None:
    path.write_text(render_html(result, stats), encoding="utf-8")
