"""`rulebot validate`: exit codes, compiler-style text, JSON, and --explain."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from rulebot.cli import main

ROOT = Path(__file__).resolve().parents[2]
RULES = sorted(str(p) for p in (ROOT / "rules").glob("*.yaml"))
INVALID = ROOT / "tests" / "rulebook" / "invalid"


def run(*args: str):
    return CliRunner().invoke(main, list(args))


def test_all_ready_rulebooks_are_valid():
    result = run("validate", *RULES)
    assert result.exit_code == 0, result.output
    assert result.output.count(": valid") == len(RULES) >= 4


def test_invalid_file_exits_1_with_a_clickable_caret_error():
    path = str(INVALID / "unknown_name.yaml")
    result = run("validate", path)
    assert result.exit_code == 1
    lines = result.output.splitlines()
    i = lines.index(f"{path}:12:21: error: unknown name 'ema_fsat'")
    assert lines[i + 1] == "   12 |     when: crossover(ema_fsat, ema_slow)"
    assert lines[i + 2] == "      |                     ^^^^^^^^"
    assert lines[i + 3].startswith("   did you mean 'ema_fast'?")


def test_one_invalid_file_among_valid_ones_fails_the_run_but_reports_all():
    result = run("validate", RULES[0], str(INVALID / "several_errors.yaml"))
    assert result.exit_code == 1
    assert ": valid" in result.output and "invalid — 3 errors" in result.output


def test_json_format_lists_errors_with_positions():
    result = run("validate", "--format", "json", str(INVALID / "several_errors.yaml"))
    assert result.exit_code == 1
    doc = json.loads(result.output)
    assert doc["valid"] is False
    errors = doc["files"][0]["errors"]
    assert [(e["line"], e["column"], e["code"]) for e in errors] == [
        (11, 11, "unknown-name"),
        (15, 19, "unknown-name"),
        (19, 9, "unknown-state"),
    ]


def test_explain_shows_machine_indicators_and_guards_with_their_source():
    result = run("validate", "--explain", str(ROOT / "rules" / "ema-trend-btc.yaml"))
    assert result.exit_code == 0
    out = result.output
    for heading in ("States", "Transitions", "Dispatch", "Indicators", "Effective guards"):
        assert heading in out
    assert "armed" in out and "2h → flat" in out
    assert "enter-long" in out and "270 × 1m" in out  # noqa: RUF001
    guard_lines = {line.split("│")[1].strip(): line for line in out.splitlines() if line.count("│") >= 4}
    assert "rulebook" in guard_lines["max_leverage"] and "5" in guard_lines["max_leverage"]
    assert "engine default" in guard_lines["stale_after"]


def test_explain_says_the_history_each_indicator_and_look_back_needs_and_who_reads_it():
    out = run("validate", "--explain", str(ROOT / "rules" / "volatility-breakout-btc.yaml")).output
    assert "24 × 1h = 1d" in out and "25 × 1h = 1d 1h" in out  # noqa: RUF001 (range_high, range_high[1])
    assert "Look-backs" in out and "breakout-long" in out
    trend = run("validate", "--explain", "--format", "json", str(ROOT / "rules" / "ema-trend-btc.yaml"))
    history = {h["name"]: h for h in json.loads(trend.output)["files"][0]["explain"]["history"]}
    slow = history["ema_slow"]
    assert (slow["candles"], slow["ms"], slow["rules"]) == (55, 55 * 900_000, ["arm-long", "exit-on-cross"])
    assert slow["text"] == "55 × 15m = 13h 45m"  # noqa: RUF001


def test_explain_json_carries_the_same_data():
    result = run("validate", "--explain", "--format", "json", str(ROOT / "rules" / "rsi-reversion-eth.yaml"))
    data = json.loads(result.output)["files"][0]["explain"]
    assert {s["name"] for s in data["states"]} == {"flat", "long", "short"}
    guards = {g["guard"]: g for g in data["guards"]}
    assert guards["min_liquidation_distance"]["value"] == "10%"
    assert guards["daily_loss_cap_amount"]["value"] == "150 USDT"


def test_set_overrides_and_strict_warnings(tmp_path):
    assert run("validate", "--set", "fast=13", str(ROOT / "rules" / "ema-trend-btc.yaml")).exit_code == 0
    assert run("validate", "--set", "nope=1", str(ROOT / "rules" / "ema-trend-btc.yaml")).exit_code == 1
    assert run("validate", "--set", "fast", str(ROOT / "rules" / "ema-trend-btc.yaml")).exit_code == 2
    twice = run("validate", "--set", "fast=5", "--set", "fast=7", str(ROOT / "rules" / "ema-trend-btc.yaml"))
    assert twice.exit_code == 2 and "fast is set twice ('5' and '7')" in twice.output  # the last one won, silently
    loose = tmp_path / "loose.yaml"
    loose.write_text((ROOT / "rules" / "ema-trend-btc.yaml").read_text().replace("max_leverage: 5", "max_leverage: 20"))
    assert run("validate", str(loose)).exit_code == 0
    assert run("validate", "--strict", str(loose)).exit_code == 1


def test_missing_file_is_a_usage_error_free_report():
    result = run("validate", "does-not-exist.yaml")
    assert result.exit_code == 1
    assert "cannot read file" in result.output


SYMBOLS_BOOK = """\
rulebook: t
market: usdm
symbols: [FOOUSDT, ETHUSDT]
timeframes: [1m]
rules:
  - name: r
    on: candle_close 1m
    do: [{log: x}]
"""


def test_a_symbol_the_catalog_does_not_list_is_an_error_with_a_guess(tmp_path):
    from click.testing import CliRunner

    from rulebot.cli import main

    f = tmp_path / "b.yaml"
    f.write_text(SYMBOLS_BOOK.replace("FOOUSDT", "BTCCUSDT"))
    res = CliRunner().invoke(main, ["validate", "--format", "json", str(f)])
    assert res.exit_code == 1
    (err,) = json.loads(res.stdout)["files"][0]["errors"]
    assert err["code"] == "unknown-symbol" and "'BTCCUSDT'" in err["message"]
    assert "did you mean 'BTCUSDT'?" in err["hint"]
    f.write_text(SYMBOLS_BOOK)
    res = CliRunner().invoke(main, ["validate", str(f)])
    assert res.exit_code == 1 and "unknown usdm symbol 'FOOUSDT'" in res.output


def test_a_saved_exchange_info_replaces_the_catalog_for_symbols(tmp_path):
    from click.testing import CliRunner

    from rulebot.cli import main

    f = tmp_path / "b.yaml"
    f.write_text(SYMBOLS_BOOK)
    info = tmp_path / "info.json"
    info.write_text(json.dumps({"symbols": [{"symbol": "FOOUSDT"}, {"symbol": "ETHUSDT"}]}))
    assert CliRunner().invoke(main, ["validate", "--exchange-info", str(info), str(f)]).exit_code == 0
    info.write_text("{")
    res = CliRunner().invoke(main, ["validate", "--exchange-info", str(info), str(f)])
    assert res.exit_code == 1 and "not a Binance exchangeInfo file" in res.output


def test_a_symbol_of_the_brackets_snapshot_is_valid_as_backtest_runs_it(tmp_path):
    # XRPUSDT is not in the six-symbol catalog but Binance listed it (the 2024-10-24 brackets
    # snapshot); backtest runs it on an inferred grid, so validate must not call it unknown.
    f = tmp_path / "b.yaml"
    f.write_text(SYMBOLS_BOOK.replace("FOOUSDT", "XRPUSDT"))
    res = run("validate", str(f))
    assert res.exit_code == 0, res.output
    f.write_text(SYMBOLS_BOOK)
    res = run("validate", str(f))
    text = " ".join(res.output.split())
    assert res.exit_code == 1 and "unknown usdm symbol 'FOOUSDT'" in text
    assert "1000BONKUSDC" not in text  # 350 names are no hint; the guess is


def test_set_and_exchange_info_of_the_wrong_form_are_usage_errors(tmp_path):
    rulebook = str(ROOT / "rules" / "ema-trend-btc.yaml")
    res = run("validate", "--set", "=3", rulebook)
    assert res.exit_code == 2 and "expected name=value" in res.output
    res = run("validate", "--exchange-info", str(tmp_path / "nope.json"), rulebook)
    assert res.exit_code == 2 and "does not exist" in res.output  # as backtest's --exchange-info says it


def test_a_dash_reads_the_rulebook_from_stdin_and_names_it_stdin_in_errors():
    path = INVALID / "unknown_name.yaml"
    result = CliRunner().invoke(main, ["validate", "-"], input=path.read_bytes())
    assert result.exit_code == 1
    lines = result.output.splitlines()
    i = lines.index("<stdin>:12:21: error: unknown name 'ema_fsat'")
    assert lines[i + 1] == "   12 |     when: crossover(ema_fsat, ema_slow)"
    assert "<stdin>: invalid — 1 error" in result.output


def test_a_valid_rulebook_on_stdin_is_valid():
    result = CliRunner().invoke(main, ["validate", "-", "--format", "json"], input=Path(RULES[0]).read_bytes())
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["files"][0]["file"] == "<stdin>"


def test_stdin_that_is_not_utf8_is_reported_not_raised():
    result = CliRunner().invoke(main, ["validate", "-"], input=b"rulebook: \xff\n")
    assert result.exit_code == 1
    assert "<stdin>:1:1: error: file is not UTF-8 text" in result.output


def test_stdin_can_be_read_once_only():
    result = CliRunner().invoke(main, ["validate", "-", "-"], input=Path(RULES[0]).read_bytes())
    assert result.exit_code == 2
    assert "'-' (stdin) may be given once" in result.output
