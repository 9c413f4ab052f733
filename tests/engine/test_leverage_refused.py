"""A leverage change a rule asks for and the exchange refuses leaves the leverage as it was; it
does not halt the bot. Binance refuses to lower an isolated position's leverage (-4161), and a
halt flattens every position at market: a rule meant to take less risk used to close it all."""

from __future__ import annotations

from decimal import Decimal

from rulebot.engine import records as rec

from .conftest import backtest, trades

BOOK = """\
rulebook: lower-leverage
market: usdm
symbols: [ADAUSDT]
account: {margin: isolated, leverage: 5}
rules:
  - name: buy
    on: trade
    in: flat
    do: [{enter: {side: long, size: 100}}, {goto: long}]
  - name: calm-down
    on: trade
    in: long
    when: price > 0.52
    do: [{set_leverage: {to: 3}}, {goto: calm}]
  - name: take
    on: trade
    in: calm
    when: price > 0.6
    do: [exit, {goto: flat}]
states:
  flat: {position: none}
  long: {position: long}
  calm: {position: long}
"""


def test_a_refused_leverage_change_keeps_the_position_and_the_bot_trading(usdm) -> None:
    result, records = backtest(BOOK, trades([0.5, 0.51, 0.53, 0.55, 0.61, 0.62], symbol="ADAUSDT"), usdm)
    notices = [r for r in records if isinstance(r, rec.EngineNotice)]
    assert not [n for n in notices if n.kind == "halt"], notices
    (refused,) = [n for n in notices if n.kind == "leverage-refused"]
    assert "-4161" in refused.message and "stays 5x" in refused.message
    fills = list(result.fills)
    assert [f.purpose for f in fills[:2]] == ["entry", "exit"]  # the rule's own exit at 0.61, no flattening at 0.53
    assert fills[1].price == Decimal("0.61")


def test_a_leverage_above_the_symbols_brackets_says_what_the_symbol_allows(usdm) -> None:
    # FTTUSDT's first bracket allows 8x: Binance refuses 10x with -4028 at start-up. The halt told the
    # user to "close positions and orders of another mode", which is not what stands in the way.
    from dataclasses import replace

    instruments, brackets = usdm
    ftt = replace(instruments["ADAUSDT"], symbol="FTTUSDT", base_asset="FTT")
    text = BOOK.replace("ADAUSDT", "FTTUSDT").replace("leverage: 5", "leverage: 10")
    _, records = backtest(text, trades([2.0] * 3, symbol="FTTUSDT"), ({**instruments, "FTTUSDT": ftt}, brackets))
    (halt,) = [r.message for r in records if isinstance(r, rec.EngineNotice) and r.kind == "halt"]
    assert "-4028" in halt and "FTTUSDT allows at most 8x" in halt and "another mode" not in halt
