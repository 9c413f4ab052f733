"""`rulebot backtest` on the real Binance files and `rulebot demo` on the simulated market."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

from click.testing import CliRunner

from rulebot.backtest.api import backtest
from rulebot.backtest.runner import BacktestConfig
from rulebot.backtest.stats import compute_stats, per_symbol_stats
from rulebot.backtest.summary import summary_dict
from rulebot.cli import main
from rulebot.cli.fill import make_fill_model
from rulebot.testing.shared import ARCHIVE, PAYLOADS

ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "rules"
DATA = ARCHIVE / "futures"
BTC_1M = DATA / "um/daily/klines/BTCUSDT/1m"
COIN_1M = DATA / "cm/daily/klines/BTCUSD_PERP/1m"


# `backtest` of the EMA rulebook over one real day (the unwritable-report tests add their options)
ONE_DAY_OF_EMA_TREND = ["backtest", str(RULES / "ema-trend-btc.yaml"), "--data", str(BTC_1M)]
ONE_DAY_OF_EMA_TREND += ["--from", "2025-06-07", "--to", "2025-06-08"]


def run(*args: str) -> tuple[int, str]:
    res = CliRunner().invoke(main, list(args), catch_exceptions=False)
    return res.exit_code, res.output


def test_backtest_on_binance_klines_prints_the_summary_and_writes_a_report(tmp_path):
    report = tmp_path / "r.html"
    code, out = run(
        "backtest",
        str(RULES / "ema-trend-btc.yaml"),
        "--data",
        str(BTC_1M),
        "--from",
        "2025-06-07",
        "--to",
        "2025-06-10",
        "--report",
        str(report),
    )
    assert code == 0, out
    for row in (
        "trades",
        "win rate",
        "net PnL",
        "fees",
        "funding",
        "max drawdown",
        "exposure",
        "liquidations",
        "guard interventions",
    ):
        assert row in out
    assert "report written to" in out and str(report) in out.replace("\n", "")
    html = report.read_text()
    # Equity, drawdown, price (with ema_fast and ema_slow over it), and a panel each for the
    # other indicators the rules read: atr, vol and vol_base.
    assert html.count("<svg") == 6 and "ema-trend-btc · BTCUSDT" in html
    assert 'data-name="ema_fast"' in html and "vol_base = sma(vol, 240)" in html


def test_backtest_json_is_exact_and_adds_up(tmp_path):
    code, out = run(
        "backtest",
        str(RULES / "ema-trend-btc.yaml"),
        "--data",
        str(BTC_1M),
        "--from",
        "2025-06-07",
        "--to",
        "2025-06-09",
        "--format",
        "json",
    )
    assert code == 0, out
    doc = json.loads(out)
    net = Decimal(doc["net_pnl"])
    assert net == Decimal(doc["end_equity"]) - Decimal(doc["start_equity"])
    parts = (
        Decimal(doc["gross_realized_pnl"])
        - Decimal(doc["fees"])
        - Decimal(doc["funding_paid"])
        + Decimal(doc["unrealized_pnl"])
        - Decimal(doc["open_exit_fee"])  # the taker fee to close what is open at the end
    )
    assert parts == net
    # This run ends long: its net counts the fee to close, its equity at mark does not.
    assert doc["open_at_end"] and Decimal(doc["open_exit_fee"]) == sum(
        Decimal(o["exit_fee"]) for o in doc["open_at_end"]
    )
    assert Decimal(doc["end_equity_at_mark"]) - Decimal(doc["open_exit_fee"]) == Decimal(doc["end_equity"])
    assert doc["events"] == 2 * 1440  # two days of 1m candles, from 00:00 to 00:00


def test_a_bad_rulebook_exits_1_with_a_located_error(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "rulebook: bad\nmarket: usdm\nsymbols: [BTCUSDT]\nrules:\n  - name: r\n    on: trade\n"
        "    when: pricee > 1\n    do: [exit]\n"
    )
    code, out = run("backtest", str(bad), "--data", str(BTC_1M))
    assert code == 1
    assert f"{bad}:7:11: error: unknown name 'pricee'" in out


def test_demo_runs_with_no_data_and_no_keys(tmp_path):
    report = tmp_path / "demo.html"
    code, out = run("demo", "--hours", "6", "--report", str(report), "--format", "json")
    assert code == 0, out
    doc = json.loads(out[out.index("{") :])
    assert doc["rulebook"] == "ema-trend-btc" and doc["events"] > 10_000
    assert report.is_file()


def test_demo_takes_the_fee_rates_its_summary_points_at(tmp_path):
    # The summary's fee row says "--fees maker,taker sets your account's": the demo must take it.
    def demo_fees(*fees: str) -> dict:
        code, out = run("demo", "--hours", "24", "--report", str(tmp_path / "d.html"), *fees, "--format", "json")
        assert code == 0, out
        return json.loads(out[out.index("{") :])

    default, halved = demo_fees(), demo_fees("--fees", "0.0001,0.00025")
    assert default["assumptions"]["fees"]["source"].startswith("Binance's VIP 0 defaults")
    assert halved["assumptions"]["fees"] == {"maker": "0.0001", "taker": "0.00025", "source": "--fees"}
    assert Decimal(default["fees"]) > 0 and Decimal(halved["fees"]) * 2 == Decimal(default["fees"])


def test_json_is_the_same_numbers_as_the_library_computes():
    args = ("--from", "2025-06-07", "--to", "2025-06-10", "--set", "fast=8", "--set", "slow=21")
    code, out = run("backtest", str(RULES / "ema-trend-btc.yaml"), "--data", str(BTC_1M), *args, "--format", "json")
    assert code == 0, out
    result, _, _ = backtest(
        str(RULES / "ema-trend-btc.yaml"),
        [str(BTC_1M)],
        start="2025-06-07",
        end="2025-06-10",
        overrides={"fast": "8", "slow": "21"},
        config=BacktestConfig(fill_model=make_fill_model("realistic", Decimal(0), None, None, None)),
    )
    # The library's BacktestConfig() keeps the ideal model; the CLI defaults to realistic (docs/fill-model.md).
    doc = summary_dict(compute_stats(result), result, per_symbol_stats(result))
    expected = json.loads(json.dumps(doc, default=str))
    assert json.loads(out) == expected
    assert expected["trades"] >= 1 and len(expected["trade_list"]) == expected["trades"] + expected["open_trades"]


def test_journal_option_writes_the_run_to_sqlite(tmp_path):
    journal = tmp_path / "run.db"
    args = ("--data", str(BTC_1M), "--from", "2025-06-07", "--to", "2025-06-08", "--journal", str(journal))
    code, out = run("backtest", str(RULES / "ema-trend-btc.yaml"), *args)
    assert code == 0, out
    assert journal.read_bytes().startswith(b"SQLite format 3")


def test_coin_margined_backtest_starts_with_one_coin():
    code, out = run("backtest", str(RULES / "funding-aware-btc-coinm.yaml"), "--data", str(COIN_1M), "--format", "json")
    assert code == 0, out
    doc = json.loads(out)
    # Binance's file for that day lacks the 04:28 candle: 1,439 rows.
    assert (doc["margin_asset"], doc["start_equity"], doc["events"]) == ("BTC", "1", 1439)


def test_usage_errors_exit_2_and_data_errors_exit_1(tmp_path):
    rulebook = str(RULES / "ema-trend-btc.yaml")
    assert run("backtest", rulebook)[0] == 2  # --data is required
    assert run("backtest", rulebook, "--data", str(tmp_path / "missing"))[0] == 2
    assert run("backtest", rulebook, "--data", str(BTC_1M), "--set", "fast")[0] == 2
    code, out = run("backtest", rulebook, "--data", str(COIN_1M))
    assert code == 1 and "no archive files for BTCUSDT" in out
    code, out = run("backtest", rulebook, "--data", str(BTC_1M), "--from", "2030-01-01")
    assert code == 1 and "no data for BTCUSDT from 2030-01-01" in out and "--from/--to" in out


def test_one_minute_bars_in_a_file_named_5m_are_refused_not_backtested_as_5m_candles(tmp_path):
    """The candle path reads klines in columns (kline_chunks.py): it checks each bar's length too."""
    import zipfile

    book = tmp_path / "five.yaml"
    book.write_text(
        (RULES / "ema-trend-btc.yaml")
        .read_text()
        .replace("1m", "5m")
        .replace("rulebook: ema-trend-btc", "rulebook: five")
    )
    day = BTC_1M / "BTCUSDT-1m-2025-06-07.zip"
    misnamed = tmp_path / "BTCUSDT-5m-2025-06-07.zip"
    with zipfile.ZipFile(day) as src, zipfile.ZipFile(misnamed, "w") as dst:
        dst.writestr("BTCUSDT-5m-2025-06-07.csv", src.read("BTCUSDT-1m-2025-06-07.csv"))
    code, out = run("backtest", str(book), "--data", str(misnamed))
    assert code == 1, out
    assert "the bar lasts 1m" in out and "the file's name says 5m bars" in out and "Traceback" not in out


def test_an_unwritable_report_path_says_what_to_do(tmp_path):
    target = tmp_path / "no" / "such" / "dir" / "r.html"
    code, out = run(
        "backtest",
        str(RULES / "ema-trend-btc.yaml"),
        "--data",
        str(BTC_1M),
        "--from",
        "2025-06-07",
        "--to",
        "2025-06-08",
        "--report",
        str(target),
    )
    assert code == 1 and "could not write the report" in out and "--report" in out


def test_demo_can_journal(tmp_path):
    from click.testing import CliRunner

    from rulebot.cli import main

    journal = tmp_path / "demo.journal"
    res = CliRunner().invoke(
        main,
        ["demo", "--hours", "3", "--report", str(tmp_path / "r.html"), "--journal", str(journal), "--format", "json"],
        catch_exceptions=False,
    )
    assert res.exit_code == 0
    audit = CliRunner().invoke(main, ["audit", "-j", str(journal), "verify"])
    assert audit.exit_code == 0 and audit.output.startswith("ok:")


def test_an_unwritable_report_path_still_prints_the_summary_first(tmp_path):
    target = tmp_path / "no" / "such" / "dir" / "r.html"
    res = CliRunner().invoke(
        main,
        [
            *ONE_DAY_OF_EMA_TREND,
            "--report",
            str(target),
        ],
    )
    assert res.exit_code == 1
    assert "net PnL" in res.output and "win rate" in res.output
    assert res.output.index("net PnL") < res.output.index("could not write the report")


def test_an_unwritable_report_path_still_prints_the_json_summary(tmp_path):
    target = tmp_path / "no" / "such" / "dir" / "r.html"
    res = CliRunner().invoke(
        main,
        [
            *ONE_DAY_OF_EMA_TREND,
            "--report",
            str(target),
            "--format",
            "json",
        ],
    )
    assert res.exit_code == 1
    doc = json.loads(res.stdout)
    assert "net_pnl" in doc and "report" not in doc
    assert "could not write the report" in res.stderr


def test_a_zero_negative_or_nonsense_balance_is_refused_before_anything_runs():
    rulebook = str(RULES / "ema-trend-btc.yaml")
    # 1e300 ran and lost every fee and PnL below its last digit (net PnL 0.00, unrealized +25.70 flat).
    for bad in ("0", "-5", "0.0", "nan", "inf", "-inf", "abc", "1e300", "1000000000001"):
        for cmd in (["backtest", rulebook, "--data", str(BTC_1M)], ["dry-run", rulebook, "--max-events", "1"]):
            res = CliRunner().invoke(main, [*cmd, "--balance", bad])
            assert res.exit_code == 2, (cmd[0], bad, res.output)
            assert "--balance" in res.output and "Traceback" not in res.output, res.output
            assert res.exception is None or isinstance(res.exception, SystemExit)


def test_the_library_refuses_a_wallet_of_nothing():
    import pytest

    from rulebot.backtest.runner import BacktestConfig

    for bad in (Decimal(0), Decimal(-1), Decimal("NaN")):
        with pytest.raises(ValueError, match="above zero"):
            BacktestConfig(balance=bad)
    with pytest.raises(ValueError, match="exact to the last digit"):
        BacktestConfig(balance=Decimal("1e300"))
    assert BacktestConfig(balance=Decimal(10) ** 12).balance == Decimal(10) ** 12  # the largest kept exact


FAILING_RULE = """\
rulebook: fails
market: usdm
symbols: [BTCUSDT]
timeframes: [1m]
rules:
  - name: divides-by-zero
    on: candle_close 1m
    in: flat
    when: close@1m / position.size > 1
    do: [{enter: {side: long, size: 1%}}, {goto: long}]
  - name: reads-nan
    on: candle_close 1m
    in: flat
    when: close@1m > entry_price
    do: [{enter: {side: long, size: 1%}}, {goto: long}]
  - name: exit
    on: candle_close 1m
    in: long
    when: "true"
    do: [exit, {goto: flat}]
"""


def test_rules_that_fail_at_run_time_are_counted_in_the_summary_not_silent(tmp_path):
    rulebook = tmp_path / "fails.yaml"
    rulebook.write_text(FAILING_RULE)
    journal = tmp_path / "bt.journal"
    args = ["backtest", str(rulebook), "--data", str(BTC_1M), "--from", "2025-06-07", "--to", "2025-06-07T01:00"]
    code, out = run(*args, "--journal", str(journal))
    assert code == 0, out
    assert "rule errors" in out and "divides-by-zero: 60" in out and "ZeroDivisionError" in out
    assert "reads-nan: 60" in out and "entry_price is NaN" in out
    assert "warning: 2 rule(s) failed 120 time(s)" in " ".join(out.split())
    doc = json.loads(CliRunner().invoke(main, [*args, "--format", "json"]).stdout)
    assert doc["rule_errors"]["divides-by-zero"]["count"] == 60
    assert doc["rule_errors"]["reads-nan"]["first_error"].endswith("entry_price is NaN (not a number)")
    res = CliRunner().invoke(main, ["audit", "-j", str(journal), "decisions", "--errors", "--format", "json"])
    rows = json.loads(res.stdout)
    assert len(rows) == 120 and {r["rule"] for r in rows} == {"divides-by-zero", "reads-nan"}
    assert all(r["error"] for r in rows)


def test_strict_makes_the_first_rule_error_fatal_with_exit_4(tmp_path):
    rulebook = tmp_path / "fails.yaml"
    rulebook.write_text(FAILING_RULE)
    journal = tmp_path / "bt.journal"
    code, out = run(
        "backtest",
        str(rulebook),
        "--data",
        str(BTC_1M),
        "--from",
        "2025-06-07",
        "--to",
        "2025-06-08",
        "--strict",
        "--journal",
        str(journal),
    )
    assert code == 4, out
    assert "rule 'divides-by-zero' failed on BTCUSDT at 2025-06-07 00:00 UTC: ZeroDivisionError" in out
    assert "Traceback" not in out
    audit = CliRunner().invoke(main, ["audit", "-j", str(journal), "verify"])
    assert audit.exit_code == 0, audit.output
    assert (
        run("demo", "--rulebook", str(rulebook), "--hours", "1", "--strict", "--report", str(tmp_path / "d.html"))[0]
        == 4
    )


def test_a_rulebook_without_rule_errors_says_none():
    # With the month's funding rates: a position held over a funding time without them is a warning.
    code, out = run(
        "backtest",
        str(RULES / "ema-trend-btc.yaml"),
        "--data",
        str(BTC_1M),
        "--data",
        str(BTC_FUNDING),
        "--from",
        "2025-06-07",
        "--to",
        "2025-06-08",
        "--strict",
    )
    assert code == 0 and "rule errors" in out and "warning" not in out


ETH_1M = DATA / "um/daily/klines/ETHUSDT/1m"
BTC_FUNDING = DATA / "um/monthly/fundingRate/BTCUSDT/BTCUSDT-fundingRate-2025-06.zip"
TWO_SYMBOLS = """\
rulebook: two
market: usdm
symbols: [BTCUSDT, ETHUSDT]
timeframes: [1m]
account: {leverage: 2}
indicators:
  fast: ema(close@1m, 5)
  slow: ema(close@1m, 20)
rules:
  - name: enter
    on: candle_close 1m
    in: flat
    when: crossover(fast, slow)
    do: [{enter: {side: long, size: "500 / close@1m"}}, {goto: long}]  # a size that ignores the other symbol
  - name: exit
    on: candle_close 1m
    in: long
    when: crossunder(fast, slow)
    do: [exit, {goto: flat}]
"""
_EXACT = (
    "trades",
    "open_trades",
    "wins",
    "losses",
    "net_pnl",
    "gross_realized_pnl",
    "fees",
    "funding_paid",
    "unrealized_pnl",
    "max_drawdown",
    "liquidations",
    "fills",
    "decisions",
)


def test_a_two_symbol_backtest_reports_each_symbol_and_totals_equal_to_the_singles(tmp_path):
    """BTCUSDT + ETHUSDT reported `symbol BTCUSDT` and fewer trades than either alone."""
    data = ["--data", str(BTC_1M), "--data", str(ETH_1M), "--data", str(BTC_FUNDING)]
    window = ["--from", "2025-06-08", "--to", "2025-06-10", "--format", "json"]
    docs = {}
    for name, symbols in (("both", "[BTCUSDT, ETHUSDT]"), ("BTCUSDT", "[BTCUSDT]"), ("ETHUSDT", "[ETHUSDT]")):
        book = tmp_path / f"{name}.yaml"
        book.write_text(TWO_SYMBOLS.replace("[BTCUSDT, ETHUSDT]", symbols))
        code, out = run("backtest", str(book), *data, *window)
        assert code == 0, out
        docs[name] = json.loads(out)
    both = docs["both"]
    assert both["symbols"] == ["BTCUSDT", "ETHUSDT"] and set(both["by_symbol"]) == {"BTCUSDT", "ETHUSDT"}
    for symbol in ("BTCUSDT", "ETHUSDT"):
        alone, inside = docs[symbol], both["by_symbol"][symbol]
        assert alone["trades"] > 20
        for key in _EXACT:
            assert Decimal(str(inside[key])) == Decimal(str(alone[key])), (symbol, key)
    for key in (
        "trades",
        "open_trades",
        "wins",
        "losses",
        "net_pnl",
        "gross_realized_pnl",
        "fees",
        "funding_paid",
        "unrealized_pnl",
        "fills",
        "decisions",
    ):
        assert Decimal(str(both[key])) == sum(Decimal(str(docs[s][key])) for s in ("BTCUSDT", "ETHUSDT")), key
    assert Decimal(both["funding_paid"]) != 0 and Decimal(both["by_symbol"]["ETHUSDT"]["funding_paid"]) == 0
    assert {t["symbol"] for t in both["trade_list"]} == {"BTCUSDT", "ETHUSDT"}
    report = tmp_path / "r.html"
    code, out = run(
        "backtest",
        str(tmp_path / "both.yaml"),
        *data,
        "--from",
        "2025-06-08",
        "--to",
        "2025-06-10",
        "--report",
        str(report),
    )
    assert code == 0, out
    flat = " ".join(out.split())
    assert "BTCUSDT, ETHUSDT" in flat and "by symbol" in flat and f"{both['trades']} closed" in flat
    html = report.read_text()
    assert "two · BTCUSDT, ETHUSDT" in html and "By symbol" in html
    assert "Price · BTCUSDT" in html and "Price · ETHUSDT" in html


def test_symbols_margined_in_different_coins_are_refused_not_summed(tmp_path):
    book = tmp_path / "coins.yaml"
    book.write_text(
        TWO_SYMBOLS.replace("usdm", "coinm")
        .replace("[BTCUSDT, ETHUSDT]", "[BTCUSD_PERP, ETHUSD_PERP]")
        .replace('"500 / close@1m"', "1")
    )
    # Each symbol needs its own brackets (none is built in for ETHUSD_PERP): the docs' COIN-M shape.
    one = json.loads((PAYLOADS / "rest_dapi_v2_leverageBracket.json").read_text())[0]
    brackets = tmp_path / "brackets.json"
    brackets.write_text(json.dumps([one, {**one, "symbol": "ETHUSD_PERP"}]))
    code, out = run("backtest", str(book), "--data", str(COIN_1M), "--brackets", str(brackets))
    assert code == 1 and "margined in BTC and ETH" in " ".join(out.split()) and "Traceback" not in out


def test_backtest_says_which_path_ran_and_why():
    code, out = run("backtest", str(RULES / "ema-trend-btc.yaml"), "--data", str(BTC_1M), "--format", "json")
    assert code == 0
    doc = json.loads(out[out.index("{") :])
    assert doc["path"] == "fast"
    assert "candles jumped" in doc["path_reason"]
    code, out = run("backtest", str(RULES / "ema-trend-btc.yaml"), "--data", str(BTC_1M), "--path", "event")
    assert code == 0
    assert "asked for (--path event)" in out


def test_forcing_the_fast_path_on_coin_m_is_a_user_error_that_says_why():
    code, out = run("backtest", str(RULES / "funding-aware-btc-coinm.yaml"), "--data", str(COIN_1M), "--path", "fast")
    assert code == 1
    assert "inverse" in out and "--path auto" in out
    assert "Traceback" not in out


def _small_disk() -> None:  # in the child: writes past 200 KB fail as on a full disk
    import resource

    resource.setrlimit(resource.RLIMIT_FSIZE, (200 * 1024, 200 * 1024))


def test_a_backtest_journal_on_a_full_disk_is_exit_5_with_the_reason_not_a_bug(tmp_path):
    # It was exit 70, "internal error in rulebot: JournalWriteError ... this is a bug".
    import os
    import subprocess
    import sys

    book = tmp_path / "churn.yaml"
    book.write_text(
        "rulebook: churn\nmarket: usdm\nsymbols: [BTCUSDT]\ntimeframes: [1m]\nrules:\n"
        "  - name: in\n    on: candle_close 1m\n    in: flat\n"
        "    do: [{enter: {side: long, size: 2%}}, {stop_loss: {distance: 2%}}, {goto: long}]\n"
        "  - name: out\n    on: candle_close 1m\n    in: long\n    do: [exit, {goto: flat}]\n"
    )
    args = [
        sys.executable,
        "-m",
        "rulebot.cli",
        "backtest",
        str(book),
        "--data",
        str(BTC_1M),
        "--journal",
        str(tmp_path / "bt.journal"),
    ]
    env = {**os.environ, "PYTHONPATH": str(ROOT), "RULEBOT_DEBUG": ""}
    run = subprocess.run(args, capture_output=True, text=True, env=env, timeout=300, preexec_fn=_small_disk)
    assert run.returncode == 5, run.stderr[-2000:]
    assert "cannot be written" in run.stderr and "is the disk full?" in run.stderr
    assert "internal error" not in run.stderr and "Traceback" not in run.stderr


def test_no_output_is_written_over_an_input_or_another_output(tmp_path):
    """`--report rules.yaml` wrote the HTML over the user's rulebook, and `--report j --journal j`
    over the journal, exit 0; now a usage error before anything runs, the files untouched."""
    book = tmp_path / "ema.yaml"
    book.write_text((RULES / "ema-trend-btc.yaml").read_text())
    day = tmp_path / "data"
    day.mkdir()
    archive = day / "BTCUSDT-1m-2025-06-07.zip"
    archive.write_bytes((BTC_1M / archive.name).read_bytes())
    base = ["backtest", str(book), "--data", str(day)]
    for extra, says in (
        (["--report", str(book)], "is an input of this command"),
        (["--journal", str(book)], "is an input of this command"),
        (["--report", str(archive)], "is an archive file under --data"),
        (["--report", str(tmp_path / "x"), "--journal", str(tmp_path / "x")], "is also the --journal file"),
    ):
        code, out = run(*base, *extra)
        assert code == 2 and says in out, (extra, out)
    assert book.read_text() == (RULES / "ema-trend-btc.yaml").read_text()
    assert archive.read_bytes() == (BTC_1M / archive.name).read_bytes() and not (tmp_path / "x").exists()
    code, out = run("demo", "--rulebook", str(book), "--report", str(book), "--hours", "1")
    assert code == 2 and "is an input of this command" in out
    assert book.read_text() == (RULES / "ema-trend-btc.yaml").read_text()


def test_demo_of_a_rulebook_that_cannot_run_prints_its_errors_under_no_banner(tmp_path):
    # The "simulated calm market, seed 7, 72h" banner came first, as though the demo were running.
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        (RULES / "ema-trend-btc.yaml").read_text().replace("when: ema_fast > ema_slow", "when: ema_fsat > ema_slow", 1)
    )
    unknown = tmp_path / "unknown.yaml"
    unknown.write_text((RULES / "ema-trend-btc.yaml").read_text().replace("BTCUSDT", "NOSUCHUSDT"))
    for rulebook, error in ((bad, "unknown name 'ema_fsat'"), (unknown, "NOSUCHUSDT")):
        res = CliRunner().invoke(main, ["demo", "--rulebook", str(rulebook), "--report", str(tmp_path / "d.html")])
        assert res.exit_code == 1 and error in res.output, res.output
        assert "simulated" not in res.stdout and not (tmp_path / "d.html").exists()
    code, out = run("demo", "--hours", "1", "--report", str(tmp_path / "d.html"))
    assert code == 0 and out.startswith("simulated calm market, seed 7, 1h")


def _renamed_day(tmp_path: Path, symbol: str) -> tuple[Path, Path]:
    """The EMA rulebook and one real BTCUSDT day, both renamed to `symbol`."""
    import zipfile

    book = tmp_path / f"{symbol.lower()}.yaml"
    book.write_text((RULES / "ema-trend-btc.yaml").read_text().replace("BTCUSDT", symbol))
    day = BTC_1M / "BTCUSDT-1m-2025-06-07.zip"
    renamed = tmp_path / f"{symbol}-1m-2025-06-07.zip"
    with zipfile.ZipFile(day) as src, zipfile.ZipFile(renamed, "w") as dst:
        dst.writestr(f"{symbol}-1m-2025-06-07.csv", src.read("BTCUSDT-1m-2025-06-07.csv"))
    return book, renamed


def test_a_symbol_binance_never_listed_is_said_at_its_line_as_validate_says_it(tmp_path):
    # Neither the catalog nor the 349-symbol brackets snapshot knows FOOUSDT: a typo, not a
    # missing brackets file, whether or not there is data named like it.
    book, renamed = _renamed_day(tmp_path, "FOOUSDT")
    for data in (renamed, BTC_1M / "BTCUSDT-1m-2025-06-07.zip"):
        code, out = run("backtest", str(book), "--data", str(data))
        assert code == 1, out
        assert f"{book}:21:11: error: unknown usdm symbol 'FOOUSDT'" in out
        assert "leverage brackets" in " ".join(out.split()) and "no archive files" not in out


def test_a_listed_symbol_outside_the_catalog_still_runs_on_its_inferred_grid(tmp_path):
    book, renamed = _renamed_day(tmp_path, "XRPUSDT")  # in the brackets snapshot, not in the catalog
    code, out = run("backtest", str(book), "--data", str(renamed))
    assert code == 0, out
    assert "XRPUSDT is not in the built-in catalog" in " ".join(out.split())


def test_a_range_outside_the_data_says_what_the_data_covers():
    # The files are there: "no archive files" alone would send the user looking for them.
    rulebook = str(RULES / "ema-trend-btc.yaml")
    for window, asked in (
        (["--from", "2030-01-01"], "from 2030-01-01 00:00"),
        (["--to", "2020-01-01"], "before 2020-01-01 00:00"),
        (["--from", "2025-06-16", "--to", "2025-06-20"], "from 2025-06-16 00:00 to 2025-06-20 00:00"),
    ):
        code, out = run("backtest", rulebook, "--data", str(BTC_1M), *window)
        text = " ".join(out.split())
        assert code == 1, out
        assert f"no data for BTCUSDT {asked} UTC" in text, text
        assert "the files for it cover 2025-06-07 00:00 to 2025-06-16 00:00" in text


def test_files_with_no_rows_are_said_to_be_empty_not_outside_a_range_nobody_gave(tmp_path):
    (tmp_path / "BTCUSDT-1m-2025-06-07.csv").write_text("")
    code, out = run("backtest", str(RULES / "ema-trend-btc.yaml"), "--data", str(tmp_path))
    assert code == 1, out
    assert "hold no events (are they empty?)" in " ".join(out.split()) and "requested time range" not in out


def test_a_bad_set_names_the_rulebook_file_it_was_held_to():
    # A --set error has no line in the file; the summary line still says which file it checked.
    rulebook = str(RULES / "ema-trend-btc.yaml")
    for wrong in ("nope=3", "fast=abc"):
        code, out = run("backtest", rulebook, "--data", str(BTC_1M), "--set", wrong)
        assert code == 1, out
        assert f"{rulebook}: invalid — 1 error; nothing was run" in out and "rulebook: invalid" not in out


def test_json_output_keeps_errors_on_stderr_and_stdout_empty(tmp_path):
    # docs/errors.md: a script reading the JSON sees nothing on stdout and the exit code.
    bad_data = tmp_path / "BTCUSDT-1m-2025-06-07.zip"
    bad_data.write_bytes(b"not a zip")
    bad_book = tmp_path / "bad.yaml"
    bad_book.write_text("rulebook: bad\nmarket: usdm\nsymbols: [BTCUSDT]\nrules: []\nfoo: 1\n")
    rulebook = str(RULES / "ema-trend-btc.yaml")
    for args in (
        [rulebook, "--data", str(bad_data)],
        [str(bad_book), "--data", str(BTC_1M)],
        [rulebook, "--data", str(BTC_1M), "--set", "nope=1"],
        [rulebook, "--data", str(BTC_1M), "--from", "2030-01-01"],
    ):
        res = CliRunner().invoke(main, ["backtest", *args, "--format", "json"])
        assert res.exit_code == 1, res.output
        assert res.stdout == "" and "error" in res.stderr


def test_a_journal_that_is_not_one_gets_a_backtests_advice_not_a_bots(tmp_path):
    # A backtest has no --run-dir and no exchange to take positions from.
    bad = tmp_path / "bt.journal"
    bad.write_text("not a database, a note\n" * 100)
    code, out = run(*ONE_DAY_OF_EMA_TREND, "--journal", str(bad))
    text = " ".join(out.split())
    assert code == 1, out
    assert f"cannot journal to {bad}" in text and "give --journal another file" in text
    assert "--run-dir" not in text and "exchange" not in text


METRICS_SKIP = "metrics files hold open interest and long/short ratios, not market events"


def test_a_skipped_file_is_said_once_even_when_the_range_is_looked_at_again(caplog):
    metrics = DATA / "um/daily/metrics/BTCUSDT/BTCUSDT-metrics-2024-01-01.zip"
    for window in ([], ["--from", "2024-01-01"]):
        caplog.clear()
        res = CliRunner().invoke(main, [*ONE_DAY_OF_EMA_TREND[:2], "--data", str(metrics), *window])
        assert res.exit_code == 1, res.output
        assert [r.getMessage() for r in caplog.records].count(f"replay skips {metrics}: " + METRICS_SKIP) == 1


def test_a_range_wider_than_the_data_is_noted_not_silently_shortened():
    rulebook = str(RULES / "ema-trend-btc.yaml")
    code, out = run("backtest", rulebook, "--data", str(BTC_1M), "--from", "2025-06-01", "--to", "2025-06-20")
    text = " ".join(out.split())
    assert code == 0, out
    assert "note: the data starts 2025-06-07 00:00, 6d after --from 2025-06-01 00:00" in text
    assert "note: the data ends 2025-06-16 00:00, 4d before --to 2025-06-20 00:00" in text
    code, out = run(*ONE_DAY_OF_EMA_TREND)  # inside the data: nothing to note
    assert code == 0 and "note: the data" not in out


def test_the_rulebooks_own_warnings_are_in_the_summary_a_clamped_leverage_above_all(tmp_path):
    # validate warns that 20x is clamped to 10x; a backtest that ran at 10x must say so too.
    loose = tmp_path / "loose.yaml"
    loose.write_text(
        (RULES / "ema-trend-btc.yaml")
        .read_text()
        .replace("max_leverage: 5", "max_leverage: 20")
        .replace("leverage: 5 ", "leverage: 20 ")
    )
    code, out = run("backtest", str(loose), "--data", str(BTC_1M / "BTCUSDT-1m-2025-06-07.zip"), "--format", "json")
    assert code == 0, out
    warnings = json.loads(out[out.index("{") :])["warnings"]
    assert f"{loose}:26:13: account.leverage 20x is above max_leverage 10x; clamped to 10x (max_leverage guard)" in (
        warnings
    ), warnings


def test_the_notes_of_the_text_summary_are_in_the_json_too(tmp_path):
    # A script reads the JSON: an inferred tick and step, or a period shorter than asked, are for it too.
    book, renamed = _renamed_day(tmp_path, "XRPUSDT")
    code, out = run("backtest", str(book), "--data", str(renamed), "--from", "2025-06-01", "--format", "json")
    assert code == 0, out
    notes = json.loads(out[out.index("{") :])["notes"]
    assert any("XRPUSDT is not in the built-in catalog" in n for n in notes), notes
    assert any(n.startswith("the data starts 2025-06-07 00:00, 6d after --from") for n in notes), notes


def test_an_unknown_symbol_with_an_exchange_info_given_asks_only_for_what_is_missing(tmp_path):
    book, renamed = _renamed_day(tmp_path, "FOOUSDT")
    info = tmp_path / "info.json"
    info.write_text(json.dumps({"symbols": []}))
    code, out = run("backtest", str(book), "--data", str(renamed), "--exchange-info", str(info))
    text = " ".join(out.split())
    assert code == 1, out
    assert (
        f"not in {info} nor in the built-in leverage brackets; for a symbol Binance lists, pass --brackets FILE" in text
    )


def test_a_file_named_unlike_the_archive_is_told_to_be_renamed_not_to_pass_library_arguments(tmp_path):
    # `kind=` and `symbol=` are ReplaySource's arguments: no option of the command line takes them.
    mine = tmp_path / "mydata.zip"
    mine.write_bytes((BTC_1M / "BTCUSDT-1m-2025-06-07.zip").read_bytes())
    code, out = run("backtest", str(RULES / "ema-trend-btc.yaml"), "--data", str(mine))
    text = " ".join(out.split())
    assert code == 1, out
    assert "cannot tell what this file holds from its name" in text and "rename it" in text
    assert "pass kind= and symbol=" not in text


def test_demo_of_an_unknown_symbol_says_so_at_its_line_as_backtest_does(tmp_path):
    book, _ = _renamed_day(tmp_path, "FOOUSDT")
    res = CliRunner().invoke(main, ["demo", "--rulebook", str(book), "--report", str(tmp_path / "d.html")])
    assert res.exit_code == 1, res.output
    assert (
        f"{book}:21:11: error: unknown usdm symbol 'FOOUSDT'" in res.output
        and "leverage brackets for" not in res.output
    )


def test_demo_of_a_listed_symbol_it_cannot_simulate_says_which_it_can_and_what_instead(tmp_path):
    book, _ = _renamed_day(tmp_path, "XRPUSDT")  # valid (Binance lists it), not simulated
    res = CliRunner().invoke(main, ["demo", "--rulebook", str(book), "--report", str(tmp_path / "d.html")])
    text = " ".join(res.output.split())
    assert res.exit_code == 1, res.output
    assert "the simulated market has no spec for XRPUSDT" in text and "it simulates ADAUSDT, BTCUSDT" in text
    assert "rulebot backtest" in text


CM_1M = DATA / "cm/daily/klines/BTCUSD_PERP/1m/BTCUSD_PERP-1m-2022-12-13.zip"
HOLD_100_CONTRACTS = """\
rulebook: hold-delivery
market: coinm
symbols: [SYMBOL]
account: {leverage: 2}
timeframes: [1m]
rules:
  - name: go
    on: candle_close 1m
    in: flat
    do: [{enter: {side: long, size: 100}}, {stop_loss: {distance: 20%}}, {goto: long}]
  - name: never
    on: candle_close 1m
    in: long
    when: close@1m > 1000000
    do: [exit]
"""


def _coinm_day(tmp_path: Path, symbol: str) -> tuple[Path, Path, Path]:
    """A COIN-M rulebook holding 100 contracts, the real BTCUSD_PERP day renamed to `symbol`, and a
    leverageBracket file (GET /dapi/v2/leverageBracket's shape) that lists `symbol`."""
    import zipfile

    book = tmp_path / "book.yaml"
    book.write_text(HOLD_100_CONTRACTS.replace("SYMBOL", symbol))
    renamed = tmp_path / f"{symbol}-1m-2022-12-13.zip"
    with zipfile.ZipFile(CM_1M) as src, zipfile.ZipFile(renamed, "w") as dst:
        dst.writestr(f"{symbol}-1m-2022-12-13.csv", src.read("BTCUSD_PERP-1m-2022-12-13.csv"))
    rows = [(125, 0, 5, 0.004, 0), (100, 5, 10, 0.005, 0.005), (50, 10, 1000, 0.01, 0.055)]
    brackets = [
        {
            "symbol": symbol,
            "brackets": [
                {
                    "bracket": i + 1,
                    "initialLeverage": lev,
                    "qtyFloor": lo,
                    "qtyCap": hi,
                    "maintMarginRatio": m,
                    "cum": c,
                }
                for i, (lev, lo, hi, m, c) in enumerate(rows)
            ],
        }
    ]
    brackets_file = tmp_path / "brackets.json"
    brackets_file.write_text(json.dumps(brackets))
    return book, renamed, brackets_file


def test_a_btcusd_delivery_contract_outside_the_catalog_is_worth_100_usd_a_contract(tmp_path):
    # BTCUSD_251226 is not in the catalog: its spec was made with 10 USD a contract (most COIN-M
    # pairs' size), but every BTCUSD contract, perpetual or delivery, is 100 USD. Fees, PnL and
    # margin came out ten times too small, and the summary never said a size was assumed.
    import sqlite3

    book, data, brackets = _coinm_day(tmp_path, "BTCUSD_251226")
    journal = tmp_path / "j.sqlite"
    code, out = run(
        "backtest", str(book), "--data", str(data), "--brackets", str(brackets), "--fill-model", "ideal",
        "--journal", str(journal),
    )  # fmt: skip
    assert code == 0, out
    assert "contract size 100 USD" in " ".join(out.split())
    db = sqlite3.connect(journal)
    ((qty, price, fee),) = db.execute("SELECT quantity, price, fee FROM fills").fetchall()
    assert (qty, price) == ("100", "17207.6")
    # 100 contracts x 100 USD / 17,207.6 x 0.05% taker = 0.00029057 BTC
    assert Decimal(fee) == Decimal("0.00029057")


def test_a_delivery_contract_held_across_funding_times_is_not_said_to_miss_funding(tmp_path):
    # A delivery contract pays no funding, yet the summary warned "a position was held across 2
    # funding time(s) but the data has no funding rate for them ... add BTCUSD_251226's fundingRate
    # files": files that do not exist, for money that is never owed.
    book, data, brackets = _coinm_day(tmp_path, "BTCUSD_251226")
    code, out = run("backtest", str(book), "--data", str(data), "--brackets", str(brackets), "--format", "json")
    assert code == 0, out
    doc = json.loads(out)
    text = json.dumps(doc)
    assert "fundingRate files" not in text and "held across" not in text
    assert "a delivery contract pays no funding" in text
    # The perpetual held the same way is still told what it misses.
    book, data, brackets = _coinm_day(tmp_path, "BTCUSD_PERP")
    code, out = run("backtest", str(book), "--data", str(data), "--brackets", str(brackets), "--format", "json")
    assert code == 0, out
    assert "add BTCUSD_PERP's fundingRate files" in out
