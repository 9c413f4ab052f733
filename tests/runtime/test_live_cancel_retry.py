"""Live over the fake exchange: a cancel-all that Binance refused without executing it (503 on every
one of the transport's tries), and a cancel whose outcome stayed unknown (503 -1007 on every try,
not executed). Each left the orders it was for working on Binance for good: the cancel-all had only
a `command-rejected` notice, the unknown cancel a reconciliation that found the order open and did
nothing. Both are now sent again (a cancel-all as a cancel of each of its orders) until they hold."""

from __future__ import annotations

import pytest

from rulebot.core.enums import Market
from rulebot.testing.fake_binance import FakeBinance

from .conftest import until
from .test_live_adversarial import journal_status
from .test_live_runner import notices, running

TRIES = 5  # the transport's tries of one request (MAX_RETRIES + 1)

# A resting entry (the states hold `long`: a `goto` to a flat state would cancel it on its own),
# then once, on the next trade, `cancel: all`.
SWEEP_RESTING = """\
rulebook: sweep-resting
market: usdm
symbols: [BTCUSDT]
account: {leverage: 3}
states:
  flat: {position: none}
  resting: {position: long}
  swept: {position: long}
rules:
  - name: bid
    on: trade
    in: flat
    do: [{enter: {side: long, size: "0.01", order: limit, price: "50000"}}, {stop_loss: {distance: 5%}},
         {goto: resting}]
  - name: sweep
    on: trade
    in: resting
    do: [{cancel: all}, {goto: swept}]
  - name: never
    on: trade
    in: [resting, swept]
    when: price > 100000000
    do: [exit]
"""
# Long with its stop (in the algo service), then once `cancel: all`.
SWEEP_STOP = SWEEP_RESTING.replace(', order: limit, price: "50000"', "")


async def test_a_cancel_all_refused_on_every_try_is_sent_again_until_its_order_is_cancelled(tmp_path):
    async with FakeBinance(Market.USDM) as fake:
        sweeps: list[str] = []

        def refuse_the_first_cancel_all(method: str, path: str, _: float) -> None:
            if method == "DELETE" and path == "/fapi/v1/allOpenOrders":
                sweeps.append(path)
                if len(sweeps) <= TRIES:
                    fake.rest_faults.status_503 = 1  # this request, not whatever comes next

        fake.on_request = refuse_the_first_cancel_all
        async with running(fake, SWEEP_RESTING, tmp_path, []) as runner:
            await until(lambda: len(sweeps) >= TRIES, timeout=10)
            entry = fake.placed_ids[0]
            await until(lambda: fake.sim.order("BTCUSDT", entry).status.value == "CANCELED", timeout=10)
            sent = len(sweeps)
            await until(lambda: journal_status(runner, entry) == "CANCELED", timeout=5)
            said = [n["message"] for n in notices(runner) if n["kind"] == "cancel-failed"]
    assert sent == TRIES, sweeps  # refused on each try; sent again as the entry's own cancel
    assert said and said[0].startswith("cancel-all of BTCUSDT refused"), said
    assert f"1 order still works ({entry}): cancelled on its own in 1 s" in said[0], said


async def test_a_cancel_all_whose_algo_half_is_refused_cancels_the_stop_again(tmp_path):
    """USDⓈ-M keeps stops in the algo service, cancelled by its own cancel-all: refused on every try,
    the position's stop stayed working."""
    async with FakeBinance(Market.USDM) as fake:
        sweeps: list[str] = []
        stops: list[str] = []  # the position's stop and the daily cap's, when the cancel-all came

        def refuse_the_first_algo_cancel_all(method: str, path: str, _: float) -> None:
            if method == "DELETE" and path == "/fapi/v1/algoOpenOrders":
                sweeps.append(path)
                if len(sweeps) == 1:
                    stops.extend(a.client_algo_id for a in fake.sim.open_algo_orders("BTCUSDT"))
                if len(sweeps) <= TRIES:
                    fake.rest_faults.status_503 = 1

        fake.on_request = refuse_the_first_algo_cancel_all
        async with running(fake, SWEEP_STOP, tmp_path, []) as runner:
            await until(lambda: len(sweeps) >= TRIES, timeout=10)
            await until(lambda: not set(stops) & {a.client_algo_id for a in fake.sim.open_algo_orders("BTCUSDT")}, 10)
            sent = len(sweeps)
            said = [n["message"] for n in notices(runner) if n["kind"] == "cancel-failed"]
    assert sent == TRIES, sweeps  # refused on each try; sent again as a cancel of each stop
    assert len(stops) == 2 and said and f"2 orders still work ({', '.join(sorted(stops))})" in said[0], said


# As SWEEP_RESTING, but the entry is given up by its tag: a cancel of that order alone.
GIVE_UP_RESTING = SWEEP_RESTING.replace('price: "50000"}}', 'price: "50000", tag: bid}}').replace(
    "{cancel: all}", "{cancel: {tag: bid}}"
)


@pytest.mark.parametrize(
    ("book", "path", "then"),
    [
        (GIVE_UP_RESTING, "/fapi/v1/order", "{} still works: sent again in 1 s"),
        (SWEEP_RESTING, "/fapi/v1/allOpenOrders", "1 order still works ({}): cancelled on its own in 1 s"),
    ],
    ids=["cancel", "cancel-all"],
)
async def test_a_cancel_whose_outcome_stays_unknown_is_sent_again_while_the_order_works(tmp_path, book, path, then):
    """503 -1007 on every try, not executed: the order stayed open, the reconciliation found it so,
    and nothing sent the cancel again."""
    async with FakeBinance(Market.USDM) as fake:
        cancels: list[str] = []

        def unknown_on_every_try(method: str, p: str, _: float) -> None:
            if method == "DELETE" and p == path:
                cancels.append(p)
                if len(cancels) == 1:
                    fake.rest_faults.cancel_unknown_not_executed = TRIES

        fake.on_request = unknown_on_every_try
        async with running(fake, book, tmp_path, []) as runner:
            await until(lambda: fake.rest_faults.cancel_unknown_not_executed == 0 and len(cancels) >= TRIES, 10)
            entry = fake.placed_ids[0]
            assert fake.sim.order("BTCUSDT", entry).status.value == "NEW"  # the fault did not cancel it
            await until(lambda: fake.sim.order("BTCUSDT", entry).status.value == "CANCELED", timeout=10)
            await until(lambda: journal_status(runner, entry) == "CANCELED", timeout=5)
            said = [n["message"] for n in notices(runner) if n["kind"] == "order-unknown"]
    assert said and said[0].endswith(then.format(entry) + "; reconciling"), said


async def test_a_refused_cancel_is_sent_again_while_the_market_stream_is_silent(tmp_path):
    """The engine's clock moves with events: with the market silent (an outage, a stall) nothing
    carried it to the refused cancel's retry, and the given-up entry stayed working for as long as
    the silence lasted. The wall clock now wakes the engine for it, as for a refused exit's retry."""
    async with FakeBinance(Market.USDM) as fake:
        cancels: list[str] = []

        def refuse_and_fall_silent(method: str, path: str, _: float) -> None:
            if method == "DELETE" and path == "/fapi/v1/order":
                cancels.append(path)
                if len(cancels) <= TRIES:
                    fake.rest_faults.status_503 = 1
                    fake.hub.faults.hold_market = True  # no market frame reaches the bot from now on

        fake.on_request = refuse_and_fall_silent
        async with running(fake, GIVE_UP_RESTING, tmp_path, []) as runner:
            await until(lambda: len(cancels) >= TRIES, timeout=10)
            entry = fake.placed_ids[0]
            await until(lambda: fake.sim.order("BTCUSDT", entry).status.value == "CANCELED", timeout=5)
            sent, silent = len(cancels), fake.hub.faults.hold_market
            fake.hub.faults.hold_market = False
            said = [n["message"] for n in notices(runner) if n["kind"] == "cancel-failed"]
    assert silent and sent == TRIES + 1, cancels  # refused on every try, then sent again with no market frame
    assert said and "the order still works: sent again in 1 s" in said[0], said
