"""What the page reads from a journal (rulebot/web/journal_view.py), on a real demo journal."""

from __future__ import annotations

from pathlib import Path

import pytest

from rulebot.backtest.api import demo
from rulebot.journal.writer import read_only
from rulebot.web import api
from rulebot.web import journal_view as jv
from rulebot.web.bots import Bot

from .conftest import HOLD_ON_CANDLE


@pytest.fixture(scope="module")
def journal(tmp_path_factory: pytest.TempPathFactory) -> Path:
    where = tmp_path_factory.mktemp("journal-view")
    (where / "book.yaml").write_text(HOLD_ON_CANDLE)  # its `note` rule reads close@1m each minute
    demo(str(where / "book.yaml"), hours=2, journal_path=where / "j.sqlite")
    return where / "j.sqlite"


def test_the_price_line_of_a_finished_run_follows_the_closes_its_rules_read(journal: Path) -> None:
    # Only inputs named price, close, last or mark were taken: a rulebook that reads close@1m
    # left the chart of a finished run a line through its fills alone.
    db = read_only(journal)
    try:
        notes = db.execute("SELECT COUNT(*) FROM decisions WHERE rule = 'note'").fetchone()[0]
        prices = jv.history(db)["prices"]["BTCUSDT"]
    finally:
        db.close()
    assert notes > 60 and len(prices) >= notes


TWO = """\
rulebook: two-symbols
market: usdm
symbols: [BTCUSDT, ETHUSDT]
timeframes: [1m]
rules:
  - name: buy
    on: candle_close 1m
    in: flat
    do: [{enter: {side: long, size: "0.01"}}, {stop_loss: {distance: 5%}}, {goto: long}]
  - name: note
    on: candle_close 1m
    in: long
    when: close@1m > 0
    do: [{log: "held"}]
"""


def test_a_bot_of_two_symbols_charts_both_each_with_its_own_position(tmp_path: Path) -> None:
    # Only the first symbol was charted, shaded by the sum of both positions' amounts.
    (tmp_path / "book.yaml").write_text(TWO)
    demo(str(tmp_path / "book.yaml"), hours=1, journal_path=tmp_path / "j.sqlite")
    db = read_only(tmp_path / "j.sqlite")
    try:
        history = jv.history(db)
        html = api.chart_html(db, Bot("0", journal_file=tmp_path / "j.sqlite"))
    finally:
        db.close()
    assert set(history["positions"]) == {"BTCUSDT", "ETHUSDT"}
    assert history["positions"]["BTCUSDT"][-1][1] == 0.01 and history["positions"]["ETHUSDT"][-1][1] == 0.01
    assert "BTCUSDT" in html and "ETHUSDT" in html and html.count("<svg") == 3


def test_a_stopped_bot_of_two_symbols_shows_both_positions_it_left_open(tmp_path: Path) -> None:
    # The last account update lists only the position it changed: the other one was left out.
    (tmp_path / "book.yaml").write_text(TWO)
    demo(str(tmp_path / "book.yaml"), hours=1, journal_path=tmp_path / "j.sqlite")
    db = read_only(tmp_path / "j.sqlite")
    try:
        left = jv.left_open(db)
        equity = jv.history(db)["equity"]
    finally:
        db.close()
    assert sorted((p["symbol"], p["amount"]) for p in left) == [("BTCUSDT", "0.01"), ("ETHUSDT", "0.01")]
    # The equity counts both positions' PnL and the one wallet, whichever update listed them.
    assert abs(equity[-1][1] - 10_000) < 5
