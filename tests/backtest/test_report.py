"""The HTML report: self-contained, well formed, charts and marks present, user text escaped."""

from __future__ import annotations

from decimal import Decimal as D
from html.parser import HTMLParser

from rulebot.backtest.report_html import downsample, render_html
from rulebot.backtest.result import BacktestResult, EquityPoint, Marker
from rulebot.backtest.stats import compute_stats

T = 1_717_200_000_000


class _Checker(HTMLParser):
    VOID = frozenset({"meta", "br", "img", "input", "link", "hr", "path", "line"})

    def __init__(self) -> None:
        super().__init__()
        self.stack: list[str] = []
        self.tags: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        if tag not in self.VOID:
            self.stack.append(tag)

    def handle_startendtag(self, tag, attrs):
        self.tags.append(tag)

    def handle_endtag(self, tag):
        assert self.stack and self.stack[-1] == tag, f"</{tag}> closes <{self.stack[-1] if self.stack else None}>"
        self.stack.pop()


def make_result(n: int = 50_000) -> BacktestResult:
    r = BacktestResult("<script>alert(1)</script>", "abc", "BTCUSDT", "USDT", T, T + n * 60_000, D(1000), n)
    r.equity_curve = [
        EquityPoint(T + i * 60_000, D(1000 + (i % 97) - (i % 13)), D(60000 + i % 500), D(i % 2)) for i in range(n)
    ]
    r.end_equity = r.equity_curve[-1].equity
    r.markers = [
        Marker(T + 60_000, D(60001), "entry", "entry BUY 1 (rule <b>)"),
        Marker(T + 120_000, D(60002), "stop", "stop_loss SELL 1"),
        Marker(T + 180_000, D(60003), "guard", "stale_data: old"),
    ]
    return r


def test_report_is_well_formed_self_contained_and_escapes_user_text():
    r = make_result()
    html = render_html(r, compute_stats(r))
    checker = _Checker()
    checker.feed(html)
    assert checker.stack == ["html"] or checker.stack == []  # the parser keeps html open at EOF
    assert checker.tags.count("svg") == 3
    assert "<script>" not in html and "&lt;script&gt;" in html
    assert "rule &lt;b&gt;" in html  # marker labels come from rule names: escaped
    assert "http://" not in html and "https://" not in html  # nothing fetched from the network
    assert "▲" in html and "■" in html and "!" in html  # entry, stop and guard marks are drawn
    assert len(html) < 2_000_000  # 50,000 samples reduced to pixel columns


def test_downsampling_keeps_every_spike():
    points = [(i, 0.0) for i in range(100_000)]
    points[31_337] = (31_337, 99.0)
    points[77_777] = (77_777, -50.0)
    reduced = downsample(points, 500)
    assert len(reduced) <= 4 * 500
    assert (31_337, 99.0) in reduced and (77_777, -50.0) in reduced
    assert reduced == sorted(reduced)
