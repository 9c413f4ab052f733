"""A backtest report a person would rather look at than read: one self-contained HTML file.

Equity, drawdown, and price with the indicators the rules read, entries, exits, stops,
take-profits, liquidations and guard interventions marked; oscillators in panels of their
own. Drawn as inline SVG, then made zoomable by a small inline script (report.js): no
network, and the charts are all there without the script. Guard interventions are summarised
by guard and day, one mark each. Every piece of text is escaped: rule names and guard
reasons come from users.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from decimal import Decimal
from html import escape
from importlib import resources
from itertools import pairwise
from pathlib import Path

from rulebot import __version__
from rulebot.backtest.report_svg import (  # noqa: F401  (downsample, nice_ticks, time_ticks: the report's API)
    Chart,
    Line,
    Mark,
    Series,
    chart_data,
    downsample,
    nice_ticks,
    svg_of,
    time_ticks,
)
from rulebot.backtest.result import BacktestResult, EquityPoint, GuardEvent, Marker, SymbolPoint
from rulebot.backtest.stats import Stats
from rulebot.backtest.summary import (
    MONTH_COLUMNS,
    SYMBOL_COLUMNS,
    money,
    month_rows,
    price,
    span,
    symbol_rows,
    titled_sections,
    when,
)

MAX_TABLE_ROWS = 2000

LONG, SHORT = "#1a9850", "#d73027"
# kind → (colour, glyph, legend). Entries take their side's colour and direction instead.
_MARK_STYLE = {
    "exit": ("#444444", "●", "exit"),
    "stop": ("#7b3294", "■", "stop"),
    "take_profit": ("#2166ac", "◆", "take-profit"),
    "liquidation": ("#000000", "✖", "liquidation"),
    "guard": ("#f08c00", "!", "guard interventions (one mark per guard and day)"),
}
# Indicator lines, in the order the rulebook defines them.
_PALETTE = ("#e08214", "#2166ac", "#8073ac", "#1b7837", "#c51b7d", "#4d4d4d", "#b35806", "#35978f")
DAY_MS = 86_400_000


def _position_bands(curve: Sequence[EquityPoint | SymbolPoint]) -> list[tuple[int, int, int]]:
    """Stretches long (+1) or short (-1); runs closer than a pixel merge, so a busy year stays a
    few thousand rectangles at most."""
    if len(curve) < 2:
        return []
    pixel = max(1, (curve[-1].time - curve[0].time) // 1000)
    bands: list[list[int]] = []
    for a, b in pairwise(curve):
        sign = (a.position > 0) - (a.position < 0)
        if not sign:
            continue
        if bands and bands[-1][2] == sign and a.time - bands[-1][1] < pixel:
            bands[-1][1] = b.time
        else:
            bands.append([a.time, b.time, sign])
    return [(t0, t1, s) for t0, t1, s in bands]


def _marker_style(m: Marker, entry_sides: Mapping[tuple[int, Decimal], str]) -> tuple[str, str]:
    if m.kind == "entry":
        side = entry_sides.get((m.time, m.price)) or ("SELL" if " SELL " in f" {m.label} " else "BUY")
        return (LONG, "▲") if side == "BUY" else (SHORT, "▼")
    colour, glyph, _ = _MARK_STYLE.get(m.kind, ("#444444", "?", ""))
    return colour, glyph


def guard_marks(markers: Sequence[Marker]) -> list[Marker]:
    """One mark per guard and UTC day, where it first acted, saying how often it did that day."""
    groups: dict[tuple[int, str], list[Marker]] = {}
    for m in markers:
        if m.kind == "guard":
            groups.setdefault((m.time // DAY_MS, m.label.split(":", 1)[0]), []).append(m)
    out = []
    for group in groups.values():
        first = group[0]
        times = f"{len(group):,} times" if len(group) > 1 else "once"
        out.append(Marker(first.time, first.price, "guard", f"{first.label} ({times} that day)", first.symbol))
    return out


def _indicator_lines(result: BacktestResult, symbol: str, on_price: bool) -> list[tuple[str, Line]]:
    """(indicator, line) of each drawn output; not-yet-warm values are left out."""
    curve = result.symbol_curves.get(symbol) or []
    values = result.indicator_values.get(symbol, {})
    out = []
    colours = {
        name: _PALETTE[i % len(_PALETTE)] for i, name in enumerate(dict.fromkeys(i.key for i in result.indicator_lines))
    }
    for ind in result.indicator_lines:
        if ind.on_price != on_price or ind.key not in values:
            continue
        points = [(p.time, v) for p, v in zip(curve, values[ind.key], strict=False) if math.isfinite(v)]
        out.append((ind.indicator, Line("ind", points, ind.key, colours[ind.key])))
    return out


def price_chart(result: BacktestResult, symbol: str | None = None) -> Chart:
    """The first symbol's price (from the equity curve), or, given `symbol`, that symbol's own."""
    name = symbol or result.symbol
    curve: Sequence[EquityPoint | SymbolPoint]
    if symbol is None:
        curve = [p for p in result.equity_curve if p.price > 0]
        markers = result.markers
    else:
        curve = [p for p in result.symbol_curves.get(symbol, ()) if p.price > 0]
        markers = [m for m in result.markers if m.symbol == symbol]
    markers = [m for m in markers if m.kind != "guard"] + guard_marks(markers)
    markers.sort(key=lambda m: m.time)
    entry_sides = {(f.time, f.price): f.side for f in result.fills if f.purpose == "entry"}
    marks = []
    for m in markers:
        colour, glyph = _marker_style(m, entry_sides)
        marks.append(Mark(m.time, float(m.price), glyph, colour, f"{when(m.time)} · {m.label} @ {price(m.price)}"))
    indicators = _indicator_lines(result, name, on_price=True)
    legend = [f'<span style="color:{LONG}">▲</span> long entry', f'<span style="color:{SHORT}">▼</span> short entry']
    legend += [f'<span style="color:{c}">{g}</span> {escape(what)}' for c, g, what in _MARK_STYLE.values()]
    legend.append('<span class="swatch long"></span> long <span class="swatch short"></span> short')
    legend += [
        f'<span class="key" style="background:{line.colour}"></span> {escape(line.name)}' for _, line in indicators
    ]
    return Chart(
        f"Price · {name}, with the indicators the rules read, orders and guards",
        [Line("price", [(p.time, float(p.price)) for p in curve]), *(line for _, line in indicators)],
        marks=marks,
        bands=_position_bands(curve),
        # Only the report's own script zooms: shown once it runs, never on the web page (no script
        # there) nor in a report the page serves (its CSP runs none).
        legend=" · ".join(legend)
        + ' — hover a mark for what it was<span class="zoom-hint">; wheel to zoom, drag to pan, double-click to'
        + " reset</span>.",
    )


def _line_chart(title: str, points: Series, css: str, *, fill: bool = False, baseline: float | None = None) -> str:
    """One line drawn whole (the web page's equity chart)."""
    return svg_of(Chart(title, [Line(css, points)], baseline=baseline, fill=fill), 0)


def _price_chart(result: BacktestResult, buckets: int = 1000, symbol: str | None = None) -> str:
    """The price chart drawn whole (the web page's price chart: the same marks mean the same things)."""
    return svg_of(price_chart(result, symbol), 0)


def _panels(result: BacktestResult, symbol: str) -> list[Chart]:
    """One chart per indicator the rules read that is not in price units (rsi, atr, macd...)."""
    by_indicator: dict[str, list[Line]] = {}
    for indicator, line in _indicator_lines(result, symbol, on_price=False):
        by_indicator.setdefault(indicator, []).append(line)
    charts = []
    for indicator, lines in by_indicator.items():
        definition = next((i.definition for i in result.indicator_lines if i.indicator == indicator), indicator)
        legend = " · ".join(f'<span class="key" style="background:{x.colour}"></span> {escape(x.name)}' for x in lines)
        charts.append(Chart(f"{indicator} = {definition} · {symbol}", lines, legend=legend))
    return charts


def _table(headers: Sequence[str], rows: Sequence[Sequence[str]], empty: str, total: int, css: str = "list") -> str:
    if not rows:
        return f"<p>{escape(empty)}</p>"
    head = "".join(f"<th>{escape(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{escape(c)}</td>" for c in row) + "</tr>" for row in rows)
    more = f'<p class="muted">the first {len(rows):,} of {total:,}</p>' if total > len(rows) else ""
    return f'<table class="{css}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>{more}'


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
            t.exit_reason or ("marked to last price, less the exit fee" if t.is_open else "-"),
            money(t.gross_pnl + t.open_pnl, a),
            money(t.fees + t.open_exit_fee, a),  # open at the end: with the fee to close it, as net PnL
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


def guard_days(result: BacktestResult) -> list[tuple[str, ...]]:
    """Guard interventions by UTC day, guard and symbol: how many of each verdict, which rules
    they concerned, and the first reason."""
    groups: dict[tuple[str, str, str], list[GuardEvent]] = {}
    for g in result.guard_events:
        groups.setdefault((when(g.time)[:10], g.guard, g.symbol), []).append(g)
    rows: list[tuple[str, ...]] = []
    for (day, guard, symbol), events in sorted(groups.items()):
        verdicts: dict[str, int] = {}
        for e in events:
            verdicts[e.verdict] = verdicts.get(e.verdict, 0) + 1
        counts = ", ".join(f"{v} {n:,}" for v, n in sorted(verdicts.items()))
        rules = ", ".join(sorted({e.rule for e in events if e.rule})) or "-"
        first = events[0]
        rows.append(
            (day, symbol or "-", guard, f"{len(events):,}", counts, rules, f"{when(first.time)[11:]}: {first.reason}")
        )
    return rows


def _guards_table(result: BacktestResult) -> str:
    rows = guard_days(result)
    cap = f'<p class="muted">and {result.cap_stops:,} daily-cap stops placed or re-priced (standing orders)</p>'
    return _table(
        ("day", "symbol", "guard", "times", "verdicts", "rules", "first"),
        rows[:MAX_TABLE_ROWS],
        "the guards allowed everything",
        len(rows),
    ) + (cap if result.cap_stops else "")


def _symbols_table(result: BacktestResult, stats: Stats, per: Mapping[str, Stats] | None) -> str:
    if per is None or len(per) < 2:
        return ""
    rows = symbol_rows(per, stats, result.margin_asset)
    return "<h2>By symbol</h2>" + _table(SYMBOL_COLUMNS, rows, "", len(rows))


def _months_table(result: BacktestResult, stats: Stats) -> str:
    rows = month_rows(stats, result.margin_asset)
    return "<h2>By month (UTC)</h2>" + _table(MONTH_COLUMNS, rows, "no months", len(rows)) if rows else ""


_CSS = """
body { font: 14px/1.45 system-ui, sans-serif; margin: 24px auto; max-width: 1140px; color: #222; padding: 0 12px; }
h1 { font-size: 21px; margin-bottom: 2px; } h2 { font-size: 15px; margin: 26px 0 4px; }
table { border-collapse: collapse; font-size: 13px; }
th, td { padding: 3px 10px; text-align: left; border-bottom: 1px solid #eee; }
table.summary th { font-weight: 600; white-space: nowrap; } table.list thead th { background: #f5f5f5; }
table.summary tr.section th { font-style: italic; font-weight: 400; color: #666; padding-top: .6em; }
figure.chart { margin: 0; } .zoomable figure.chart svg { cursor: grab; touch-action: none; }
svg text { font-size: 11px; fill: #666; } svg .mark { font-size: 15px; cursor: default; }
.grid { stroke: #eee; } .base { stroke: #999; stroke-dasharray: 4 3; }
.equity { fill: none; stroke: #2166ac; stroke-width: 1.5; } .price { fill: none; stroke: #333; stroke-width: 1; }
.ind { fill: none; stroke-width: 1.3; }
.dd { fill: none; stroke: #d73027; stroke-width: 1; } .dd-fill { fill: #d73027; opacity: .15; }
rect.long { fill: #1a9850; opacity: .08; } rect.short { fill: #d73027; opacity: .08; }
.swatch { display: inline-block; width: 12px; height: 10px; } .swatch.long { background: #1a985033; }
.swatch.short { background: #d7302733; }
.key { display: inline-block; width: 14px; height: 3px; vertical-align: middle; }
.muted, .legend { color: #666; } .pos { color: #1a9850; } .neg { color: #d73027; }
.zoombar { position: sticky; top: 0; background: #fff; padding: 6px 0; z-index: 1; display: none; }
.zoomable .zoombar { display: block; } .zoombar button { margin-right: 4px; }
.zoom-hint { display: none; } .zoomable .zoom-hint { display: inline; }
"""


def _script() -> str:
    return resources.files("rulebot.backtest").joinpath("report.js").read_text(encoding="utf-8")


def _thinned_note(result: BacktestResult) -> str:
    """A long run's charts draw a bounded number of its samples (thinned.py); the numbers use all."""
    drawn, taken = len(result.equity_curve), result.samples
    if taken <= drawn:
        return ""
    return (
        f'<p class="muted">the charts draw {drawn:,} points of {taken:,} samples (the first, last, lowest and '
        "highest of each stretch); the summary is computed from every sample</p>"
    )


def _json_for_html(doc: object) -> str:
    # Inside <script>, "</script>" in a string would end the element: "<" is written as \\u003c.
    return json.dumps(doc, separators=(",", ":"), allow_nan=False).replace("<", "\\u003c")


def render_html(
    result: BacktestResult, stats: Stats, buckets: int = 1000, per: Mapping[str, Stats] | None = None
) -> str:
    """The report; `per` (each symbol's numbers) adds a by-symbol table. A several-symbol
    backtest gets one price chart (and indicator panels) per symbol."""
    symbols = result.all_symbols
    names = ", ".join(symbols)
    a = result.margin_asset
    curve = result.equity_curve
    under: Series = []
    peak: Decimal | None = None
    for p in curve:
        peak = p.equity if peak is None else max(peak, p.equity)
        under.append((p.time, float(p.equity - peak)))
    charts = [
        Chart(
            f"Equity ({a})",
            [Line("equity", [(p.time, float(p.equity)) for p in curve])],
            baseline=float(result.start_equity),
        ),
        Chart(f"Drawdown from the running peak ({a})", [Line("dd", under)], fill=True),
    ]
    if len(symbols) > 1:
        for s in symbols:
            charts += [price_chart(result, s), *_panels(result, s)]
    else:
        charts += [price_chart(result), *_panels(result, result.symbol)]
    rows = []
    for title, section in titled_sections(stats, result):
        if title:  # the assumptions: one titled section of the summary, as in the terminal
            rows.append(f'<tr class="section"><th colspan="2">{escape(title)}</th></tr>')
        for label, value in section:
            css = ""
            if label == "net PnL" and stats.net_pnl:
                css = ' class="pos"' if stats.net_pnl > 0 else ' class="neg"'
            rows.append(f"<tr><th>{escape(label)}</th><td{css}>{escape(value)}</td></tr>")
    drawn = "".join(svg_of(c, i) for i, c in enumerate(charts))
    zoom = (
        '<div class="zoombar"><button id="zoom-in" type="button">zoom in</button>'
        '<button id="zoom-out" type="button">zoom out</button><button id="zoom-reset" type="button">reset</button>'
        ' <span id="zoom-window" class="muted"></span></div>'
    )
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>backtest · {escape(result.rulebook)} · {escape(names)}</title>
<style>{_CSS}</style></head><body>
<h1>{escape(result.rulebook)} · {escape(names)}</h1>
<p class="muted">rulebook version {escape(result.version)} · {escape(span(result.start_time, result.end_time))} UTC
· {result.events:,} events · rulebot {escape(__version__)}</p>
{_thinned_note(result)}
<table class="summary">{"".join(rows)}</table>
{_symbols_table(result, stats, per)}
{_months_table(result, stats)}
{zoom}
{drawn}
<h2>Trades</h2>
{_trades_table(result, stats)}
<h2>Guard interventions by day</h2>
{_guards_table(result)}
<script type="application/json" id="chart-data">{_json_for_html(chart_data(charts))}</script>
<script>{_script()}</script>
</body></html>
"""


def write_html_report(result: BacktestResult, stats: Stats, path: Path, per: Mapping[str, Stats] | None = None) -> None:
    path.write_text(render_html(result, stats, per=per), encoding="utf-8")
