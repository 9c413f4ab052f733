"""An entry the max_leverage guard cuts to the cap still passes Binance's order-cost check
(initial margin at ask * 1.0005 plus the open loss against the mark): it is not refused."""

from __future__ import annotations

from decimal import Decimal

from rulebot.core.enums import Market
from rulebot.core.events import MarkPrice
from rulebot.engine import records as rec
from rulebot.feeds.catalog import builtin_brackets, builtin_instruments

from .conftest import backtest, trades

BOOK = """\
rulebook: t
market: usdm
symbols: [ADAUSDT]
timeframes: [1m]
account: {leverage: 5}
rules:
  - name: buy
    on: trade
    in: flat
    do: [{enter: {side: long, size: 100000}}, {goto: long}]
  - {name: out, on: trade, in: long, when: price > 1000000, do: [exit]}
"""


def test_an_entry_cut_to_the_leverage_cap_is_not_refused_for_margin(usdm):
    path = trades([100, 100, 100])
    marks = [MarkPrice("ADAUSDT", Decimal(100), t.time - 1) for t in path]
    result, records = backtest(BOOK, sorted([*path, *marks], key=lambda e: e.time), usdm, balance=1000)
    refused = [n for n in records if isinstance(n, rec.EngineNotice) and n.kind == "order-rejected"]
    assert refused == []
    (entry,) = [f for f in result.fills if f.purpose == "entry"]
    # 1,000 at 5x: at most 1,000 / (100.05 / 5 + 0.05) = 49.85 ADA (the step is 1 ADA).
    assert entry.quantity == 49


def test_an_entry_of_all_the_equity_is_cut_to_what_it_costs_not_refused_for_margin(usdm):
    # `size: 100%` sizes the notional to exactly equity x leverage: within the leverage cap by
    # notional, so it went out uncut and Binance refused it with -2019 (its cost adds the 0.05%
    # buffer and the open loss) on every signal: the strategy never traded.
    path = trades([100, 100, 100])
    marks = [MarkPrice("ADAUSDT", Decimal(100), t.time - 1) for t in path]
    text = BOOK.replace("size: 100000", "size: 100%")
    result, records = backtest(text, sorted([*path, *marks], key=lambda e: e.time), usdm, balance=1000)
    refused = [n for n in records if isinstance(n, rec.EngineNotice) and n.kind == "order-rejected"]
    assert refused == []
    (entry,) = [f for f in result.fills if f.purpose == "entry"]
    assert entry.quantity == 49


COINM_BOOK = """\
rulebook: t
market: coinm
symbols: [BTCUSD_PERP]
timeframes: [1m]
account: {leverage: 5}
rules:
  - name: buy
    on: trade
    in: flat
    do: [{enter: {side: long, size: 100%}}, {goto: long}]
  - {name: out, on: trade, in: long, when: price > 1000000, do: [exit]}
"""


def test_a_coinm_entry_cut_to_the_leverage_cap_is_not_refused_for_margin():
    # An inverse market buy costs Binance's order cost too: initial margin at ask * 1.0005 plus
    # the open loss against the mark, both in coin. `size: 100%` at 5x was refused with -2019
    # on every candle: the guard sized to the leverage cap without the open loss.
    coinm = builtin_instruments(Market.COINM), builtin_brackets(Market.COINM)
    path = trades([20000, 20000, 20000], symbol="BTCUSD_PERP", qty="100000")
    marks = [MarkPrice("BTCUSD_PERP", Decimal(20000), t.time - 1) for t in path]
    result, records = backtest(COINM_BOOK, sorted([*path, *marks], key=lambda e: e.time), coinm, balance=1)
    refused = [n for n in records if isinstance(n, rec.EngineNotice) and n.kind == "order-rejected"]
    assert refused == []
    (entry,) = [f for f in result.fills if f.purpose == "entry"]
    # 1 BTC at 5x, per contract 100 / (20010 * 5) + 100 * (1/20000 - 1/20010) BTC: at most 998.0 contracts.
    assert entry.quantity == 998


def test_a_coinm_entry_is_cut_to_the_leverage_brackets_largest_position():
    # BTCUSD_PERP allows at most 80 BTC of position at 10x (the brackets' maxQty at that
    # leverage). 100 BTC at 10x with size: 100% sent 60,000 contracts (349 BTC) on every signal,
    # and Binance refused each with -2027: the run made no trade and said nothing of why.
    coinm = builtin_instruments(Market.COINM), builtin_brackets(Market.COINM)
    book = COINM_BOOK.replace("leverage: 5", "leverage: 10")
    path = trades([20000, 20000, 20000], symbol="BTCUSD_PERP", qty="100000")
    marks = [MarkPrice("BTCUSD_PERP", Decimal(20000), t.time - 1) for t in path]
    result, records = backtest(book, sorted([*path, *marks], key=lambda e: e.time), coinm, balance=100)
    refused = [n for n in records if isinstance(n, rec.EngineNotice) and n.kind == "order-rejected"]
    assert refused == []
    (entry,) = [f for f in result.fills if f.purpose == "entry"]
    assert entry.quantity == 16000  # 80 BTC at 20,000, in contracts of 100 USD
    cuts = [v for g in records if isinstance(g, rec.GuardRecord) for v in g.verdicts if v.kind == "resize"]
    assert any("80 BTC" in v.reason for v in cuts), cuts
