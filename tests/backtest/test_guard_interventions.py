"""Guard interventions count what a guard changed, not the daily cap's standing stop.

The demo's summary said "guard interventions: daily_loss_cap: 19" on a run whose cap was never
reached: each placement and re-pricing of the cap's stop (a GuardRecord with an `act` verdict
in the journal) was counted as the guard intervening.
"""

from __future__ import annotations

from decimal import Decimal as D

from rulebot.backtest.runner import BacktestConfig, run_backtest
from rulebot.backtest.stats import compute_stats
from rulebot.backtest.summary import summary_dict, summary_rows
from rulebot.core.enums import Market
from rulebot.core.events import CandleClosed
from rulebot.feeds.catalog import builtin_brackets, builtin_instruments
from rulebot.rulebook.compiler import compile_text

T0 = 1_735_689_600_000  # 2025-01-01 00:00 UTC
MINUTE = 60_000

BOOK = """
rulebook: held
market: usdm
symbols: [BTCUSDT]
account: {margin: isolated, leverage: 5}
timeframes: [1m]
rules:
  - name: go
    on: candle_close 1m
    in: flat
    do: [{enter: {side: long, size: "50%", order: market}}, {goto: long}]
  - {name: hold, on: candle_close 1m, in: long, when: "close@1m < 0", do: [exit, {goto: flat}]}
risk: {max_leverage: 5, daily_loss_cap: 1%}
"""


def candles(closes: list[str]) -> list[CandleClosed]:
    out = []
    prev = D(closes[0])
    for i, c in enumerate(closes):
        close = D(c)
        t = T0 + i * MINUTE
        hi, lo = max(prev, close), min(prev, close)
        out.append(CandleClosed("BTCUSDT", "1m", t, t + MINUTE - 1, prev, hi, lo, close, D(10), D(0), 1, D(5)))
        prev = close
    return out


def run(closes: list[str]):
    book = compile_text(BOOK)
    usdm = builtin_instruments(Market.USDM), builtin_brackets(Market.USDM)
    result = run_backtest(book, candles(closes), *usdm, BacktestConfig(balance=D(10_000)))
    return result, compute_stats(result)


def test_the_daily_caps_standing_stop_is_not_a_guard_intervention():
    # Long from the first minute; the price wanders a little and never nears the cap.
    result, stats = run(["60000", "60010", "60020", "60015", "60030", "60040", "60035", "60050"] * 3)
    assert any(f.purpose == "entry" for f in result.fills)
    assert "daily_loss_cap" not in stats.guard_interventions  # the cap's stop is not an intervention ...
    assert result.cap_stops >= 1  # ... though it was placed (and re-priced)
    assert not [g for g in result.guard_events if g.guard == "daily_loss_cap"]
    assert not [m for m in result.markers if m.kind == "guard" and "daily_loss_cap" in m.label]
    rows = dict(summary_rows(stats, result))
    assert "daily_loss_cap" not in rows["guard interventions"]
    assert rows["  daily-cap stops"].startswith(f"{result.cap_stops} placed or re-priced")
    assert summary_dict(stats, result)["cap_stops"] == result.cap_stops


def test_reaching_the_daily_cap_and_refusing_entries_after_it_are_interventions():
    # Long 50% of 10,000 at 5x, then the price falls 4%: the day loses past its 1% cap.
    result, stats = run(["60000", "60000", "59500", "59000", "58500", "58000", "57600", "57600", "57600"])
    cap = [g for g in result.guard_events if g.guard == "daily_loss_cap"]
    (breach,) = [g for g in cap if g.verdict == "act"]  # the cap reached: positions flattened, once
    assert "reached the cap" in breach.reason
    refused = [g for g in cap if g.verdict == "reject"]  # then each entry the rule asked for
    assert refused and all(g.time > breach.time for g in refused)
    assert stats.guard_interventions["daily_loss_cap"] == 1 + len(refused)


def test_the_web_chart_and_notifications_leave_out_the_caps_standing_stop(tmp_path):
    from rulebot.backtest.api import _run
    from rulebot.journal.writer import read_only
    from rulebot.notify.events import classify
    from rulebot.web.journal_view import history

    book = compile_text(BOOK)
    usdm = builtin_instruments(Market.USDM), builtin_brackets(Market.USDM)
    path = tmp_path / "run.journal"
    closes = ["60000", "60010", "60020", "60015", "60030", "60040", "60035", "60050"] * 3
    result = _run(book, candles(closes), *usdm, BacktestConfig(balance=D(10_000)), None, None, path, "backtest", "t")
    assert result.cap_stops >= 1
    db = read_only(path)
    db.row_factory = __import__("sqlite3").Row
    rows = [dict(r) for r in db.execute("SELECT * FROM entries WHERE kind = 'guard'")]
    cap_rows = [r for r in rows if '"daily_cap stop' in r["body"]]
    assert len(cap_rows) == result.cap_stops  # the journal keeps every one ...
    assert [classify(r) for r in cap_rows] == [None] * len(cap_rows)  # ... no message for them ...
    markers = history(db)["markers"]
    assert not [m for m in markers if m["kind"] == "guard" and "daily_loss_cap" in m["label"]]  # ... nor a "!"


TOO_SMALL = """
rulebook: too-small
market: usdm
symbols: [BTCUSDT]
rules:
  - name: buy
    on: trade
    in: flat
    when: position.size == 0
    do:
      - enter: {side: long, size: 0.001, order: market}
      - stop_loss: {distance: 2%}
"""


def test_a_run_whose_every_entry_a_guard_refused_says_which_and_why_in_a_warning(tmp_path):
    # 0.001 BTC at ~57k is 57 USDT, under BTCUSDT's 100 USDT minimum notional: 21,313 entries refused,
    # 0 trades, and only "exchange_filters: 21,313" to tell why.
    from rulebot.backtest.api import backtest
    from rulebot.testing.shared import ARCHIVE

    book = tmp_path / "too-small.yaml"
    book.write_text(TOO_SMALL)
    trades = ARCHIVE / "futures/um/daily/trades/BTCUSDT/BTCUSDT-trades-2024-08-08.zip"
    result, _, _ = backtest(str(book), [str(trades)])
    assert not result.fills
    (warning,) = [w for w in result.warnings if w.startswith("no order was filled")]
    assert "exchange_filters refused 21,313 order(s)" in warning and "rule buy" in warning
    assert "-4164 Order's notional must be no smaller than 100" in warning


COINM_HOLD = """
rulebook: refused
market: coinm
symbols: [BTCUSD_PERP]
account: {leverage: 2}
timeframes: [1m]
rules:
  - name: go
    on: candle_close 1m
    in: flat
    do: [{enter: {side: long, size: 100}}, {stop_loss: {distance: 20%}}, {goto: long}]
  - {name: hold, on: candle_close 1m, in: long, when: "close@1m < 0", do: [exit, {goto: flat}]}
"""


def test_a_run_whose_every_order_the_exchange_refused_says_so():
    # The mark 10% under the last price: Binance refuses every market buy with -4131 (its best
    # price is past PERCENT_PRICE's band around the mark). The summary read "0 closed", "guard
    # interventions: none" and no warning: a rulebook that never traded, for no reason given.
    from rulebot.core.events import MarkPrice

    events: list[object] = []
    for i in range(30):
        t = T0 + i * MINUTE
        events.append(MarkPrice("BTCUSD_PERP", D(18000), t + MINUTE - 2))
        c = D(20000)
        events.append(CandleClosed("BTCUSD_PERP", "1m", t, t + MINUTE - 1, c, c, c, c, D(10**6), D(0), 1, D(5)))
    coinm = builtin_instruments(Market.COINM), builtin_brackets(Market.COINM)
    result = run_backtest(compile_text(COINM_HOLD), events, *coinm, BacktestConfig(balance=D(1)))
    assert not result.fills
    (warning,) = [w for w in result.warnings if w.startswith("no order was filled")]
    assert "the exchange refused 30 order(s)" in warning
    assert "-4131" in warning
