"""The diagram and the charts are HTML the page inserts as is: every name in them is escaped."""

from __future__ import annotations

from rulebot.web import charts, diagram

EVIL = '<img src=x onerror="alert(1)">'


def test_state_and_rule_names_cannot_inject_markup_into_the_diagram():
    data = {
        "initial_state": "flat",
        "symbols": ["BTCUSDT"],
        "states": [{"name": "flat", "position": "flat"}, {"name": EVIL, "position": "long"}],
        "transitions": [
            {"from": "flat", "to": EVIL, "why": f"rule {EVIL}"},
            {"from": EVIL, "to": "flat", "why": "timeout"},
        ],
    }
    svg = diagram.render(data, {"BTCUSDT": EVIL})
    assert "<img" not in svg and "&lt;img src=x onerror=&quot;alert(1)&quot;&gt;" in svg
    assert 'class="node lit"' in svg


def test_marker_labels_cannot_inject_markup_into_the_charts():
    history = {
        "equity": [(1_000, 10_000.0), (61_000, 10_010.0)],
        "prices": {"BTCUSDT": [(1_000, 60_000.0), (61_000, 60_100.0)]},
        "positions": {"BTCUSDT": [(1_000, 0.01)]},
        "markers": [
            {"time": 1_000, "symbol": "BTCUSDT", "price": "60000", "kind": "entry", "label": EVIL, "side": "BUY"},
            {"time": 61_000, "symbol": "BTCUSDT", "price": None, "kind": "guard", "label": EVIL},
        ],
    }
    html = charts.render(history, ["BTCUSDT"], "USDT", [])
    assert "<img" not in html and html.count("&lt;img") == 2 and "▲" in html
