"""A position still open when a backtest ends is worth its price less the taker fee it would cost to
close: the summary's net PnL and end equity count that fee, and say so. It used to value the open
position at mark alone, a strategy that never closed looking one exit fee better than one that did."""

from __future__ import annotations

import json
from dataclasses import replace
from decimal import Decimal as D
from pathlib import Path

from click.testing import CliRunner

from rulebot.backtest.api import backtest
from rulebot.backtest.open_end import exit_fee, open_at_end
from rulebot.backtest.runner import BacktestConfig
from rulebot.backtest.stats import compute_stats
from rulebot.backtest.summary import summary_dict
from rulebot.cli import main
from rulebot.core.enums import Market, PositionSide
from rulebot.core.fees import FeeRates
from rulebot.engine.portfolio import PositionState
from rulebot.exchange_sim import FillModel
from rulebot.feeds.catalog import builtin_instruments

T0 = 1_735_689_600_000  # 2025-01-01 00:00 UTC
HEADER = (
    "open_time,open,high,low,close,volume,close_time,quote_volume,count,taker_buy_volume,taker_buy_quote_volume,ignore"
)

RULEBOOK = """
rulebook: hold
market: usdm
symbols: [BTCUSDT]
account: {leverage: 3}
timeframes: [1m]
states: {flat: {position: none}, long: {position: long}, done: {position: none}}
rules:
  - name: buy
    on: candle_close 1m
    in: flat
    when: close@1m > 0
    do: [{enter: {side: long, size: "0.01"}}, {stop_loss: {distance: 20%}}, {goto: long}]
  - name: sell
    on: candle_close 1m
    in: long
    when: close@1m > LIMIT
    do: [exit, {goto: done}]
"""
HOLD = RULEBOOK.replace("LIMIT", "1000000")  # never sells
ROUND_TRIP = RULEBOOK.replace("LIMIT", "0")  # sells on the next candle, at the same price


def _files(tmp_path: Path, rulebook: str, closes: list[int]) -> tuple[str, str]:
    rows = []
    for i, p in enumerate(closes):
        t = T0 + i * 60_000
        rows.append(f"{t},{p},{p},{p},{p},10,{t + 59_999},0,0,0,0,0")
    data = tmp_path / "BTCUSDT-1m-2025-01-01.csv"
    data.write_text(HEADER + "\n" + "\n".join(rows) + "\n")
    book = tmp_path / "book.yaml"
    book.write_text(rulebook)
    return str(book), str(data)


IDEAL = BacktestConfig(fill_model=FillModel(), fee_rates=FeeRates(D("0.0002"), D("0.0004")))


def test_an_open_position_at_the_end_is_valued_less_its_exit_fee(tmp_path: Path):
    book, data = _files(tmp_path, HOLD, [60_000] * 30)
    result, _, _ = backtest(book, [data], config=IDEAL)
    (entry,) = result.fills
    assert entry.fee == D("0.24")  # 0.01 x 60,000 x 0.04 % (a market entry takes)
    assert result.end_equity == D("9999.76")  # the wallet after the entry's fee; unrealized 0 at 60,000
    stats = compute_stats(result)
    # Closing costs the same taker fee again: 0.01 x 60,000 x 0.0004 = 0.24.
    assert stats.open_exit_fee == D("0.24")
    assert stats.net_pnl == D("-0.48")
    assert stats.end_equity == D("9999.52")
    doc = summary_dict(stats, result)
    numbers = {k: D(doc[k]) for k in ("net_pnl", "end_equity", "end_equity_at_mark", "open_exit_fee")}
    assert numbers == {
        "net_pnl": D("-0.48"),
        "end_equity": D("9999.52"),
        "end_equity_at_mark": D("9999.76"),
        "open_exit_fee": D("0.24"),
    }
    assert doc["open_at_end"] == [
        {"symbol": "BTCUSDT", "side": "long", "quantity": "0.01", "price": "60000", "exit_fee": "0.24000000"}
    ]


def test_a_closed_round_trip_and_the_same_trade_left_open_net_the_same(tmp_path: Path):
    held, data = _files(tmp_path, HOLD, [60_000] * 30)
    open_stats = compute_stats(backtest(held, [data], config=IDEAL)[0])
    closed, _ = _files(tmp_path, ROUND_TRIP, [60_000] * 30)
    closed_result = backtest(closed, [data], config=IDEAL)[0]
    assert len(closed_result.fills) == 2
    closed_stats = compute_stats(closed_result)
    assert closed_stats.open_exit_fee == 0
    assert open_stats.net_pnl == closed_stats.net_pnl == D("-0.48")


def test_the_summary_says_what_is_open_and_what_closing_it_costs(tmp_path: Path):
    book, data = _files(tmp_path, HOLD, [60_000] * 29 + [61_000])
    args = ["backtest", book, "--data", data, "--fill-model", "ideal", "--fees", "0.0002,0.0004"]
    res = CliRunner().invoke(main, args)
    assert res.exit_code == 0, res.output
    rows = {}
    for line in res.output.splitlines():
        cells = [c.strip() for c in line.split("│")]
        if len(cells) == 4 and cells[1]:
            rows[cells[1]] = cells[2]
    # 0.01 x 61,000 x 0.0004 = 0.244
    assert rows["fee to close it"] == (
        "-0.24 USDT (position open at the end: BTCUSDT 0.01 BTC long, valued at 61,000 less a 0.244 USDT exit fee; "
        "taker 0.04%)"
    )
    assert rows["net PnL"].startswith("9.52 USDT") and rows["unrealized at the end"] == "10.00 USDT"
    assert rows["equity"] == "10,000.00 USDT → 10,009.52 USDT"
    doc = json.loads(CliRunner().invoke(main, [*args, "--format", "json"]).stdout)
    # realized 0, fees 0.24, unrealized +10 at 61,000, less the 0.244 to close
    assert D(doc["net_pnl"]) == D("9.516") and D(doc["unrealized_pnl"]) == 10
    assert D(doc["open_exit_fee"]) == D("0.244")


def test_a_flat_end_has_no_exit_fee(tmp_path: Path):
    book, data = _files(tmp_path, ROUND_TRIP, [60_000] * 30)
    result = backtest(book, [data], config=IDEAL)[0]
    doc = summary_dict(compute_stats(result), result)
    assert doc["open_exit_fee"] == "0" and doc["open_at_end"] == []
    assert doc["end_equity"] == doc["end_equity_at_mark"] == str(result.end_equity)


def test_the_fast_and_the_event_path_value_what_is_open_alike(tmp_path: Path):
    book, data = _files(tmp_path, HOLD, [60_000 + 10 * (i % 7) for i in range(60)])
    fast = backtest(book, [data], config=replace(IDEAL, path="fast"))[0]
    event = backtest(book, [data], config=replace(IDEAL, path="event"))[0]
    assert (fast.path, event.path) == ("fast", "event")
    assert fast.open_at_end == event.open_at_end and len(fast.open_at_end) == 1
    assert compute_stats(fast).net_pnl == compute_stats(event).net_pnl


def test_a_coin_margined_exit_fee_is_in_the_coin_and_each_hedge_leg_pays_its_own():
    inst = builtin_instruments(Market.COINM)["BTCUSD_PERP"]  # 100 USD a contract
    positions = {
        ("BTCUSD_PERP", PositionSide.LONG): PositionState("BTCUSD_PERP", PositionSide.LONG, D(3), D(50_000)),
        ("BTCUSD_PERP", PositionSide.SHORT): PositionState("BTCUSD_PERP", PositionSide.SHORT, D(-2), D(50_000)),
    }
    fees = FeeRates(D("0.0002"), D("0.0005"))
    long, short = open_at_end(positions, {"BTCUSD_PERP": inst}, {"BTCUSD_PERP": D(40_000)}, {}, fees)
    # 3 x 100 / 40,000 x 0.0005 = 0.00000375 BTC; 2 contracts: 0.0000025
    assert (long.side, long.quantity, long.unit, long.exit_fee) == ("long", 3, "contracts", D("0.00000375"))
    assert (short.side, short.quantity, short.exit_fee) == ("short", 2, D("0.0000025"))
    assert exit_fee((long, short)) == D("0.00000625") and exit_fee((long, short), "ETHUSD_PERP") == 0
    # With no trade seen (a mark alone), the mark prices it; a flat leg pays nothing.
    flat = {("BTCUSD_PERP", PositionSide.BOTH): PositionState("BTCUSD_PERP", PositionSide.BOTH, D(0), D(0))}
    assert open_at_end(flat, {"BTCUSD_PERP": inst}, {}, {"BTCUSD_PERP": D(40_000)}, fees) == ()
    both = {("BTCUSD_PERP", PositionSide.BOTH): PositionState("BTCUSD_PERP", PositionSide.BOTH, D(-1), D(1))}
    (held,) = open_at_end(both, {"BTCUSD_PERP": inst}, {}, {"BTCUSD_PERP": D(40_000)}, fees)
    assert held.side == "short" and held.price == 40_000 and held.exit_fee == D("0.00000125")


def test_the_by_symbol_columns_add_up_to_net_pnl_with_the_exit_fee(tmp_path: Path):
    """The by-symbol table showed net PnL after the exit fee but no column for it: realized - fees -
    funding + unrealized came out one exit fee above the net shown."""
    from rulebot.backtest.stats import per_symbol_stats
    from rulebot.backtest.summary import SYMBOL_COLUMNS, symbol_rows

    book, data = _files(tmp_path, HOLD, [60_000] * 29 + [61_000])
    result = backtest(book, [data], config=IDEAL)[0]
    per, total = per_symbol_stats(result), compute_stats(result)
    rows = symbol_rows(per, total, result.margin_asset)
    assert len(rows) == 2 and all(len(r) == len(SYMBOL_COLUMNS) for r in rows)
    for r in rows:
        cell = dict(zip(SYMBOL_COLUMNS, r, strict=True))
        amount = {k: D(cell[k].split()[0].replace(",", "")) for k in SYMBOL_COLUMNS[3:9]}
        assert amount["exit fee"] == D("-0.24")
        parts = amount["realized"] + amount["fees"] + amount["funding"] + amount["unrealized"] + amount["exit fee"]
        assert parts == amount["net PnL"], cell


# A round trip, then a second long held to the end: the trade list has a closed and an open trade.
TWICE = """
rulebook: twice
market: usdm
symbols: [BTCUSDT]
account: {leverage: 3}
timeframes: [1m]
states: {flat: {position: none}, long: {position: long}, between: {position: none}, held: {position: long}}
rules:
  - name: buy
    on: candle_close 1m
    in: flat
    when: close@1m > 0
    do: [{enter: {side: long, size: "0.01"}}, {goto: long}]
  - {name: sell, on: candle_close 1m, in: long, when: close@1m > 0, do: [exit, {goto: between}]}
  - name: again
    on: candle_close 1m
    in: between
    when: close@1m > 0
    do: [{enter: {side: long, size: "0.01"}}, {stop_loss: {distance: 20%}}, {goto: held}]
"""


def test_the_trade_list_adds_up_to_net_pnl_with_a_position_open_at_the_end(tmp_path: Path):
    """The open trade's row was valued at mark without the taker fee to close it, while net PnL counts
    that fee: the trade list's net PnL (JSON and the HTML report's table) came out one exit fee above
    the summary's."""
    book, data = _files(tmp_path, TWICE, [60_000 + 100 * i for i in range(30)])
    report = tmp_path / "report.html"
    args = ["backtest", book, "--data", data, "--fill-model", "ideal", "--fees", "0.0002,0.0004"]
    res = CliRunner().invoke(main, [*args, "--format", "json", "--report", str(report)])
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    closed, held = doc["trade_list"]
    assert not closed["open"] and held["open"] and "open_exit_fee" not in closed
    print("SUM", sum(D(t["net_pnl"]) for t in doc["trade_list"]), doc["net_pnl"])
    # 0.01 x 62,900 x 0.0004 = 0.2516 to close the long held at the last price
    assert D(held["open_exit_fee"]) == D(doc["open_exit_fee"]) == D("0.2516")
    for t in (closed, held):
        parts = D(t["gross_pnl"]) - D(t["fees"]) + D(t["open_pnl"]) - D(t.get("open_exit_fee", "0"))
        assert D(t["net_pnl"]) == parts, t
    assert D(doc["funding_paid"]) == 0
    assert sum(D(t["net_pnl"]) for t in doc["trade_list"]) == D(doc["net_pnl"])
    # The HTML report's row of the open trade: its fees with the exit fee, its net PnL after it.
    row = next(r for r in report.read_text().split("<tr>") if "<td>open</td>" in r)
    cells = [c.split("</td>")[0] for c in row.split("<td>")[1:]]
    fees, net = (D(c.split()[0].replace(",", "")) for c in cells[-2:])
    assert fees == (D(held["fees"]) + D(held["open_exit_fee"])).quantize(D("0.01"))
    assert net == D(held["net_pnl"]).quantize(D("0.01"))
    assert "exit fee" in cells[-4]
