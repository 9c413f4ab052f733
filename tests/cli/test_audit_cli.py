"""`rulebot audit` over a journal written by a real backtest."""

from __future__ import annotations

import json
import re
import sqlite3
from decimal import Decimal
from pathlib import Path

import pytest
from click.testing import CliRunner

from rulebot.backtest.text import exact, money
from rulebot.cli import main
from rulebot.core.account_events import AlgoUpdate, OrderUpdate
from rulebot.core.commands import CancelAllOrders, PlaceOrder
from rulebot.core.enums import OrderStatus, OrderType, PositionSide, Side, TimeInForce
from rulebot.engine.records import Decision, GuardRecord
from rulebot.engine.risk.verdict import Verdict
from rulebot.journal.encode import to_row
from rulebot.journal.writer import SyncJournal
from rulebot.testing.shared import ARCHIVE

ROOT = Path(__file__).resolve().parents[2]
BTC_1M = ARCHIVE / "futures/um/daily/klines/BTCUSDT/1m"


@pytest.fixture(scope="module")
def journal(tmp_path_factory) -> str:
    path = tmp_path_factory.mktemp("audit") / "bt.journal"
    res = CliRunner().invoke(
        main,
        [
            "backtest",
            str(ROOT / "rules/ema-trend-btc.yaml"),
            "--data",
            str(BTC_1M),
            "--journal",
            str(path),
            "--format",
            "json",
        ],
        catch_exceptions=False,
    )
    assert res.exit_code == 0, res.output
    return str(path)


def audit(journal: str, *args: str) -> tuple[int, str]:
    res = CliRunner().invoke(main, ["audit", "-j", journal, *args], catch_exceptions=False)
    return res.exit_code, res.output


def test_runs_decisions_orders_fills_and_pnl_as_json(journal):
    code, out = audit(journal, "runs", "--format", "json")
    assert code == 0 and json.loads(out)[0]["mode"] == "backtest"
    code, out = audit(journal, "decisions", "--rule", "enter-long", "--format", "json")
    rows = json.loads(out)
    assert code == 0 and rows and {r["rule"] for r in rows} == {"enter-long"}
    code, out = audit(journal, "decisions", "--since", "2030-01-01", "--format", "json")
    assert json.loads(out) == []
    code, out = audit(journal, "orders", "--format", "json")
    assert code == 0 and any(o["status"] == "FILLED" and o["rule"] == "enter-long" for o in json.loads(out))
    code, fills = audit(journal, "fills", "--format", "json")
    code, by_rule = audit(journal, "pnl", "--by", "rule", "--format", "json")
    assert sum(r["fills"] for r in json.loads(by_rule)) == len(json.loads(fills))
    code, by_day = audit(journal, "pnl", "--by", "day", "--format", "json")
    net = [sum(Decimal(r["net"]) for r in json.loads(out)) for out in (by_rule, by_day)]
    assert code == 0 and net[0] == net[1]  # funding has a row of its own by rule: both add up the same


def test_explain_tells_the_story_in_text(journal):
    _, out = audit(journal, "decisions", "--rule", "enter-long", "--format", "json")
    # The first entry whose maker-only limit order filled (others expire unfilled after 2m).
    stories = (audit(journal, "explain", str(d["id"])) for d in json.loads(out))
    code, text = next((code, text) for code, text in stories if "FILLED" in text)
    assert code == 0
    for part in ("rule enter-long", "inputs:", "daily_loss_cap", "order", "FILLED", "position after"):
        assert part in text
    assert audit(journal, "explain", "999999")[0] == 1


def rows_of(table: str, key: int) -> dict[str, list[str]]:
    """A table's rows by the cell in column `key` (0 the first)."""
    cells = [[c.strip() for c in line.split("│")[1:-1]] for line in table.splitlines() if line.startswith("│")]
    return {row[key]: row for row in cells}


def test_tables_write_quantities_and_prices_exactly_and_amounts_to_cents(journal):
    # The tables printed the journal's Decimal strings: an order at 105370.00 (the 0.10 tick's
    # exponent), a fee of 3.98298600 and a PnL of -0.09450000 (quantized to 1e-8).
    _, fills = audit(journal, "fills", "--format", "json")
    _, table = audit(journal, "fills")
    shown = rows_of(table, 2)
    for f in json.loads(fills):
        row = shown[f["client_order_id"]]
        assert row[4:6] == [exact(Decimal(f["quantity"])), exact(Decimal(f["price"]))]
        assert row[6:8] == [money(Decimal(f["fee"])), money(Decimal(f["realized_pnl"]))]
    assert any(f["price"].endswith("0") for f in json.loads(fills))  # the JSON keeps the exact strings
    _, orders = audit(journal, "orders", "--format", "json")
    _, table = audit(journal, "orders")
    shown = rows_of(table, 1)
    for o in json.loads(orders):
        row = shown[o["client_order_id"]]
        assert row[5] == (exact(Decimal(o["quantity"])) if o["quantity"] else "-")
        # This rulebook's orders are limits, market orders and STOP_MARKETs: one price each at most.
        trigger = o["trigger_price"] and f"trigger {exact(Decimal(o['trigger_price']))}"
        assert row[6] == (exact(Decimal(o["price"])) if o["price"] else trigger or "-")
    _, pnl = audit(journal, "pnl", "--format", "json")
    _, table = audit(journal, "pnl")
    shown = rows_of(table, 0)
    for r in json.loads(pnl):
        assert shown[r["day"]][1] == r["asset"] == "USDT"
        assert shown[r["day"]][3:] == [money(Decimal(r[k])) for k in ("realized_pnl", "fees", "funding", "net")]
    _, runs = audit(journal, "runs", "--format", "json")
    _, table = audit(journal, "runs")
    assert f"end_equity={money(Decimal(json.loads(runs)[0]['stop']['end_equity']))}," in table


def test_explain_writes_the_orders_fills_and_position_as_the_tables_do(journal):
    _, out = audit(journal, "decisions", "--rule", "enter-long", "--format", "json")
    stories = (audit(journal, "explain", str(d["id"])) for d in json.loads(out))
    text = next(text for _, text in stories if "FILLED" in text)
    lines = [line for line in text.splitlines() if " sent: " in line or " filled " in line or "position after" in line]
    assert lines and not [line for line in lines if re.search(r"\.\d*0\b", line.split(" fee ")[0])]
    fees = [line.split(" fee ")[1] for line in lines if " fee " in line]
    assert fees and all(re.fullmatch(r"[\d,]+\.\d\d", fee) for fee in fees)  # cents, never 3.98298600


def test_verify_fails_with_the_broken_row_after_tampering(journal, tmp_path):
    assert audit(journal, "verify")[0] == 0
    copy = tmp_path / "tampered.journal"
    with sqlite3.connect(journal) as src, sqlite3.connect(copy) as dst:
        src.backup(dst)
    with sqlite3.connect(copy) as db:
        (symbol,) = db.execute("SELECT symbol FROM entries WHERE id = 12").fetchone()
        db.execute("UPDATE entries SET symbol = 'ETHUSDT' WHERE id = 12")
    code, out = audit(str(copy), "verify")
    assert code == 1 and "row 12" in out
    with sqlite3.connect(copy) as db:
        db.execute("UPDATE entries SET symbol = ? WHERE id = 12", (symbol,))  # undo, then cut the tail
        last = db.execute("SELECT MAX(id) FROM entries").fetchone()[0]
        db.execute("DELETE FROM entries WHERE id = ?", (last,))
    code, out = audit(str(copy), "verify", "--format", "json")
    report = json.loads(out)
    assert code == 1 and report["first_broken"] == last and "deleted from the end" in report["problem"]


def test_export_csv_and_json_and_version_diff(journal, tmp_path):
    code, out = audit(journal, "export", "--format", "csv", "--kind", "decision")
    assert code == 0 and out.splitlines()[0].startswith("id,run_id,time,kind")
    code, out = audit(journal, "export", "--format", "json", "--kind", "command")
    assert code == 0 and all(r["kind"] == "command" for r in json.loads(out))
    code, out = audit(journal, "versions", "--format", "json")
    version = json.loads(out)[0]["hash"]
    code, out = audit(journal, "diff", version[:8], version[:8])
    assert code == 0 and out == ""  # a version does not differ from itself
    assert audit(journal, "diff", "nope", version[:8])[0] == 1
    # A prefix is text: `%` and `_` are no wildcards (SQL LIKE took them as such).
    assert audit(journal, "diff", "%", version[:8])[0] == 1
    assert audit(journal, "diff", "_" * 8, version[:8])[0] == 1


def test_a_missing_journal_is_a_clear_error(tmp_path):
    code, _ = audit(str(tmp_path / "none.journal"), "runs")
    assert code == 1


def test_versions_and_diff_show_what_changed_between_two_rulebooks(journal, tmp_path):
    copy = tmp_path / "two.journal"
    with sqlite3.connect(journal) as src, sqlite3.connect(copy) as dst:
        src.backup(dst)
    text = (ROOT / "rules/ema-trend-btc.yaml").read_text()
    edited = tmp_path / "ema-trend-btc.yaml"
    edited.write_text(text.replace("  fast: 21", "  fast: 13"))
    res = CliRunner().invoke(
        main,
        ["backtest", str(edited), "--data", str(BTC_1M), "--journal", str(copy), "--format", "json"],
        catch_exceptions=False,
    )
    assert res.exit_code == 0, res.output
    code, out = audit(str(copy), "versions", "--format", "json")
    old, new = (v["hash"] for v in json.loads(out))
    assert code == 0 and old != new
    code, out = audit(str(copy), "diff", old[:10], new[:10])
    assert code == 0 and "-  fast: 21" in out and "+  fast: 13" in out and out.startswith(f"--- {old[:12]}")
    code, out = audit(str(copy), "diff", old[:10], new[:10], "--format", "json")
    answer = json.loads(out)
    assert code == 0 and (answer["old"], answer["new"], answer["changed"]) == (old, new, True)
    assert "-  fast: 21" in answer["diff"] and "+  fast: 13" in answer["diff"]
    code, out = audit(str(copy), "runs", "--format", "json")
    assert [r["version"] for r in json.loads(out)] == [old, new]
    assert audit(str(copy), "verify")[0] == 0  # a second run chains onto the first


def test_a_damaged_journal_is_reported_as_damage_with_exit_1(journal, tmp_path):
    # Bytes that are not UTF-8 in a row (bit rot): every command says the journal is damaged and
    # where to look; none calls it a bug in rulebot (exit 70).
    damaged = tmp_path / "damaged.journal"
    src, out = sqlite3.connect(journal), sqlite3.connect(damaged)
    src.backup(out)
    out.execute("UPDATE entries SET mode = CAST(X'6261ff6b' AS TEXT)")
    out.commit()
    code, text = audit(str(damaged), "verify")
    assert code == 1 and "BROKEN at row 1:" in text and "damaged" in text
    for args in (["export"], ["export", "--format", "csv"]):
        res = CliRunner().invoke(main, ["audit", "-j", str(damaged), *args])
        assert res.exit_code == 1, (args, res.output)
        assert "damaged" in res.output and "internal error" not in res.output, (args, res.output)


def test_a_row_whose_body_is_no_longer_json_is_damage_not_a_bug(journal, tmp_path):
    """A flipped byte in a row's JSON body (bit rot): `export` (its default format) and
    `explain` parsed it in Python and ended with exit 70 'internal error in rulebot'."""
    damaged = tmp_path / "rotten.journal"
    with sqlite3.connect(journal) as src, sqlite3.connect(damaged) as dst:
        src.backup(dst)
    (row,) = sqlite3.connect(damaged).execute("SELECT MIN(id) FROM entries WHERE kind = 'decision'").fetchone()
    with sqlite3.connect(damaged) as db:
        db.execute("UPDATE entries SET body = '{' || substr(body, 3) WHERE id = ?", (row,))
    for args in (
        ["export"],
        ["export", "--kind", "decision"],
        ["explain", str(row)],
        ["explain", str(row), "--format", "json"],
    ):
        res = CliRunner().invoke(main, ["audit", "-j", str(damaged), *args])
        assert res.exit_code == 1, (args, res.output)
        assert "damaged" in res.output and "internal error" not in res.output, (args, res.output)
    res = CliRunner().invoke(main, ["audit", "-j", str(damaged), "export"])
    assert f"row {row}" in res.output, res.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["decisions", "--since", "garbage"], "not a date or time"),
        (["decisions", "--limit", "99999999999999999999999"], "range"),
        (["decisions", "--limit", "0"], "range"),
        (["explain", "99999999999999999999999"], "range"),
        (["explain", "0"], "range"),
    ],
)
def test_bad_options_are_usage_errors_not_internal_errors(journal, args, message):
    res = CliRunner().invoke(main, ["audit", "-j", journal, *args])
    assert res.exit_code == 2, res.output
    assert message in res.output and "internal error" not in res.output


def test_since_takes_a_time_as_well_as_a_date(journal):
    code, out = audit(journal, "decisions", "--since", "2025-06-11T12:00", "--format", "json")
    rows = json.loads(out)
    assert code == 0 and rows and min(r["time"] for r in rows) >= 1749643200000


@pytest.mark.parametrize("command", ["fills", "orders", "decisions"])
def test_a_listing_cut_by_its_limit_says_so_and_json_stays_clean(journal, command):
    # `audit fills` printed the first 1,000 fills of a long backtest (orders: 500) with no word
    # and no way to ask for more: an export for a spreadsheet silently lost the rest.
    res = CliRunner().invoke(main, ["audit", "-j", journal, command, "--limit", "2", "--format", "json"])
    assert res.exit_code == 0, res.output
    assert len(json.loads(res.stdout)) == 2
    assert "first 2" in res.stderr and "--limit" in res.stderr
    whole = CliRunner().invoke(main, ["audit", "-j", journal, command, "--limit", "100000", "--format", "json"])
    assert len(json.loads(whole.stdout)) > 2 and whole.stderr == ""


def test_a_zero_fee_reads_as_zero_in_the_table(tmp_path):
    # A fill with no fee printed "0E-8" (the str of a Decimal quantized to 1e-8).
    path = tmp_path / "zero-fee.journal"
    res = CliRunner().invoke(
        main,
        [
            "backtest",
            str(ROOT / "rules/ema-trend-btc.yaml"),
            "--data",
            str(BTC_1M),
            "--fees",
            "0,0",
            "--journal",
            str(path),
        ],
    )
    assert res.exit_code == 0, res.output
    code, out = audit(str(path), "fills")
    assert code == 0 and "0E-8" not in out and {row[6] for row in rows_of(out, 2).values()} == {"0.00"}
    code, out = audit(str(path), "fills", "--format", "json")
    assert {f["fee"] for f in json.loads(out)} == {"0E-8"}  # JSON keeps the exact string as journaled


def journal_of(path: Path, *orders: tuple[PlaceOrder, Decimal]) -> str:
    """A journal of one decision that sent `orders`, each acknowledged by an update whose
    `last_filled_qty` is the one given (zero: no fill)."""
    sink = SyncJournal(path, "r1")
    sink.append(to_row(Decision(1000, "BTCUSDT", "protect", "mark_price", "long", {"atr": 120.5}, True, "v1")))
    for n, (order, last_filled) in enumerate(orders, 1):
        verdict = Verdict("allow", "max_leverage", "within 5x")
        sink.append(to_row(GuardRecord(1000, "BTCUSDT", "protect", "protect", (verdict,), order.client_order_id)))
        sink.append(to_row(order))
        update = OrderUpdate(
            "BTCUSDT", order.client_order_id, n, order.side, order.order_type, OrderStatus.NEW, "NEW",
            order.quantity or Decimal(0), order.price or Decimal(0), Decimal(0), Decimal(0), last_filled,
            Decimal(0), Decimal(0), "USDT", Decimal(0), False, order.reduce_only, PositionSide.BOTH,
            order.time_in_force, order.trigger_price, None, None, 1001,
        )  # fmt: skip
        sink.append(to_row(update))
    sink.end_step()
    sink.close()
    return str(path)


def sell(cid: str, kind: OrderType, price: str | None, trigger: str | None) -> PlaceOrder:
    return PlaceOrder(
        cid,
        "BTCUSDT",
        Side.SELL,
        kind,
        Decimal("0.010"),
        price=Decimal(price) if price else None,
        trigger_price=Decimal(trigger) if trigger else None,
        time_in_force=TimeInForce.GTC if price else None,
        time=1000,
    )


def test_orders_and_explain_show_a_stop_limit_orders_trigger_and_its_limit(tmp_path):
    # Both showed COALESCE(price, trigger_price): a stop that triggers at 59,800 and then rests at
    # 59,700 read as a plain limit order at 59,700, the price that decides when it acts missing.
    journal = journal_of(
        tmp_path / "stops.journal",
        (sell("sl-limit", OrderType.STOP, "59700.00", "59800.00"), Decimal(0)),
        (sell("sl-market", OrderType.STOP_MARKET, None, "57000.00"), Decimal(0)),
        (sell("take-profit", OrderType.LIMIT, "61000.50", None), Decimal(0)),
    )
    code, table = audit(journal, "orders")
    shown = {cid: row[6] for cid, row in rows_of(table, 1).items()}
    assert code == 0 and shown == {
        "sl-limit": "trigger 59,800, limit 59,700",
        "sl-market": "trigger 57,000",
        "take-profit": "61,000.5",
    }
    _, out = audit(journal, "orders", "--format", "json")
    exact_strings = {o["client_order_id"]: (o["price"], o["trigger_price"]) for o in json.loads(out)}
    assert exact_strings == {
        "sl-limit": ("59700.00", "59800.00"),
        "sl-market": (None, "57000.00"),
        "take-profit": ("61000.50", None),
    }
    _, decisions = audit(journal, "decisions", "--format", "json")
    code, story = audit(journal, "explain", str(json.loads(decisions)[0]["id"]))
    sent = [line for line in story.splitlines() if " sent: " in line]
    assert code == 0 and sent == [
        "order sl-limit sent: SELL 0.01 STOP @ trigger 59,800, limit 59,700",
        "order sl-market sent: SELL 0.01 STOP_MARKET @ trigger 57,000",
        "order take-profit sent: SELL 0.01 LIMIT @ 61,000.5",
    ]


def test_explain_reads_a_zero_written_with_an_exponent_or_places_as_no_fill(tmp_path):
    # The fill check compared last_filled_qty with the string "0": an update journaled with
    # "0E-8" or "0.000" (a Decimal quantized to its step) read as a fill of nothing at 0.
    journal = journal_of(
        tmp_path / "zeros.journal",
        (sell("quantized", OrderType.LIMIT, "61000.50", None), Decimal("0E-8")),
        (sell("stepped", OrderType.LIMIT, "61000.50", None), Decimal("0.000")),
        (sell("traded", OrderType.LIMIT, "61000.50", None), Decimal("0.010")),
    )
    _, decisions = audit(journal, "decisions", "--format", "json")
    code, story = audit(journal, "explain", str(json.loads(decisions)[0]["id"]))
    filled = [line for line in story.splitlines() if " filled " in line]
    assert code == 0 and len(filled) == 1 and " filled 0.01 @ " in filled[0]


def test_a_run_that_died_without_stopping_says_so_instead_of_a_dash(tmp_path):
    """A bot killed with SIGKILL (or a crash, a power cut) writes no run_stop: `audit runs` showed
    '-' under stopped and under how it ended, as for a bot still running, even once a later run
    had started on the same journal."""
    from rulebot.journal.encode import Row

    path = tmp_path / "killed.journal"
    for run, rows in (
        ("run-1", [Row(1000, "run_start", {"mode": "dry-run"}), Row(5000, "log", {"message": "last words"})]),
        ("run-2", [Row(9000, "run_start", {"mode": "dry-run"}), Row(9500, "log", {"message": "running"})]),
    ):
        sink = SyncJournal(path, run, mode="dry-run")
        for row in rows:
            sink.append(row)
        sink.end_step()
        sink.close()
    code, out = audit(str(path), "runs", "--format", "json")
    runs = json.loads(out)
    assert code == 0 and [r["last_time"] for r in runs] == [5000, 9500]
    code, out = audit(str(path), "runs")
    table = rows_of(out, 0)
    assert "killed or crashed" in table["run-1"][7] and "1970-01-01 00:00:05" in table["run-1"][7], out
    assert "running, or killed or crashed" in table["run-2"][7], out


def test_pnl_by_rule_keeps_each_runs_fills_with_its_own_rules(journal, tmp_path):
    """Backtests number their orders bt-1, bt-2, ... in every run: with two backtests in one
    journal, `pnl --by rule` credited the second run's fills to the first run's rule names (the
    second rulebook's `go-long` and `bail` were nowhere, its PnL under `enter-long`)."""
    both = tmp_path / "both.journal"
    with sqlite3.connect(journal) as src, sqlite3.connect(both) as dst:
        src.backup(dst)
    renamed = tmp_path / "renamed.yaml"
    text = (ROOT / "rules/ema-trend-btc.yaml").read_text()
    renamed.write_text(text.replace("name: enter-long", "name: go-long").replace("name: exit-on-cross", "name: bail"))
    alone = tmp_path / "alone.journal"
    for path in (both, alone):
        res = CliRunner().invoke(
            main, ["backtest", str(renamed), "--data", str(BTC_1M), "--journal", str(path), "--format", "json"]
        )
        assert res.exit_code == 0, res.output

    def by_rule(path: Path | str) -> dict[str, dict]:
        code, out = audit(str(path), "pnl", "--by", "rule", "--format", "json")
        assert code == 0, out
        return {r["rule"]: r for r in json.loads(out)}

    first, second, together = by_rule(journal), by_rule(alone), by_rule(both)
    assert {"go-long", "bail"} <= set(together), together
    assert {"enter-long", "exit-on-cross"} <= set(together), together
    for rule, row in {**first, **second}.items():
        if rule.startswith("("):
            continue
        assert (together[rule]["fills"], together[rule]["net"]) == (row["fills"], row["net"]), rule


def test_pnl_by_rule_credits_an_adopted_orders_fill_to_the_rule_that_placed_it(tmp_path):
    """A stop placed by one run that fills after a restart is journaled by the next run: it is
    still the placing rule's, not '(engine or liquidation)'."""
    path = journal_of(tmp_path / "restart.journal", (sell("a1-2", OrderType.STOP_MARKET, None, "57000.00"), Decimal(0)))
    sink = SyncJournal(path, "r2")
    fill = OrderUpdate(
        "BTCUSDT", "a1-2", 1, Side.SELL, OrderType.STOP_MARKET, OrderStatus.FILLED, "TRADE",
        Decimal("0.010"), Decimal(0), Decimal("56990"), Decimal("56990"), Decimal("0.010"), Decimal("0.010"),
        Decimal("0.28"), "USDT", Decimal("-30.10"), False, False, PositionSide.BOTH, None, Decimal("57000"),
        None, None, 5000,
    )  # fmt: skip
    sink.append(to_row(fill))
    sink.end_step()
    sink.close()
    code, out = audit(path, "pnl", "--by", "rule", "--format", "json")
    rows = {r["rule"]: r for r in json.loads(out)}
    assert code == 0 and set(rows) == {"protect"} and Decimal(rows["protect"]["realized_pnl"]) == Decimal("-30.10")


def test_a_stop_that_fills_after_a_restart_shows_filled_in_orders_and_explain(tmp_path):
    """A bot stopped with `keep` leaves its stops on the exchange; the restarted bot journals the
    stop's fill under its own run. `audit orders` went on showing that stop as NEW and `explain`
    left the fill out: only updates of the run that placed the order were read."""
    path = journal_of(tmp_path / "kept.journal", (sell("a1-2", OrderType.STOP_MARKET, None, "57000.00"), Decimal(0)))
    sink = SyncJournal(path, "r2")
    fill = OrderUpdate(
        "BTCUSDT", "a1-2", 1, Side.SELL, OrderType.STOP_MARKET, OrderStatus.FILLED, "TRADE",
        Decimal("0.010"), Decimal(0), Decimal("56990"), Decimal("56990"), Decimal("0.010"), Decimal("0.010"),
        Decimal("0.28"), "USDT", Decimal("-30.10"), False, False, PositionSide.BOTH, None, Decimal("57000"),
        None, None, 5000,
    )  # fmt: skip
    sink.append(to_row(fill))
    sink.end_step()
    sink.close()
    code, out = audit(path, "orders", "--format", "json")
    assert code == 0 and [o["status"] for o in json.loads(out)] == ["FILLED"], out
    code, out = audit(path, "explain", "1", "--format", "json")
    statuses = [o["status"] for o in json.loads(out)["orders"] if o["kind"] == "order"]
    assert code == 0 and statuses == ["NEW", "FILLED"], out


def test_an_order_id_a_later_backtest_uses_again_is_that_runs_own_order(journal, tmp_path):
    """bt-1 of the second backtest in a journal is another order than bt-1 of the first: each keeps
    its own status."""
    both = tmp_path / "both.journal"
    with sqlite3.connect(journal) as src, sqlite3.connect(both) as dst:
        src.backup(dst)
    res = CliRunner().invoke(
        main,
        ["backtest", str(ROOT / "rules/ema-trend-btc.yaml"), "--data", str(BTC_1M), "--journal", str(both)],
    )
    assert res.exit_code == 0, res.output
    _, once = audit(journal, "orders", "--format", "json", "--limit", "100000")
    _, twice = audit(str(both), "orders", "--format", "json", "--limit", "100000")
    first = [(o["client_order_id"], o["status"]) for o in json.loads(once)]
    assert [(o["client_order_id"], o["status"]) for o in json.loads(twice)] == first + first


def _fill(cid: str, symbol: str, realized: str, fee: str, fee_asset: str, time: int) -> OrderUpdate:
    return OrderUpdate(
        symbol, cid, 1, Side.SELL, OrderType.MARKET, OrderStatus.FILLED, "TRADE",
        Decimal(1), Decimal(0), Decimal(100), Decimal(1), Decimal(1), Decimal(100),
        Decimal(fee), fee_asset, Decimal(realized), False, True, PositionSide.BOTH, None, None, None, None, time,
    )  # fmt: skip


def test_pnl_never_adds_amounts_of_different_assets(tmp_path):
    """pnl summed every fill's PnL and fee into one number whatever its asset: a fee paid in BNB
    (Binance's fee discount) counted 0.001 BNB as 0.001 USDT, and a COIN-M run's BTC amounts were
    added to a USD-M run's USDT on the same day."""
    from rulebot.core.account_events import AccountUpdate, BalanceChange

    path = tmp_path / "assets.journal"
    usdt = AccountUpdate("ORDER", (BalanceChange("USDT", Decimal(1000), Decimal(1000), Decimal(0)),), (), 1000)
    btc = AccountUpdate("ORDER", (BalanceChange("BTC", Decimal(1), Decimal(1), Decimal(0)),), (), 1000)
    for run, rows in (
        (
            "usdm",
            [
                usdt,
                _fill("u-1", "BTCUSDT", "10", "0.5", "USDT", 2000),
                _fill("u-2", "BTCUSDT", "-4", "0.001", "BNB", 3000),
            ],
        ),
        ("coinm", [btc, _fill("c-1", "BTCUSD_PERP", "0.002", "0.0001", "BTC", 4000)]),
    ):
        sink = SyncJournal(path, run)
        for row in rows:
            sink.append(to_row(row))
        sink.end_step()
        sink.close()
    code, out = audit(str(path), "pnl", "--format", "json")
    got = {r["asset"]: (r["fills"], r["realized_pnl"], r["fees"], r["net"]) for r in json.loads(out)}
    assert code == 0 and {k: tuple(map(Decimal, v[1:])) for k, v in got.items()} == {
        "USDT": (Decimal(6), Decimal("0.5"), Decimal("5.5")),
        "BNB": (Decimal(0), Decimal("0.001"), Decimal("-0.001")),
        "BTC": (Decimal("0.002"), Decimal("0.0001"), Decimal("0.0019")),
    }, got
    assert got["USDT"][0] == 2 and got["BTC"][0] == 1
    code, table = audit(str(path), "pnl")
    assert code == 0 and "BNB" in table and "BTC" in table and "USDT" in table


def test_every_order_the_bot_cancelled_says_why(journal):
    """`CANCELED` alone left the audit to guess: a stop re-priced, a position closed, an entry that
    expired, a flatten. Each cancel the engine sends carries its reason, and `orders` shows it."""
    code, out = audit(journal, "orders", "--format", "json")
    assert code == 0
    cancelled = [o for o in json.loads(out) if o["status"] == "CANCELED"]
    reasons = {o["cancel_reason"] for o in cancelled}
    assert cancelled and None not in reasons, [o["client_order_id"] for o in cancelled if not o["cancel_reason"]]
    assert {"position closed", "expired", "re-priced: the daily loss cap moved"} <= reasons
    # The daily-cap stop the breach's flatten (a CancelAllOrders) cancelled in this run before is now
    # dropped by the exchange first, triggered beside the stop-loss that closed the position: both say
    # why (the flatten's reason: test_an_order_a_cancel_all_took_says_the_flattens_reason).
    assert "by the exchange: Reduce Only reject" in reasons
    code, text = audit(journal, "orders")
    assert "CANCELED (position" in text  # the table may wrap the rest of the cell
    closed = next(o for o in cancelled if o["cancel_reason"] == "position closed")
    db = sqlite3.connect(journal)
    placed_by = db.execute(
        "SELECT MAX(d.id) FROM entries d WHERE d.kind = 'decision' AND json_extract(d.body, '$.fired') AND d.id < ?",
        (closed["id"],),
    ).fetchone()[0]
    db.close()
    code, story = audit(journal, "explain", str(placed_by))
    assert code == 0 and f"CancelOrder {closed['client_order_id']} sent (position closed)" in story, story


def test_an_order_the_exchange_cancelled_says_so_and_why(tmp_path):
    """A daily-cap stop that triggered just after the position's own stop had closed it is dropped
    by the exchange ("Reduce Only reject": nothing left to close). No cancel of the bot named it,
    and `orders` said CANCELED with no reason, as if the bot had cancelled it without one."""
    stop = sell("cap-1", OrderType.STOP_MARKET, None, "108612.80")
    path = Path(journal_of(tmp_path / "j.journal", (stop, Decimal(0))))
    sink = SyncJournal(path, "r1")
    dropped = AlgoUpdate(
        "BTCUSDT", "cap-1", 1, OrderType.STOP_MARKET, Side.SELL, PositionSide.BOTH, "CANCELED", Decimal(0),
        Decimal("108612.80"), None, False, True, None, None, "Reduce Only reject", 2000,
    )  # fmt: skip
    sink.append(to_row(dropped))
    sink.end_step()
    sink.close()
    code, out = audit(str(path), "orders", "--format", "json")
    assert code == 0
    assert [(o["status"], o["cancel_reason"]) for o in json.loads(out)] == [
        ("CANCELED", "by the exchange: Reduce Only reject")
    ]


def test_an_order_a_cancel_all_took_says_the_flattens_reason(tmp_path):
    """A CancelAllOrders names no order: the cancelled order is found by its symbol, and gets the
    reason of the last one sent between its placing and its CANCELED."""
    stop = sell("cap-1", OrderType.STOP_MARKET, None, "108612.80")
    path = Path(journal_of(tmp_path / "j.journal", (stop, Decimal(0))))
    sink = SyncJournal(path, "r1")
    sink.append(to_row(CancelAllOrders("BTCUSDT", 2000, reason="flatten (daily_loss_cap)")))
    gone = AlgoUpdate(
        "BTCUSDT", "cap-1", 1, OrderType.STOP_MARKET, Side.SELL, PositionSide.BOTH, "CANCELED", Decimal(0),
        Decimal("108612.80"), None, False, True, None, None, None, 2000,
    )  # fmt: skip
    sink.append(to_row(gone))
    sink.end_step()
    sink.close()
    code, out = audit(str(path), "orders", "--format", "json")
    assert code == 0 and [o["cancel_reason"] for o in json.loads(out)] == ["flatten (daily_loss_cap)"]
