"""The report's charts: one description per chart, drawn as inline SVG here and again by the
page's script (report.js) for each zoomed window.

Long curves are reduced to the first, lowest, highest and last point of each pixel column,
so a year of minutes stays small and no spike disappears. The page embeds each chart's points
at a finer reduction (ZOOM_BUCKETS columns), enough to zoom in without losing what is there.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from html import escape
from typing import Any

WIDTH, HEIGHT, PAD_L, PAD_R, PAD_T, PAD_B = 1100, 240, 78, 14, 10, 22
BUCKETS = 1000  # columns of the static drawing
ZOOM_BUCKETS = 4000  # columns of the points the page keeps for zooming

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
class Line:
    css: str  # equity, dd, price, ind
    points: Series
    name: str = ""  # an indicator's name, for the legend and the page's tests
    colour: str = ""


@dataclass(frozen=True, slots=True)
class Mark:
    time: int
    value: float
    glyph: str
    colour: str
    tip: str  # user text: escaped in the SVG, set as text by the script


@dataclass
class Chart:
    """What one chart shows; `lines[0]` is the one a `fill` fills down to zero."""

    title: str
    lines: list[Line]
    marks: list[Mark] = field(default_factory=list)
    bands: list[tuple[int, int, int]] = field(default_factory=list)  # (from, to, +1 long / -1 short)
    baseline: float | None = None
    fill: bool = False
    legend: str = ""  # HTML, already escaped

    @property
    def span(self) -> tuple[int, int] | None:
        times = [p[0] for line in self.lines for p in line.points[:1] + line.points[-1:]]
        return (min(times), max(times)) if times else None


@dataclass(frozen=True, slots=True)
class _Frame:
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
        parts.append(
            f'<text x="{x:.1f}" y="{HEIGHT - 6}" text-anchor="middle" class="time">{_time_label(t, step)}</text>'
        )
    return frame, "".join(parts)


def _path(frame: _Frame, points: Series) -> str:
    return " ".join(f"{'M' if i == 0 else 'L'}{frame.x(t):.1f},{frame.y(v):.1f}" for i, (t, v) in enumerate(points))


def _bands(frame: _Frame, bands: Sequence[tuple[int, int, int]]) -> str:
    top, height = PAD_T, HEIGHT - PAD_T - PAD_B
    out = []
    for t0, t1, sign in bands:
        x0, x1 = frame.x(t0), frame.x(t1)
        css = "long" if sign > 0 else "short"
        out.append(f'<rect x="{x0:.1f}" y="{top}" width="{max(x1 - x0, 0.5):.1f}" height="{height}" class="{css}"/>')
    return "".join(out)


def svg_of(chart: Chart, number: int) -> str:
    """The chart drawn whole, in a figure the page's script redraws when zoomed."""
    title = escape(chart.title)
    drawn = [Line(line.css, downsample(line.points, BUCKETS), line.name, line.colour) for line in chart.lines]
    span = chart.span
    if span is None:
        return f"<h2>{title}</h2><p>no data</p>"
    values = [v for line in drawn for _, v in line.points] + [m.value for m in chart.marks]
    if chart.baseline is not None:
        values.append(chart.baseline)
    if chart.fill:
        values.append(0.0)
    frame, axes = _frame_and_axes(span[0], span[1], values)
    body = [_bands(frame, chart.bands), axes]
    if chart.baseline is not None:
        y = frame.y(chart.baseline)
        body.append(f'<line x1="{PAD_L}" x2="{WIDTH - PAD_R}" y1="{y:.1f}" y2="{y:.1f}" class="base"/>')
    for i, line in enumerate(drawn):
        if not line.points:
            continue
        d = _path(frame, line.points)
        if chart.fill and i == 0:
            base = frame.y(0.0)
            first, last = frame.x(line.points[0][0]), frame.x(line.points[-1][0])
            body.append(f'<path d="{d} L{last:.1f},{base:.1f} L{first:.1f},{base:.1f} Z" class="{line.css}-fill"/>')
        style = f' style="stroke:{line.colour}"' if line.colour else ""
        name = f' data-name="{escape(line.name)}"' if line.name else ""
        body.append(f'<path d="{d}" class="{line.css}"{style}{name}/>')
    for m in chart.marks:
        x, y = frame.x(m.time), frame.y(m.value)
        body.append(
            f'<text x="{x:.1f}" y="{y + 5:.1f}" style="fill:{m.colour}" text-anchor="middle" class="mark">'
            f"{m.glyph}<title>{escape(m.tip)}</title></text>"
        )
    svg = f'<svg viewBox="0 0 {WIDTH} {HEIGHT}" width="100%" role="img" aria-label="{title}">{"".join(body)}</svg>'
    legend = f'<p class="legend">{chart.legend}</p>' if chart.legend else ""
    return f'<h2>{title}</h2><figure class="chart" data-chart="{number}">{svg}</figure>{legend}'


def _compact(points: Series) -> tuple[list[int], list[float | None]]:
    """Times as the first and then each step from the one before, values to 8 significant
    digits (the page adds the steps up again): a year of minutes stays a few hundred KB."""
    times, last = [], 0
    for t, _ in points:
        times.append(t - last)
        last = t
    return times, [float(f"{v:.8g}") if math.isfinite(v) else None for _, v in points]


def chart_data(charts: Sequence[Chart]) -> dict[str, Any]:
    """What the page's script redraws from: each chart's points (finely reduced), marks and bands."""
    spans = [s for c in charts if (s := c.span) is not None]
    t0 = min((s[0] for s in spans), default=0)
    t1 = max((s[1] for s in spans), default=1)
    out = []
    for c in charts:
        series = []
        for line in c.lines:
            ts, vs = _compact(downsample(line.points, ZOOM_BUCKETS))
            series.append({"cls": line.css, "name": line.name, "colour": line.colour, "t": ts, "v": vs})
        out.append(
            {
                "series": series,
                "marks": [{"t": m.time, "v": m.value, "g": m.glyph, "c": m.colour, "tip": m.tip} for m in c.marks],
                "bands": c.bands,
                "baseline": c.baseline,
                "fill": c.fill,
            }
        )
    return {"width": WIDTH, "height": HEIGHT, "pad": [PAD_L, PAD_R, PAD_T, PAD_B], "t0": t0, "t1": t1, "charts": out}
