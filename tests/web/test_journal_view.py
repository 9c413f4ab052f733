"""What the page reads from a journal (rulebot/web/journal_view.py), on a real demo journal."""

from __future__ import annotations

from pathlib import Path

import pytest

from rulebot.backtest.api import demo
from rulebot.journal.writer import read_only
from rulebot.web import journal_view as jv

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
