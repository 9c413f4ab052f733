"""A stop-loss the exchange refuses because the price has passed it closes the position.

A rulebook's stop_loss that Binance refuses (-2021, "Order would immediately trigger": the
market passed the trigger before the stop arrived) left the position with no stop at all: the
guard's countdown had been stopped when the stop was sent, and nothing restarted it when the
refusal came. In a backtest the long then rode a 10% fall to the end, with `guard
interventions: none`; live, the same position would have had no stop on the exchange.
The countdown was restarted (the protective stop, 5% away, then cut the fall); the position is
now closed at market at once, as the stop would have closed it (tests/engine/test_passed_stop.py).
"""

from __future__ import annotations

from pathlib import Path

from rulebot.backtest.api import backtest

T0 = 1_735_689_600_000  # 2025-01-01 00:00 UTC
HEADER = (
    "open_time,open,high,low,close,volume,close_time,quote_volume,count,taker_buy_volume,taker_buy_quote_volume,ignore"
)

RULEBOOK = """
rulebook: refused-stop
market: usdm
symbols: [BTCUSDT]
account: {leverage: 2}
timeframes: [1m]
states:
  flat: {position: none}
  long: {position: long}
rules:
  - name: enter
    on: candle_close 1m
    in: flat
    do:
      - enter: {side: long, size: "0.05"}
      - stop_loss: {price: "entry_price + %s", working_type: contract_price}
      - goto: long
"""


def falling(tmp_path: Path) -> Path:
    """Ten minutes at 100,000, then 0.1% lower every minute for 100 minutes (about -10%)."""
    rows, p = [], 100_000.0
    for i in range(110):
        if i >= 10:
            p = round(p * 0.999, 1)
        t = T0 + i * 60_000
        rows.append(f"{t},{p},{p + 5},{p - 5},{p},100,{t + 59_999},0,0,0,0,0")
    path = tmp_path / "BTCUSDT-1m-2025-01-01.csv"
    path.write_text(HEADER + "\n" + "\n".join(rows) + "\n")
    return path


def run(tmp_path: Path, offset: str):
    book = tmp_path / "refused.yaml"
    book.write_text(RULEBOOK % offset)
    result, _, _ = backtest(str(book), [str(falling(tmp_path))])
    return result


def test_a_stop_loss_refused_with_2021_closes_the_position_at_market(tmp_path: Path) -> None:
    result = run(tmp_path, "100")  # above a long's price: Binance refuses it, -2021
    entries = [f for f in result.fills if f.purpose == "entry"]
    exits = [f for f in result.fills if f.purpose != "entry"]
    assert exits, "the position rode the fall to the end"
    # Each entry is closed at market in its own minute, at its own price: never left to ride the fall
    # under the protective stop 5% away (the rulebook enters again on the next candle: its stop is wrong).
    assert [(f.time, f.price) for f in exits] == [(f.time, f.price) for f in entries]
    assert {f.purpose for f in exits} == {"exit"}
    assert not [g for g in result.guard_events if g.verdict == "act"]
