"""Round trips on an inverse (COIN-M) market: prices average harmonically, as the account's do.

Numbers from a real BTCUSD_PERP backtest (2022-12-13): short 86 contracts at 17,205.0, add 30
at 17,139.9, buy back 58 at 17,450.9 and 58 at 17,742.4. The account's entry price is the
harmonic mean 17,188.1164... (MARGIN.md §4); the quantity-weighted mean 17,188.1637... is not
a price the position ever had, and marking the open trade from it missed the account's
unrealized PnL by 1.86e-6 BTC.
"""

from __future__ import annotations

from decimal import Decimal as D

from rulebot.backtest.result import FillRecord
from rulebot.backtest.round_trips import round_trips
from rulebot.core.enums import Market
from rulebot.feeds.catalog import builtin_instruments

T = 1_670_889_659_999
BTCUSD = builtin_instruments(Market.COINM)["BTCUSD_PERP"]
CS = BTCUSD.contract_size  # 100 USD


def fill(t: int, side: str, qty: str, price: str, pnl: str = "0", purpose: str = "entry") -> FillRecord:
    return FillRecord(
        T + t, "BTCUSD_PERP", side, D(qty), D(price), D(0), D(pnl), purpose != "entry", purpose, "r", f"c{t}"
    )  # type: ignore[arg-type]


def close(a: D, b: D) -> bool:
    return abs(a - b) < D("1e-20")


ENTRY = BTCUSD.average_entry(D(86), D("17205.0"), D(30), D("17139.9"))  # the account's entry price


def test_an_inverse_trade_averages_its_entries_harmonically_as_the_account_does():
    fills = [fill(0, "SELL", "86", "17205.0"), fill(1, "SELL", "30", "17139.9")]
    (t,) = round_trips(fills, D("17779.7"), inverse_size=CS)
    assert close(t.entry_price, ENTRY) and ENTRY.quantize(D("1e-8")) == D("17188.11643099")
    # The account's unrealized PnL of the position at the last price, in BTC: -0.02245543.
    upnl = BTCUSD.signed_pnl(D(-116), ENTRY, D("17779.7"))
    assert close(t.open_pnl, upnl) and upnl.quantize(D("1e-8")) == D("-0.02245543")


def test_an_inverse_trade_averages_its_exits_harmonically_so_its_prices_give_its_pnl():
    fills = [
        fill(0, "SELL", "86", "17205.0"),
        fill(1, "SELL", "30", "17139.9"),
        fill(2, "BUY", "58", "17450.9", pnl="-0.00508136", purpose="exit"),
        fill(3, "BUY", "58", "17742.4", pnl="-0.01054191", purpose="exit"),
    ]
    (t,) = round_trips(fills, None, inverse_size=CS)
    assert t.gross_pnl == D("-0.01562327")
    assert close(t.exit_price, 116 / (58 / D("17450.9") + 58 / D("17742.4")))  # 17,595.44...
    assert (116 * CS * (1 / t.exit_price - 1 / t.entry_price)).quantize(D("1e-8")) == t.gross_pnl


def test_a_linear_trade_still_averages_by_quantity():
    fills = [fill(0, "BUY", "1", "100"), fill(1, "BUY", "3", "200")]
    (t,) = round_trips(fills, D(200))
    assert t.entry_price == D(175) and t.open_pnl == D(100)
