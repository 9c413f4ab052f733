"""A position whose stop stops working gets the protective-stop guard's stop, as one that never had one.

The guard's countdown started when a position opened without a stop, or when a stop was refused as
it was placed; its stop going away later started nothing: the position's stop orders are algo
orders (USDⓈ-M), and an algo order's end (CANCELED, EXPIRED, REJECTED, FINISHED) did not ask the
guard. A rule's `cancel` (every order, the position's stops too), a stop the exchange cancelled or
expired on its own, a stop whose triggered market order expired: the position stayed without a
stop until another report of the symbol came (none comes while it sits).
"""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

from rulebot.core.account_events import AccountEvent, AlgoUpdate, OrderUpdate
from rulebot.core.enums import OrderStatus, OrderType
from rulebot.engine import records as rec
from rulebot.engine.risk.event import NEVER

from .faulty_paper import FaultyPaper
from .test_stop_growth import STOP_LOSS, cancels, grow, working

D = Decimal


def book(extra: str = "") -> str:
    """Enter long with a 2% stop-loss; `extra` adds rules run while long."""
    return f"""\
rulebook: lost
market: usdm
symbols: [BTCUSDT]
account: {{leverage: 3, position_mode: one_way}}
states:
  flat: {{position: none}}
  long: {{position: long}}
rules:
  - name: buy
    on: trade
    in: flat
    when: price < 60020
    do: [{{enter: {{side: long, size: "0.01"}}}}, {{stop_loss: {{distance: 2%}}}}, {{goto: long}}]
{extra}"""


CANCEL_ALL = """\
  - name: tidy
    on: trade
    in: long
    when: price > 60050
    do: [{cancel: all}]
"""


EXIT = """\
  - name: out
    on: trade
    in: long
    when: price > 60050
    do: [exit, {goto: flat}]
"""


def stop_ids(fp: FaultyPaper, purpose: str = "stop_loss") -> list[str]:
    return [c.client_order_id for c in fp.placed if c.is_conditional and purpose_of(fp, c.client_order_id) == purpose]


def purpose_of(fp: FaultyPaper, cid: str) -> str | None:
    record = fp.engine.state.oms.get(cid)
    return None if record is None else record.purpose


def covered(fp: FaultyPaper) -> Decimal:
    """How much of the position the stops working on the exchange close (not the daily cap's)."""
    size = abs(fp.position)
    qtys = [
        size if o.close_position else o.quantity
        for o in fp.sim.open_algo_orders(fp.symbol)
        if o.status == "NEW" and purpose_of(fp, o.client_algo_id) not in (None, "daily_cap")
    ]
    return min(size, max(qtys, default=D(0)))


def opened(extra: str = "") -> tuple[FaultyPaper, str]:
    fp = FaultyPaper(book(extra))
    fp.start()
    fp.trade(60000)
    (stop,) = stop_ids(fp)
    assert fp.position == D("0.01") and covered(fp) == D("0.01")
    return fp, stop


def sim_end(fp: FaultyPaper, cid: str, status: str, reason: str | None) -> list[AccountEvent]:
    """The exchange ends the algo order `cid` on its own: the ALGO_UPDATE it sends."""
    events: list[AccountEvent] = []
    (algo,) = [a for a in fp.sim._store.open_algos(fp.symbol) if a.client_algo_id == cid]
    fp.sim._desk.end_algo(algo, status, reason, fp.time, events)
    return events


def bare_for(fp: FaultyPaper, limit: int = 60) -> int:
    """Seconds of trades (one a second, no report) until a stop covers the position again; `limit` if never."""
    for s in range(1, limit + 1):
        fp.trade(60030)
        if covered(fp) == abs(fp.position):
            return s
    return limit


def guard_record(fp: FaultyPaper) -> rec.GuardRecord:
    (guard,) = [r for r in fp.records if isinstance(r, rec.GuardRecord) and r.rule == "protective_stop"]
    return guard


def test_a_rules_cancel_of_every_order_starts_the_countdown():
    fp, stop = opened(CANCEL_ALL)
    fp.trade(60060)  # rule tidy: cancel (no tag): the stop goes with every other order
    assert fp.position == D("0.01") and covered(fp) == 0
    (notice,) = fp.notices("stop-lost")
    assert notice == (
        f"its stop {stop} was cancelled (rule tidy: cancel): the position has no stop for all of it; "
        "the protective stop goes out in 10s unless one works by then"
    )
    assert bare_for(fp) == 10
    guard = guard_record(fp)
    why = guard.verdicts[0].reason
    assert f"its stop {stop} was cancelled (rule tidy: cancel)" in why, why
    assert guard.client_order_id in {o.client_algo_id for o in fp.sim.open_algo_orders(fp.symbol)}


def test_a_stop_the_exchange_expires_on_its_own_starts_the_countdown():
    fp, stop = opened()
    fp.report(sim_end(fp, stop, "EXPIRED", "maintenance"))
    assert covered(fp) == 0
    assert bare_for(fp) == 10
    why = guard_record(fp).verdicts[0].reason
    assert f"its stop {stop} was expired by the exchange (maintenance)" in why, why


def test_a_stop_the_exchange_cancels_on_its_own_starts_the_countdown():
    fp, stop = opened()
    fp.report(sim_end(fp, stop, "CANCELED", None))
    assert bare_for(fp) == 10
    why = guard_record(fp).verdicts[0].reason
    assert f"its stop {stop} was cancelled by the exchange" in why, why


def test_a_stop_rejected_by_the_algo_service_after_it_was_accepted_starts_the_countdown():
    fp, stop = opened()
    fp.report(sim_end(fp, stop, "REJECTED", "insufficient margin"))
    assert bare_for(fp) == 10
    why = guard_record(fp).verdicts[0].reason
    assert f"its stop {stop} was rejected by the exchange (insufficient margin)" in why, why


def expired_child(algo: AlgoUpdate) -> OrderUpdate:
    """The triggered stop's market order, expired unfilled (as Binance does when the book cannot take it)."""
    return OrderUpdate(
        algo.symbol, algo.client_algo_id, 777, algo.side, OrderType.MARKET, OrderStatus.EXPIRED, "EXPIRED",
        D("0.01"), D(0), D(0), D(0), D(0), D(0), D(0), "USDT", D(0), False, True, algo.position_side,
        None, None, None, None, algo.time,
    )  # fmt: skip


def test_a_triggered_stop_whose_market_order_expired_starts_the_countdown():
    fp, stop = opened()
    (new,) = sim_end(fp, stop, "EXPIRED", None)  # gone from the exchange; the reports say how
    assert isinstance(new, AlgoUpdate)
    triggered = replace(new, status="TRIGGERED", order_id=777, reason=None)
    fp.report([triggered, expired_child(triggered), replace(triggered, status="FINISHED")])
    assert fp.position == D("0.01") and covered(fp) == 0
    assert bare_for(fp) == 10
    why = guard_record(fp).verdicts[0].reason
    assert f"its stop {stop} triggered but its order expired" in why, why


def test_a_triggered_stop_whose_market_order_expired_counts_down_without_the_algo_finishing():
    """The algo order's FINISHED has not come (a slow stream): the order it placed is over, unfilled."""
    fp, stop = opened()
    (new,) = sim_end(fp, stop, "EXPIRED", None)
    assert isinstance(new, AlgoUpdate)
    triggered = replace(new, status="TRIGGERED", order_id=777, reason=None)
    fp.report([triggered, expired_child(triggered)])
    assert bare_for(fp) == 10


def test_a_stop_replaced_by_a_new_one_starts_no_countdown():
    """The old stop is cancelled once its replacement works: the position is never without one."""
    fp, old, new = grow(STOP_LOSS)
    assert working(fp) == {new} and cancels(fp, old)
    assert fp.engine.state.runs[fp.symbol].guard.protect_deadline == NEVER
    assert fp.notices("stop-lost") == []


def test_stops_cancelled_with_the_closed_position_start_no_countdown():
    fp, stop = opened(EXIT)
    fp.trade(60060)
    assert fp.position == 0 and cancels(fp, stop)
    assert fp.notices("stop-lost") == []
    assert fp.engine.state.runs[fp.symbol].guard.protect_deadline == NEVER
