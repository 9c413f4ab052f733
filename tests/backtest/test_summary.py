"""The summary table a trader reads and the exact numbers a script reads."""

from __future__ import annotations

from decimal import Decimal as D

from rich.console import Console

from rulebot.backtest.result import BacktestResult, EquityPoint, FillRecord, GuardEvent
from rulebot.backtest.stats import compute_stats
from rulebot.backtest.summary import money, price, span, summary_dict, summary_table

T = 1_717_200_000_000  # 2024-06-01 00:00 UTC


def make_result(asset: str = "USDT") -> BacktestResult:
    r = BacktestResult("ema [red]trend[/] <x>", "abc123", "BTCUSDT", asset, T, T + 3 * 3_600_000, D(1000), 500)
    r.fills = [
        FillRecord(T, "BTCUSDT", "BUY", D(1), D(100), D("0.1"), D(0), False, "entry", "go", "a"),
        FillRecord(T + 60_000, "BTCUSDT", "SELL", D(1), D(90), D("0.1"), D(-10), True, "stop_loss", "go", "b"),
    ]
    r.equity_curve = [EquityPoint(T, D(1000), D(100), D(1)), EquityPoint(T + 60_000, D("989.8"), D(90), D(0))]
    r.guard_events = [GuardEvent(T, "max_leverage", "resize", "too big", "go")]
    r.end_equity = D("989.8")
    r.decisions = 2
    return r


def rendered(r: BacktestResult) -> str:
    console = Console(width=120, record=True, file=open("/dev/null", "w"))  # noqa: SIM115
    console.print(summary_table(compute_stats(r), r))
    return console.export_text()


def test_the_table_has_the_rows_a_trader_asks_for():
    rows = {}
    for line in rendered(make_result()).splitlines():
        cells = [c.strip() for c in line.split("│")]
        if len(cells) == 4:
            rows[cells[1]] = cells[2]
    assert rows["rulebook"] == "ema [red]trend[/] <x> (version abc123)"  # rich markup is not interpreted
    for label, value in [
        ("trades", "1 closed"),
        ("win rate", "0.00% (0 won, 1 lost)"),
        ("net PnL", "-10.20 USDT (-1.02%)"),
        ("realized, before fees", "-10.00 USDT"),
        ("fees", "-0.20 USDT"),
        ("funding", "0.00 USDT"),
        ("max drawdown", "10.20 USDT (1.02%)"),
        ("exposure", "100.00% of the time in a position"),
        ("liquidations", "0"),
        ("guard interventions", "max_leverage: 1"),
        ("period", "2024-06-01 00:00 → 03:00 (3h 0m)"),
    ]:
        assert rows[label].startswith(value), (label, rows)


def test_a_profit_factor_without_a_loss_says_why_it_has_no_value():
    def profit_factor(r: BacktestResult) -> str:
        line = next(x for x in rendered(r).splitlines() if "profit factor" in x)
        return line.split("│")[2].strip()

    won = make_result()
    won.fills = [
        FillRecord(T, "BTCUSDT", "BUY", D(1), D(100), D("0.1"), D(0), False, "entry", "go", "a"),
        FillRecord(T + 60_000, "BTCUSDT", "SELL", D(1), D(110), D("0.1"), D(10), False, "exit", "go", "b"),
    ]
    assert profit_factor(won) == "- (no trade lost money)"
    assert profit_factor(make_result()) == "0.00"  # one loss, nothing won
    none = make_result()
    none.fills = []
    assert profit_factor(none) == "-"


def test_script_numbers_are_exact_strings():
    r = make_result()
    doc = summary_dict(compute_stats(r), r)
    assert doc["net_pnl"] == "-10.2" and doc["win_rate"] == "0" and doc["max_drawdown_pct"] == str(D("10.2") / 1000)
    assert doc["guard_interventions"] == {"max_leverage": 1}
    (trade,) = doc["trade_list"]
    assert trade == {
        "symbol": "BTCUSDT",
        "side": "long",
        "entry_time": T,
        "entry_rule": "go",
        "entry_price": "100",
        "quantity": "1",
        "exit_time": T + 60_000,
        "exit_price": "90",
        "exit_quantity": "1",
        "exit_reason": "stop_loss",
        "gross_pnl": "-10",
        "fees": "0.2",
        "open_pnl": "0",
        "net_pnl": "-10.2",
        "open": False,
    }


def test_display_rounding_suits_the_asset_and_never_shows_minus_zero():
    assert money(D("1234.5678"), "USDT") == "1,234.57 USDT"
    assert money(D("0.00012345"), "BTC") == "0.000123 BTC"
    assert money(D("-0.001"), "USDT") == "0.00 USDT"
    assert money(None) == "-"
    assert (price(D("61234.5")), price(D("0.35012"))) == ("61,234.50", "0.350120")
    assert span(T, T + 86_400_000) == "2024-06-01 00:00 → 2024-06-02 00:00"


def test_a_coin_margined_table_counts_in_coin():
    text = rendered(make_result("BTC"))
    assert "-10.200000 BTC" in text


def test_an_average_price_drops_only_the_zeros_a_division_left():
    from rulebot.backtest.summary_json import average_price_text

    assert average_price_text(D(1) / (D(1) / D(61761))) == "61761"  # a COIN-M single fill, averaged
    assert average_price_text(D("17188.11640000000000000000000")) == "17188.1164"
    assert average_price_text(D("60000.10")) == "60000.10"  # as written: not a division's tail
    repeating = D(116) / (D(86) / D("17205.0") + D(30) / D("17139.9"))
    assert average_price_text(repeating) == str(repeating)  # every digit kept
