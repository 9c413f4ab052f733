"""`rulebot audit explain` tells, after the decision's own story, what the engine did on its own for
the symbol until its next decision: here the protective stop it placed for an entry without one."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from rulebot.cli import main
from rulebot.engine.records import Decision
from rulebot.journal.encode import to_row
from rulebot.journal.writer import SyncJournal
from rulebot.testing.shared import ARCHIVE
from tests.journal.test_explain_engine import NO_STOP

BTC_1M = ARCHIVE / "futures/um/daily/klines/BTCUSDT/1m"


@pytest.fixture(scope="module")
def journal(tmp_path_factory: pytest.TempPathFactory) -> str:
    folder = tmp_path_factory.mktemp("explain")
    (folder / "no-stop.yaml").write_text(NO_STOP)
    path = folder / "bt.journal"
    args = ["backtest", str(folder / "no-stop.yaml"), "--data", str(BTC_1M), "--journal", str(path)]
    res = CliRunner().invoke(main, [*args, "--format", "json"], catch_exceptions=False)
    assert res.exit_code == 0, res.output
    return str(path)


def audit(journal: str, *args: str) -> str:
    res = CliRunner().invoke(main, ["audit", "-j", journal, *args], catch_exceptions=False)
    assert res.exit_code == 0, res.output
    return res.output


def test_explain_of_an_entry_shows_the_protective_stop_the_engine_placed_after_it(journal: str) -> None:
    """Before, the entry's story ended at its own order and the position after it: the 5% stop the
    protective-stop guard placed 20 s later (and the daily-cap stop) were in no decision's explain."""
    entry = next(d for d in json.loads(audit(journal, "decisions", "--format", "json")) if d["rule"] == "enter")
    text = audit(journal, "explain", str(entry["id"]))
    own, _, engine = text.partition("then the engine, on its own:\n")
    assert engine, text
    assert "order bt-1 sent: BUY 0.1 MARKET" in own and own.rstrip().splitlines()[-1].startswith("position after:")
    lines = engine.splitlines()
    guard = next(i for i, line in enumerate(lines) if " protective_stop: protective stop " in line)
    assert lines[guard].endswith("→ bt-3") and lines[guard].startswith("  2025-06-07 13:45:19 ")
    assert (
        "act     protective_stop: the long position had no stop on the exchange 10s after it opened" in lines[guard + 1]
    )
    assert lines[guard + 2].endswith("order bt-3 sent: SELL close-position STOP_MARKET @ trigger 100,313.6")
    assert lines[guard + 3] == "  2025-06-07 13:45:19 bt-3 algo NEW"
    assert any("CancelOrder bt-2 sent (re-priced: the daily loss cap moved)" in line for line in lines)
    story = json.loads(audit(journal, "explain", str(entry["id"]), "--format", "json"))
    assert [e["client_order_id"] for e in story["engine_after"] if e["kind"] == "command"][:2] == ["bt-2", "bt-3"]
    assert story["engine_more"] is False


def test_explain_of_an_exit_shows_the_engine_cancelling_its_stops_with_their_reasons(journal: str) -> None:
    decisions = json.loads(audit(journal, "decisions", "--format", "json"))
    exit_ = next(d for d in decisions if d["rule"] == "leave")
    told = json.loads(audit(journal, "explain", str(exit_["id"]), "--format", "json"))
    reasons = {e["client_order_id"]: e["reason"] for e in told["engine_after"] if e.get("type") == "CancelOrder"}
    assert reasons == {"bt-3": "position closed", "bt-4": "no position to cap"}
    assert "CancelOrder bt-3 sent (position closed)" in audit(journal, "explain", str(exit_["id"]))


def test_a_decision_the_engine_did_nothing_after_has_no_engine_part(tmp_path: Path) -> None:
    sink = SyncJournal(tmp_path / "j.journal", "r1")
    sink.append(to_row(Decision(1000, "BTCUSDT", "note", "candle_close 1m", "flat", {}, True, "v1")))
    sink.end_step()
    sink.close()
    text = audit(str(tmp_path / "j.journal"), "explain", "1")
    assert text.startswith("decision 1 ") and "then the engine" not in text
    assert json.loads(audit(str(tmp_path / "j.journal"), "explain", "1", "--format", "json"))["engine_after"] == []
