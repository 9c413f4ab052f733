"""The protective-stop guard's own stop refused by the exchange (overloaded, -1008): it is tried again
soon, not a whole countdown later. The countdown started again from the refusal, so a position that had
waited `protective_stop_within` (10 s) for its stop waited as long again: 20 s without a stop."""

from __future__ import annotations

from decimal import Decimal

from rulebot.core.commands import PlaceOrder

from .faulty_paper import FaultyPaper

D = Decimal
BOOK = """\
rulebook: refused-guard
market: usdm
symbols: [BTCUSDT]
account: {leverage: 3}
states:
  flat: {position: none}
  long: {position: long}
rules:
  - name: buy
    on: trade
    in: flat
    when: price < 60020
    do: [{enter: {side: long, size: "0.01"}}, {goto: long}]
  - name: out
    on: trade
    in: long
    when: price > 70000
    do: [exit, {goto: flat}]
"""


def covered(fp: FaultyPaper) -> bool:
    return any(
        o.close_position and o.status == "NEW" and o.trigger_price > 50000 for o in fp.sim.open_algo_orders(fp.symbol)
    )


def bare_for(fp: FaultyPaper, refusals: int, limit: int = 60) -> int:
    """Seconds of trades from the entry until the guard's stop works, the first `refusals` of it refused."""
    left = [refusals]

    def refuse(cmd: PlaceOrder) -> tuple[int, str] | None:
        if cmd.is_conditional and cmd.trigger_price is not None and cmd.trigger_price > 50000 and left[0] > 0:
            left[0] -= 1
            return (-1008, "Server is currently overloaded with other requests. Please try again in a few minutes.")
        return None

    fp.refuse = refuse
    for s in range(1, limit + 1):
        fp.trade(60030)
        if covered(fp):
            return s
    return limit


def opened() -> FaultyPaper:
    fp = FaultyPaper(BOOK)
    fp.start()
    fp.trade(60000)
    assert fp.position == D("0.01") and not covered(fp)
    return fp


def test_the_guards_stop_goes_in_its_countdown_when_accepted():
    assert bare_for(opened(), 0) == 10


def test_a_refused_guard_stop_is_tried_again_a_second_later():
    fp = opened()
    assert bare_for(fp, 1) == 11
    (refused,) = fp.notices("order-rejected")
    assert "-1008" in refused, refused
    guards = [r for r in fp.records if getattr(r, "rule", None) == "protective_stop"]
    first, again = (g.client_order_id for g in guards)
    why = guards[-1].verdicts[0].reason
    assert f"no stop on the exchange 1s after its protective stop {first} was refused (-1008)" in why, why
    assert again in {o.client_algo_id for o in fp.sim.open_algo_orders(fp.symbol)}


def test_refused_again_and_again_it_is_tried_with_a_growing_wait_not_a_countdown_each_time():
    assert bare_for(opened(), 3) == 10 + 1 + 2 + 4
