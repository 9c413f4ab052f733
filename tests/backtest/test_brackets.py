"""Brackets come from a real source per symbol: the shipped 2024-10-24 snapshot, `--brackets FILE`,
or the account; a symbol without any is an error that says how to provide them, never a loan of
BTCUSDT's table."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest
from click.testing import CliRunner

from rulebot.backtest.api import BacktestError, load_brackets
from rulebot.binance.payloads.account import brackets_from_payload
from rulebot.cli import main
from rulebot.core.enums import MarginType, Market
from rulebot.core.margin import Position, liquidation_price
from rulebot.feeds.catalog import builtin_brackets, builtin_instruments
from rulebot.rulebook.compiler import compile_file
from rulebot.testing.shared import ARCHIVE, PAYLOADS, SHARED, require

ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "rules"
SNAPSHOT = SHARED / "binance" / "brackets" / "fapi_v1_leverageBracket-2024-10-24.json"
ADA_1M = ARCHIVE / "futures/um/daily/klines/ADAUSDT/1m"
COIN_1M = ARCHIVE / "futures/cm/daily/klines/BTCUSD_PERP/1m"


def _shared_snapshot() -> list[dict]:
    return json.loads(require(SNAPSHOT).read_text(encoding="utf-8"))


def _book_for(tmp_path: Path, symbol: str, market: str = "usdm") -> Path:
    text = (RULES / "rsi-reversion-eth.yaml").read_text().replace("symbols: [ETHUSDT]", f"symbols: [{symbol}]")
    path = tmp_path / f"{symbol}.yaml"
    path.write_text(text)
    return path


def test_the_built_in_brackets_are_the_shared_snapshot_symbol_by_symbol():
    shipped = builtin_brackets(Market.USDM)
    assert shipped == brackets_from_payload(_shared_snapshot(), Market.USDM)
    assert len(shipped) == 349


def test_ethusdt_has_its_own_brackets_not_btcusdts():
    # brackets/README.md: BTC and ETH share tiers 1-4 (0.4% to 50k ...) and part at tier 5:
    # BTC 2% to 70M, ETH 2% to 50M.
    eth, btc = builtin_brackets(Market.USDM)["ETHUSDT"], builtin_brackets(Market.USDM)["BTCUSDT"]
    assert eth.brackets[0].maint_margin_ratio == Decimal("0.004") and eth.brackets[0].notional_cap == 50_000
    assert eth.brackets[4].notional_cap == 50_000_000 and btc.brackets[4].notional_cap == 70_000_000
    assert eth != btc


def test_an_alt_coin_liquidation_price_differs_from_the_borrowed_btc_one():
    # SOLUSDT starts at 0.5% to 20k (README), BTCUSDT at 0.4% to 50k. 100 SOL long at 150,
    # isolated, 10x (wallet 1,500): LP = (WB - Q*EP) / (Q*MMR - Q)  [MARGIN.md §3]
    #   own:      (1500 - 15000) / (100*0.005 - 100) = 13500/99.5 = 135.6783...
    #   borrowed: (1500 - 15000) / (100*0.004 - 100) = 13500/99.6 = 135.5421...
    tables = builtin_brackets(Market.USDM)
    inst = builtin_instruments(Market.USDM)["SOLUSDT"]
    pos = [Position(Decimal(100), Decimal(150))]

    def lp(table):
        return liquidation_price(inst, table, pos, Decimal(1500), margin_type=MarginType.ISOLATED)

    own, borrowed = lp(tables["SOLUSDT"]), lp(tables["BTCUSDT"])
    assert own.quantize(Decimal("0.0001")) == Decimal("135.6784")
    assert borrowed.quantize(Decimal("0.0001")) == Decimal("135.5422")
    assert own > borrowed  # the borrowed table let the long survive lower: too lenient


def test_a_symbol_the_snapshot_lacks_is_an_error_that_says_how_to_provide_brackets(tmp_path):
    book = compile_file(str(_book_for(tmp_path, "FOOBARUSDT")))
    with pytest.raises(BacktestError, match=r"FOOBARUSDT.*--brackets FILE"):
        load_brackets(book)


def test_xrpusdt_can_be_backtested_now_with_its_own_brackets(tmp_path):
    book = compile_file(str(_book_for(tmp_path, "XRPUSDT")))
    tables, note = load_brackets(book)
    assert tables["XRPUSDT"].brackets[0].maint_margin_ratio == Decimal("0.005")
    assert tables["XRPUSDT"].brackets[0].notional_cap == 10_000
    assert "2024-10-24" in note


def _run(*args: str) -> tuple[int, str]:
    res = CliRunner().invoke(main, list(args))
    assert res.exception is None or isinstance(res.exception, SystemExit), res.exception
    return res.exit_code, res.output


def test_backtest_with_a_brackets_file_lacking_the_symbol_exits_1_saying_how(tmp_path):
    # The shared real BTCUSDT-only response: ADAUSDT is not in it and must not borrow BTC's.
    book = _book_for(tmp_path, "ADAUSDT")
    code, out = _run(
        "backtest", str(book), "--data", str(ADA_1M), "--brackets", str(PAYLOADS / "rest_fapi_v1_leverageBracket.json")
    )
    assert code == 1, out
    assert "ADAUSDT" in out and "--brackets" in out and "Traceback" not in out


def test_backtest_reads_a_saved_leverage_bracket_file_and_names_it(tmp_path):
    ada = [e for e in _shared_snapshot() if e["symbol"] == "ADAUSDT"]
    ada[0]["brackets"][0]["maintMarginRatio"] = 0.5  # a table no built-in has: it must be the one used
    saved = tmp_path / "brackets.json"
    saved.write_text(json.dumps(ada))
    book = _book_for(tmp_path, "ADAUSDT")
    tables, note = load_brackets(compile_file(str(book)), str(saved))
    assert tables["ADAUSDT"].brackets[0].maint_margin_ratio == Decimal("0.5") and str(saved) in note
    code, out = _run(
        "backtest",
        str(book),
        "--data",
        str(ADA_1M),
        "--brackets",
        str(saved),
    )
    assert code == 0, out
    assert "brackets file" in out.replace("\n", "")


@pytest.mark.parametrize("content", ["{not json", '{"symbol": "ADAUSDT", "brackets": [{"bracket": 1}]}', "[]", '"x"'])
def test_a_broken_brackets_file_exits_1_without_a_traceback(tmp_path, content):
    saved = tmp_path / "b.json"
    saved.write_text(content)
    code, out = _run("backtest", str(_book_for(tmp_path, "ADAUSDT")), "--data", str(ADA_1M), "--brackets", str(saved))
    assert code == 1, out
    assert "Traceback" not in out


def test_coin_m_brackets_file_in_the_dapi_v2_shape_is_read(tmp_path):
    book = compile_file(str(RULES / "funding-aware-btc-coinm.yaml"))
    tables, _ = load_brackets(book, str(PAYLOADS / "rest_dapi_v2_leverageBracket.json"))
    table = tables["BTCUSD_PERP"]
    assert table.brackets[0].notional_cap == 50 and table.notional_coef == Decimal("1.5")


def test_coin_m_ethusd_perp_does_not_borrow_btcusd_perps_brackets(tmp_path):
    text = (
        (RULES / "funding-aware-btc-coinm.yaml").read_text().replace("BTCUSD_PERP", "ETHUSD_PERP").replace("BTC", "ETH")
    )
    path = tmp_path / "eth.yaml"
    path.write_text(text)
    with pytest.raises(BacktestError, match=r"ETHUSD_PERP.*--brackets"):
        load_brackets(compile_file(str(path)))


@pytest.mark.parametrize(
    ("bracket", "says"),
    [
        ('"notionalCap": "abc", "cum": 0', "notionalCap is not a finite number: 'abc'"),  # was ConversionSyntax
        ('"notionalCap": "NaN", "cum": 0', "notionalCap is not a finite number: 'NaN'"),  # was accepted
        ('"notionalCap": 5000, "cum": "Infinity"', "cum is not a finite number: 'Infinity'"),
    ],
)
def test_a_broken_value_in_a_brackets_file_is_named(tmp_path, bracket, says):
    base = '"bracket": 1, "initialLeverage": 75, "notionalFloor": 0, "maintMarginRatio": 0.005'
    saved = tmp_path / "b.json"
    saved.write_text('[{"symbol": "ADAUSDT", "brackets": [{' + base + ", " + bracket + "}]}]")
    code, out = _run("backtest", str(_book_for(tmp_path, "ADAUSDT")), "--data", str(ADA_1M), "--brackets", str(saved))
    assert code == 1 and says in out, out
    assert "ConversionSyntax" not in out and "class" not in out
