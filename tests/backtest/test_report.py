"""The HTML report: self-contained, well formed, charts and marks present, user text escaped."""

from __future__ import annotations

import json
from decimal import Decimal as D
from html.parser import HTMLParser

from rulebot.backtest.report_html import LONG, SHORT, downsample, guard_days, nice_ticks, render_html, time_ticks
from rulebot.backtest.result import BacktestResult, EquityPoint, FillRecord, GuardEvent, Marker
from rulebot.backtest.stats import compute_stats
from rulebot.backtest.summary import when

T = 1_717_200_000_000


class _Checker(HTMLParser):
    VOID = frozenset({"meta", "br", "img", "input", "link", "hr", "path", "line", "rect"})

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
    # The report's own scripts (its chart data and the zoom) are the only ones: a rule's name is text.
    assert "<script>alert" not in html and "&lt;script&gt;alert" in html and html.count("<script") == 2
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


def test_entries_point_the_way_of_their_side_and_every_kind_of_mark_has_its_tooltip():
    r = make_result(2_000)
    r.fills = [
        FillRecord(T + 60_000, "BTCUSDT", "BUY", D(1), D(60001), D(0), D(0), False, "entry", "go <long>", "a"),
        FillRecord(T + 240_000, "BTCUSDT", "SELL", D(1), D(60010), D(0), D(0), False, "entry", "fade", "b"),
    ]
    r.markers += [
        Marker(T + 240_000, D(60010), "entry", "entry SELL 1 (fade)"),
        Marker(T + 300_000, D(60020), "take_profit", "take_profit BUY 1"),
        Marker(T + 360_000, D(60030), "liquidation", "liquidation SELL 1"),
        Marker(T + 420_000, D(60040), "exit", "exit BUY 1"),
    ]
    r.guard_events = [GuardEvent(T + 180_000, "stale_data", "reject", "feed is 9s old & <late>", "go <long>")]
    html = render_html(r, compute_stats(r))
    assert f'style="fill:{LONG}" text-anchor="middle" class="mark">▲' in html
    assert f'style="fill:{SHORT}" text-anchor="middle" class="mark">▼' in html
    for glyph in "◆✖●":
        assert f'class="mark">{glyph}<title>' in html
    assert "<title>2024-06-01 00:05 · take_profit BUY 1 @ 60,020.00</title>" in html
    assert "feed is 9s old &amp; &lt;late&gt;" in html  # the guard table escapes user text too
    assert 'class="long"' in html  # the position shading behind the price
    checker = _Checker()
    checker.feed(html)


def test_an_empty_backtest_still_makes_a_readable_report():
    r = BacktestResult("empty", "v", "BTCUSDT", "USDT", T, T, D(1000), 0)
    r.end_equity = D(1000)
    html = render_html(r, compute_stats(r))
    assert html.count("no data") == 3 and "no trades" in html and "the guards allowed everything" in html


def test_axis_ticks_are_round_numbers_and_whole_hours():
    assert nice_ticks(58_980.1, 61_698.7) == [58_000, 59_000, 60_000, 61_000, 62_000]
    assert nice_ticks(0.3412, 0.3587) == [0.34, 0.345, 0.35, 0.355, 0.36]
    assert nice_ticks(5.0, 5.0)[0] <= 5.0 <= nice_ticks(5.0, 5.0)[-1]  # a flat line still gets a range
    hours = time_ticks(T + 1, T + 72 * 3_600_000)
    assert hours[0] == T + 12 * 3_600_000 and all(t % (12 * 3_600_000) == 0 for t in hours)


def test_a_thousand_guard_interventions_are_summarised_by_guard_and_day_with_one_mark_each():
    # The yolo run drew 1,436 "!" marks over the price and a 1,436-row table.
    r = make_result(3 * 1440)
    guards = ["max_position_notional", "stale_data"]
    r.guard_events = [
        GuardEvent(T + i * 180_000, guards[i % 2], "reject", f"reason {i}", "go <long>") for i in range(1436)
    ]
    r.markers = [Marker(g.time, D(60000), "guard", f"{g.guard}: {g.reason}") for g in r.guard_events]
    html = render_html(r, compute_stats(r))
    days = len({when(g.time)[:10] for g in r.guard_events})
    assert html.count('class="mark">!<title>') == len(guards) * days  # one mark per guard and day
    rows = guard_days(r)
    assert len(rows) == len(guards) * days
    assert sum(int(row[3].replace(",", "")) for row in rows) == 1436
    first = rows[0]
    assert first[2] == "max_position_notional" and first[4].startswith("reject ") and first[5] == "go <long>"
    assert "go &lt;long&gt;" in html and "reason 0" in html
    assert "times that day)" in html  # a mark's tip says how often that day


def test_the_page_embeds_its_charts_data_for_zooming_and_escapes_it():
    r = make_result(2_000)
    r.markers.append(Marker(T + 60_000, D(60001), "exit", "exit </script><b>"))
    html = render_html(r, compute_stats(r))
    data = html.split('<script type="application/json" id="chart-data">', 1)[1].split("</script>", 1)[0]
    assert "<" not in data  # nothing in the data can close the element
    doc = json.loads(data)
    assert len(doc["charts"]) == 3 and doc["t0"] == T
    assert any("exit </script><b>" in m["tip"] for m in doc["charts"][2]["marks"])  # the script sets it as text
