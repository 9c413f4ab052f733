"""The sweep's HTML report: one self-contained file (inline SVG, no scripts, nothing fetched).

A heatmap of the metric over two chosen parameters (each cell the best trial with those two
values; a parameter with many distinct values is binned), the equity curves of the best
trials, the walk-forward folds side by side, the ranked trials and the failures.
"""

from __future__ import annotations

import html
import math
import shlex
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from rulebot.sweep.api import SweepResult, iso, replay_args
from rulebot.sweep.output import fmt, money, pct
from rulebot.sweep.space import SweepError, shown
from rulebot.sweep.trial import TrialResult

MAX_AXIS = 16  # distinct values on a heatmap axis before they are binned
PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f")


def _esc(text: object) -> str:
    return html.escape(str(text), quote=True)


def _axis(values: Sequence[object]) -> tuple[list[str], dict[object, int]]:
    """Labels of an axis and each value's position; many numbers are binned into MAX_AXIS ranges."""
    distinct = sorted(set(values), key=lambda v: (isinstance(v, str), v))  # type: ignore[arg-type]
    numeric = all(isinstance(v, int | float) and not isinstance(v, bool) for v in distinct)
    if len(distinct) <= MAX_AXIS or not numeric:
        return [shown(v) for v in distinct], {v: i for i, v in enumerate(distinct)}  # type: ignore[arg-type]
    lo, hi = float(distinct[0]), float(distinct[-1])  # type: ignore[arg-type]
    width = (hi - lo) / MAX_AXIS or 1.0
    labels = [f"{lo + i * width:.4g} to {lo + (i + 1) * width:.4g}" for i in range(MAX_AXIS)]
    return labels, {v: min(int((float(v) - lo) / width), MAX_AXIS - 1) for v in distinct}  # type: ignore[arg-type]


def _color(score: float, scale: float) -> str:
    t = max(-1.0, min(1.0, score / scale)) if scale else 0.0
    if t >= 0:  # white to green
        r, g, b = int(255 - 200 * t), int(255 - 80 * t), int(255 - 200 * t)
    else:  # white to red
        r, g, b = int(255 + 40 * t), int(255 + 200 * t), int(255 + 200 * t)
    return f"rgb({r},{g},{b})"


def heatmap(sweep: SweepResult, x: str, y: str | None) -> str:
    trials = [t for t in sweep.trials if t.phase != "test" and t.ok]
    if not trials:
        return "<p>No trial finished: nothing to map.</p>"
    xs = [dict(t.params).get(x) for t in trials]
    ys = [dict(t.params).get(y) for t in trials] if y else [""] * len(trials)
    xlabels, xpos = _axis(xs)
    ylabels, ypos = _axis(ys)
    cells: dict[tuple[int, int], TrialResult] = {}
    for t, xv, yv in zip(trials, xs, ys, strict=True):
        key = (xpos[xv], ypos[yv])
        s = t.score(sweep.metric)
        best = cells.get(key)
        if s is not None and (best is None or s > (best.score(sweep.metric) or 0.0)):
            cells[key] = t
    if not cells:
        return f"<p>No trial has a {_esc(sweep.metric)} (each shows - below): nothing to map.</p>"
    # Infinite scores (a profit factor with nothing lost) take the top colour, not the scale.
    finite = [abs(s) for t in cells.values() if (s := t.score(sweep.metric)) is not None and math.isfinite(s)]
    scale = max(finite, default=1.0)
    cw, ch, left, top = max(44, 560 // max(len(xlabels), 1)), 26, 110, 10
    width, height = left + cw * len(xlabels) + 10, top + ch * len(ylabels) + 60
    parts = [f'<svg viewBox="0 0 {width} {height}" width="{width}" height="{height}" role="img">']
    for (i, j), t in cells.items():
        s = t.score(sweep.metric) or 0.0
        tip = f"trial {t.number}: " + ", ".join(f"{k}={shown(v)}" for k, v in t.params) + f" → {sweep.metric} {s:.4g}"
        cx, cy = left + i * cw, top + (len(ylabels) - 1 - j) * ch
        parts.append(
            f'<rect x="{cx}" y="{cy}" width="{cw - 1}" height="{ch - 1}" fill="{_color(s, scale)}">'
            f"<title>{_esc(tip)}</title></rect>"
        )
        parts.append(f'<text x="{cx + cw / 2}" y="{cy + ch / 2 + 4}" class="cell">{_esc(f"{s:.3g}")}</text>')
    for i, label in enumerate(xlabels):
        parts.append(
            f'<text x="{left + i * cw + cw / 2}" y="{top + ch * len(ylabels) + 16}" class="xl">{_esc(label)}</text>'
        )
    for j, label in enumerate(ylabels):
        parts.append(
            f'<text x="{left - 6}" y="{top + (len(ylabels) - 1 - j) * ch + ch / 2 + 4}" class="yl">{_esc(label)}</text>'
        )
    parts.append(f'<text x="{left + cw * len(xlabels) / 2}" y="{height - 16}" class="axis">{_esc(x)}</text>')
    if y:
        parts.append(f'<text x="12" y="{top + ch * len(ylabels) / 2}" class="axis">{_esc(y)}</text>')
    parts.append("</svg>")
    return "".join(parts)


def equity_chart(trials: Sequence[TrialResult]) -> str:
    curves = [t for t in trials if t.curve]
    if not curves:
        return "<p>No equity curves.</p>"
    t0 = min(c.curve[0][0] for c in curves)
    t1 = max(c.curve[-1][0] for c in curves)
    lo = min(v for c in curves for _, v in c.curve)
    hi = max(v for c in curves for _, v in c.curve)
    if hi == lo:  # nothing traded: the flat line across the middle, one unit either side
        lo, hi = lo - 1, hi + 1
    span_t, span_v = max(t1 - t0, 1), hi - lo
    w, h, left, top = 900, 300, 80, 10

    def xy(t: int, v: float) -> str:
        return f"{left + (t - t0) / span_t * (w - left - 10):.1f},{top + (hi - v) / span_v * (h - top - 30):.1f}"

    parts = [f'<svg viewBox="0 0 {w} {h}" width="100%" role="img">']
    for v in (lo, (lo + hi) / 2, hi):
        _, py = xy(t0, v).split(",")
        parts.append(
            f'<line x1="{left}" x2="{w - 10}" y1="{py}" y2="{py}" class="grid"/>'
            f'<text x="{left - 6}" y="{float(py) + 4}" class="yl">{v:,.2f}</text>'
        )
    for label, t in (("start", t0), ("end", t1)):
        px, _ = xy(t, lo).split(",")
        anchor = "start" if label == "start" else "end"
        parts.append(f'<text x="{px}" y="{h - 8}" text-anchor="{anchor}" class="tl">{_esc(iso(t)[:16])}</text>')
    for k, c in enumerate(curves):
        color = PALETTE[k % len(PALETTE)]
        points = " ".join(xy(t, v) for t, v in c.curve)
        label = f"trial {c.number}: " + ", ".join(f"{n}={shown(v)}" for n, v in c.params)
        parts.append(
            f'<polyline points="{points}" fill="none" stroke="{color}" stroke-width="1.5">'
            f"<title>{_esc(label)}</title></polyline>"
        )
    parts.append("</svg>")
    legend = "".join(
        f'<span class="key"><i style="background:{PALETTE[k % len(PALETTE)]}"></i>trial {c.number}: '
        + _esc(", ".join(f"{n}={shown(v)}" for n, v in c.params))
        + "</span>"
        for k, c in enumerate(curves)
    )
    return "".join(parts) + f'<div class="legend">{legend}</div>'


def _trials_rows(sweep: SweepResult, trials: Sequence[TrialResult]) -> str:
    names = [d.name for d in sweep.dims]
    head = "".join(
        f"<th>{_esc(h)}</th>"
        for h in (
            "trial",
            "phase",
            *names,
            "net PnL",
            "return",
            "sharpe",
            "sortino",
            "calmar",
            "profit f.",
            "max DD",
            "trades",
            "replay",
        )
    )
    body = []
    for t in trials:
        p, m = dict(t.params), t.metrics
        cmd = shlex.join(replay_args(sweep, t))  # pasted into a shell: a text param may hold spaces, `;`, `$`
        cells = [
            str(t.number),
            t.phase,
            *(shown(p[n]) for n in names),
            money(m.get("net_pnl")),
            pct(m.get("return_pct")),
            fmt(m.get("sharpe")),
            fmt(m.get("sortino")),
            fmt(m.get("calmar")),
            fmt(m.get("profit_factor")),
            pct(m.get("max_drawdown_pct")),
            fmt(m.get("trades")),
        ]
        body.append("<tr>" + "".join(f"<td>{_esc(c)}</td>" for c in cells) + f"<td><code>{_esc(cmd)}</code></td></tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def _folds(sweep: SweepResult) -> str:
    if not sweep.folds:
        return ""
    unit = " per day" if sweep.metric == "net_pnl" else ""
    rows = []
    for f in sweep.folds:
        params = ", ".join(f"{k}={shown(v)}" for k, v in f.best.params) if f.best else "-"
        flag = '<td class="warn">diverges</td>' if f.diverges else "<td></td>"
        rows.append(
            f"<tr><td>{f.fold.index}</td><td>{_esc(iso(f.fold.train[0]))} → {_esc(iso(f.fold.train[1]))}</td>"
            f"<td>{_esc(iso(f.fold.test[0]))} → {_esc(iso(f.fold.test[1]))}</td><td>{_esc(params)}</td>"
            f"<td>{fmt(f.in_sample)}</td><td>{fmt(f.out_of_sample)}</td>{flag}</tr>"
        )
    warn = ""
    bad = [f.fold.index for f in sweep.folds if f.diverges]
    if bad:
        warn = (
            f'<p class="warn">In-sample and out-of-sample diverge in fold(s) {", ".join(map(str, bad))}: the '
            "tuned parameters did not keep their edge on data they were not tuned on.</p>"
        )
    return (
        f"<h2>Walk-forward: {_esc(sweep.metric)}{unit}, in-sample against out-of-sample</h2>{warn}"
        "<table><thead><tr><th>fold</th><th>train</th><th>test</th><th>best parameters</th><th>in-sample</th>"
        f"<th>out-of-sample</th><th></th></tr></thead><tbody>{''.join(rows)}</tbody></table>"
        + equity_chart([f.test for f in sweep.folds if f.test is not None])
    )


CSS = """body{font:14px system-ui,sans-serif;margin:24px;color:#222}h1{font-size:20px}h2{font-size:16px;margin-top:28px}
table{border-collapse:collapse;font-size:12px}td,th{border-bottom:1px solid #ddd;padding:3px 8px;text-align:right}
th{background:#f4f4f4}code{font-size:11px;text-align:left;white-space:nowrap}.warn{color:#b35900;font-weight:600}
text{font-size:11px;fill:#333}.cell{text-anchor:middle;font-size:10px}.xl{text-anchor:middle}.yl{text-anchor:end}
.axis{font-weight:600;text-anchor:middle}.grid{stroke:#eee}.legend{font-size:12px}.key{margin-right:16px}
.key i{display:inline-block;width:12px;height:3px;margin-right:4px;vertical-align:middle}"""


def render_report(
    sweep: SweepResult, heat: tuple[str, str | None] | None = None, best: int = 5, warnings: Sequence[str] = ()
) -> str:
    """The page; `warnings` are the lines printed under the table (the best trial's flags, notes)."""
    names = [d.name for d in sweep.dims]
    x, y = heat if heat else (names[0] if names else "", names[1] if len(names) > 1 else None)
    for n in (x, y):
        if n is not None and n not in names:
            raise SweepError([f"--heatmap {n}: not a swept parameter ({', '.join(names)})"])
    ranked = [t for t in sweep.ranked() if t.ok and t.phase != "test"]
    made = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    state = " (interrupted: the finished trials only)" if sweep.interrupted else ""
    failures = [t for t in sweep.trials if not t.ok]
    failed = (
        "<h2>Failed trials</h2><ul>"
        + "".join(f"<li>trial {t.number}: {_esc(t.error)}</li>" for t in failures[:50])
        + "</ul>"
        if failures
        else ""
    )
    warned = (
        '<h2>Warnings</h2><ul class="warn">' + "".join(f"<li>{_esc(w)}</li>" for w in warnings) + "</ul>"
        if warnings
        else ""
    )
    return f"""<!doctype html><html><head><meta charset="utf-8"><title>sweep · {_esc(sweep.rulebook)}</title>
<style>{CSS}</style></head><body>
<h1>Sweep of {_esc(sweep.rulebook)}{state}</h1>
<p>{len(sweep.trials)} trials ({len(failures)} failed) · {_esc(sweep.search)} search, seed {sweep.seed} · ranked by
{_esc(sweep.metric)} · {_esc(sweep.engine)} engine, {sweep.workers} worker(s), {sweep.seconds:.1f} s · {made}</p>
{warned}
<h2>{_esc(sweep.metric)} over {_esc(x)}{" and " + _esc(y) if y else ""} (best trial per cell)</h2>
{heatmap(sweep, x, y) if x else ""}
<h2>Equity of the best {min(best, len(ranked))} trials</h2>
{equity_chart(ranked[:best])}
{_folds(sweep)}
<h2>Best trials</h2>
{_trials_rows(sweep, ranked[:50])}
{failed}
</body></html>"""


def write_report(
    sweep: SweepResult, path: Path, heat: tuple[str, str | None] | None = None, warnings: Sequence[str] = ()
) -> None:
    path.write_text(render_report(sweep, heat, warnings=warnings), encoding="utf-8")
