"""Timers on the event clock (rulebot/engine/timers.py, clock.py): when `before_funding`, `every`
and `cron` rules fire, on the data's clock, through the real engine and exchange simulator."""

from __future__ import annotations

from decimal import Decimal

from rulebot.core.events import FundingRate, MarkPrice
from rulebot.engine import records as rec

from .conftest import T0, backtest, trades

HOUR = 3_600_000

BEFORE_FUNDING = """\
rulebook: t
market: usdm
symbols: [ADAUSDT]
timeframes: [1m]
rules:
  - name: early
    on: before_funding 30m
    do: [{log: soon}]
"""


def _fired(records: list[object], rule: str) -> list[int]:
    return [(r.time - T0) // 60_000 for r in records if isinstance(r, rec.Decision) and r.rule == rule and r.fired]


def test_before_funding_fires_before_each_settlement_of_a_symbol_that_settles_every_4_hours(usdm):
    """FACTS §11: some symbols settle every 4 h (or 1 h), which the fundingRate rows say. The timer
    kept Binance's default 8 h: `before_funding 30m` fired at 07:30 only, missing 03:30 and 11:30."""
    prices = trades([1.0] * 160, every_ms=300_000)  # 00:00 to 13:15, a trade every 5 minutes
    settled = [FundingRate("ADAUSDT", Decimal("0.0001"), T0 + h * HOUR + 3, None, 4) for h in (0, 4, 8, 12)]
    _, records = backtest(BEFORE_FUNDING, sorted([*prices, *settled], key=lambda e: e.time), usdm)
    assert _fired(records, "early") == [3 * 60 + 30, 7 * 60 + 30, 11 * 60 + 30]


def test_before_funding_keeps_the_8_hour_schedule_without_funding_data(usdm):
    _, records = backtest(BEFORE_FUNDING, trades([1.0] * 200, every_ms=300_000), usdm)  # to 16:35
    assert _fired(records, "early") == [7 * 60 + 30, 15 * 60 + 30]


DAY = 86_400_000

MIDNIGHT_ENTRY = """\
rulebook: t
market: usdm
symbols: [ADAUSDT]
timeframes: [1m]
account: {leverage: 5}
risk: {daily_loss_cap: 1%}
rules:
  - name: buy
    on: trade
    in: flat
    when: time < {day}
    do: [{enter: {side: long, size: 100}}, {stop_loss: {distance: 50%}}, {goto: long}]
  - name: reopen
    on: cron "0 0 * * *"
    in: flat
    do: [{log: "day pnl {daily_pnl}"}, {enter: {side: long, size: 100}}, {stop_loss: {distance: 50%}}, {goto: long}]
  - {name: closed, on: position_closed, in: long, do: [{cancel: all}, {goto: flat}]}
"""


def test_a_midnight_timer_runs_in_the_new_utc_day_after_a_breach_the_day_before(usdm):
    """Timers of 00:00 fired before the day rolled: `cron "0 0 * * *"` still saw yesterday's breach
    (its entry refused by daily_loss_cap at 00:00, though the guard refuses entries only "until 00:00
    UTC")
    and yesterday's PnL as `daily_pnl` (-109.95 USDT here, not 0)."""
    text = MIDNIGHT_ENTRY.replace("{day}", str(T0 + DAY))
    # every 3 minutes to 23:59:59 (fresh data at midnight): the fall to 97 breaches the 1% cap
    prices = [100, 100, 99, 98, 97, 97, 97, 97, 97, 97]
    path = trades(prices, start=T0 + DAY - 1000 - 7 * 180_000, every_ms=180_000)
    result, records = backtest(text, path, usdm, balance=10_000)
    assert any(n.kind == "daily-loss-cap" for n in records if isinstance(n, rec.EngineNotice))
    (reopen,) = [r for r in records if isinstance(r, rec.Decision) and r.rule == "reopen"]
    assert reopen.time == T0 + DAY and reopen.inputs["daily_pnl"] == 0
    refused = [
        (g.time, v.guard)
        for g in records
        if isinstance(g, rec.GuardRecord)
        for v in g.verdicts
        if v.kind == "reject" and g.time >= T0 + DAY
    ]
    assert refused == []
    entries = [f.time for f in result.fills if f.purpose == "entry"]
    assert len(entries) == 2 and entries[1] >= T0 + DAY


EXPIRING_LIMIT = """\
rulebook: t
market: usdm
symbols: [ADAUSDT]
timeframes: [1m]
account: {leverage: 5}
rules:
  - name: bid
    on: trade
    in: flat
    when: time < {until}
    do: [{enter: {side: long, size: 100, order: limit, price: 99, expire: 2m}}, {stop_loss: {distance: 5%}}]
"""


def test_a_limit_entry_past_its_expire_does_not_fill_on_the_next_trade(usdm):
    """Sparse data: the order rests at 00:00 with `expire: 2m`, the next trade (through its price)
    comes at 00:05, three minutes after the expiry."""
    text = EXPIRING_LIMIT.replace("{until}", str(T0 + 1))
    result, _ = backtest(text, trades([100, 98, 98], every_ms=300_000), usdm)
    assert [f for f in result.fills if f.purpose == "entry"] == []


ON_FUNDING = """\
rulebook: t
market: usdm
symbols: [ADAUSDT]
timeframes: [1m]
rules:
  - name: paid
    on: funding
    do: [{log: "settled; next rate {funding_rate}"}]
"""


def _marks(times: list[int], due: int, moved: int) -> list[MarkPrice]:
    """markPrice@1s: `T` the next settlement, `due`, until `moved`; the one after it from then on."""
    rate = Decimal("0.0001")
    return [MarkPrice("ADAUSDT", Decimal(1), t, Decimal(1), rate, due if t < moved else due + 8 * HOUR) for t in times]


def test_funding_rules_run_once_after_a_settlement_the_mark_stream_announced(usdm):
    """Live and dry-run on Binance's streams no fundingRate row ever comes: the settlement is known
    from the mark stream's `T` moving on (and the account's FUNDING_FEE). `on: funding` never ran."""
    due = T0 + 8 * HOUR
    times = [due - 2000, due - 1000, due + 400, due + 1400, due + 2400]
    _, records = backtest(ON_FUNDING, _marks(times, due, due), usdm)
    assert [r.time - due for r in records if isinstance(r, rec.Decision) and r.rule == "paid"] == [400]


def test_funding_rules_run_once_when_funding_rows_come_beside_the_mark_stream(usdm):
    """The simulated market sends both: the row right after the settlement, before `T` moves on."""
    due = T0 + 8 * HOUR
    marks = _marks([due - 1000, due, due + 1000, due + 2000], due, due + 1000)
    row = FundingRate("ADAUSDT", Decimal("0.0001"), due + 3, None, 8)
    _, records = backtest(ON_FUNDING, sorted([*marks, row], key=lambda e: e.time), usdm)
    assert [r.time - due for r in records if isinstance(r, rec.Decision) and r.rule == "paid"] == [3]
