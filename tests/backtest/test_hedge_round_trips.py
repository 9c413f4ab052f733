"""Hedge mode's two legs are two round trips, each folded on its own (position side LONG or SHORT).

Real BTCUSD_PERP minutes (2022-12-13), a COIN-M hedge-mode account: a 30-contract long at
17,152.3, a 20-contract short beside it at 17,137.0, both closed at 17,426.2, then the same two
legs opened again (long 30 at 17,904.7, short 20 at 17,870.6) and held to the end (17,779.7).
The trade list folded every fill into one signed position: the short's opening SELL 20 counted as
a partial exit of the long (its exit price 17,232.33 was a blend no fill had), the long's close
"opened" a short at 17,426.2 with no entry rule, and the second short became an exit of the
second long. It showed 2 closed and 1 open trade, and its net PnL added up to -0.00015001 BTC
against the account's -0.00036316.
"""

from __future__ import annotations

from decimal import Decimal as D
from pathlib import Path

from rulebot.backtest.api import backtest
from rulebot.backtest.config import BacktestConfig
from rulebot.backtest.result import FillRecord
from rulebot.backtest.round_trips import round_trips
from rulebot.backtest.stats import compute_stats
from rulebot.core.fees import FeeRates
from rulebot.exchange_sim.liquidity import FillModel
from rulebot.testing.shared import ARCHIVE, require

COIN_DAY = ARCHIVE / "futures/cm/daily/klines/BTCUSD_PERP/1m/BTCUSD_PERP-1m-2022-12-13.zip"
IDEAL = BacktestConfig(balance=D(1), fill_model=FillModel(), fee_rates=FeeRates(D("0.0002"), D("0.0005")))

HEDGE = """
rulebook: coinm-hedge
market: coinm
symbols: [BTCUSD_PERP]
account: {leverage: 5, position_mode: hedge, margin: cross}
timeframes: [1h]
states:
  flat: {position: none}
  both: {position: any}
  done: {position: any}
rules:
  - name: open-long
    on: candle_close 1h
    in: flat
    when: close@1h > 0
    do: [{enter: {side: long, size: "30"}}, {stop_loss: {distance: 5%}}, {goto: both}]
  - name: open-short
    on: candle_close 1h
    in: both
    when: position.side == "long"
    do: [{enter: {side: short, size: "20"}}, {stop_loss: {distance: 5%}}, {goto: done}]
  - name: close-all
    on: candle_close 1h
    in: done
    when: hour == 12
    do: [exit, {goto: flat}]
risk:
  max_leverage: 5
  allow_cross: true
"""


def cents(price: D) -> D:
    return price.quantize(D("0.01"))


def test_each_hedge_leg_of_a_coin_margined_account_is_its_own_round_trip(tmp_path: Path):
    book = tmp_path / "hedge.yaml"
    book.write_text(HEDGE, encoding="utf-8")
    result = backtest(str(book), [str(require(COIN_DAY))], config=IDEAL)[0]
    stats = compute_stats(result, {"BTCUSD_PERP": D(100)})  # as `rulebot backtest` does
    # Prices average harmonically on an inverse market: 1 / (1 / 17,137) is 17,137 to 1e-23.
    legs = [
        (t.side, t.entry_rule, t.entry_qty, cents(t.entry_price), t.exit_qty, cents(t.exit_price)) for t in stats.trades
    ]
    assert legs == [
        ("long", "open-long", 30, D("17152.3"), 30, D("17426.2")),
        ("short", "open-short", 20, D("17137"), 20, D("17426.2")),
        ("long", "open-long", 30, D("17904.7"), 0, 0),
        ("short", "open-short", 20, D("17870.6"), 0, 0),
    ]
    assert (stats.closed, stats.open_trades) == (2, 2)
    long, short, held_long, held_short = stats.trades
    # 30 x 100 x (1/17,152.3 - 1/17,426.2) and -20 x 100 x (1/17,137 - 1/17,426.2), in BTC
    assert (long.gross_pnl, short.gross_pnl) == (D("0.00274909"), D("-0.00193683"))
    # Each open leg marked at the last price from its own entry, less its own exit fee.
    assert held_long.open_pnl == 30 * 100 * (1 / D("17904.7") - 1 / D("17779.7"))
    assert held_short.open_pnl == -20 * 100 * (1 / D("17870.6") - 1 / D("17779.7"))
    assert (held_long.open_exit_fee, held_short.open_exit_fee) == (D("0.00008437"), D("0.00005624"))
    assert result.funding_paid == 0
    # The trades' net PnL adds up to the account's (no funding here), to Decimal's last digits.
    assert abs(sum((t.net_pnl for t in stats.trades), D(0)) - stats.net_pnl) < D("1e-20")
    assert stats.net_pnl.quantize(D("1e-8")) == D("-0.00036316")


def fill(t: int, side: str, qty: str, price: str, leg: str, pnl: str = "0") -> FillRecord:
    purpose = "entry" if (side == "BUY") == (leg == "LONG") else "exit"
    return FillRecord(t, "BTCUSDT", side, D(qty), D(price), D(0), D(pnl), purpose == "exit", purpose, "r", f"c{t}", leg)  # type: ignore[arg-type]


def test_a_linear_hedge_short_opened_beside_a_long_does_not_close_it():
    fills = [
        fill(1, "BUY", "2", "100", "LONG"),
        fill(2, "SELL", "1", "110", "SHORT"),
        fill(3, "SELL", "2", "120", "LONG", pnl="40"),
    ]
    long, short = round_trips(fills, D(130), exit_fee=D("0.5"), exit_fees={"short": D("0.5")})
    assert (long.side, long.entry_price, long.exit_price, long.gross_pnl, long.exit_time) == ("long", 100, 120, 40, 3)
    assert (short.side, short.entry_price, short.exit_time, short.open_pnl) == ("short", 110, None, -20)
    assert short.open_exit_fee == D("0.5") and long.open_exit_fee == 0
