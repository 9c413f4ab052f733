"""Hot reload of a live bot over the fake exchange, in the awkward moments: an order on its way,
the state renamed under a position, two reloads at once. Nothing may be lost or loosened."""

from __future__ import annotations

import asyncio
import sqlite3
from decimal import Decimal

from rulebot.core.enums import Market, OrderType
from rulebot.core.events import Trade
from rulebot.testing.fake_binance import FakeBinance

from .conftest import until
from .test_live_reload import BOOK, RESTING, TIGHTER, TRAILING, held, notices, resting, stops
from .test_live_runner import running

D = Decimal


async def test_a_reload_while_the_exit_is_on_its_way_leaves_no_stop_behind_the_closed_position(tmp_path):
    """`sell`'s exit is on the exchange, its fill not heard, when a rulebook with a tighter stop is
    taken: the position is closing, and nothing of its stops may outlive it."""
    level = {"price": D(60000)}
    async with FakeBinance(Market.USDM) as fake:
        exit_sent = asyncio.Event()

        def hold_the_exit(method: str, path: str, _: float) -> None:
            if method == "POST" and path == "/fapi/v1/order" and held(fake) > 0:
                fake.on_request = None
                fake.rest_faults.hold_next_answer_ms = 1000
                fake.hub.faults.hold_user = True
                exit_sent.set()

        async with running(fake, BOOK, tmp_path, [], price=lambda i: level["price"]) as runner:
            await until(lambda: held(fake) == D("0.01") and stops(fake) == [D("57000.00")], timeout=10)
            fake.on_request = hold_the_exit
            level["price"] = D(60600)  # `sell`
            await asyncio.wait_for(exit_sent.wait(), 10)
            answer = await runner.request({"cmd": "reload", "text": TIGHTER})
            assert answer["ok"], answer
            fake.hub.faults.hold_user = False
            await until(lambda: held(fake) == 0 and not stops(fake), timeout=10)
            await asyncio.sleep(0.5)
            assert held(fake) == 0 and not stops(fake), stops(fake)
            assert runner.status()["states"] == {"BTCUSDT": "flat"}
            assert runner.status()["guards"]["halted"] is None
            level["price"] = D(60000)  # `buy` by the new rulebook: one stop, the new one
            await until(lambda: held(fake) == D("0.005") and stops(fake) == [D("58800.00")], timeout=10)
            await asyncio.sleep(0.3)
            assert stops(fake) == [D("58800.00")], notices(runner, "reload-stop")


PYRAMID = """\
rulebook: pyramid
market: usdm
symbols: [BTCUSDT]
account: {leverage: 3}
states:
  flat: {position: none}
  long: {position: long}
  added: {position: long}
rules:
  - name: buy
    on: trade
    in: flat
    when: price < 60020
    do: [{enter: {side: long, size: "0.01"}}, {stop_loss: {distance: 5%}}, {goto: long}]
  - name: add
    on: trade
    in: long
    when: price > 60200
    do: [{enter: {side: long, size: "0.01"}}, {stop_loss: {distance: 5%}}, {goto: added}]
  - name: sell
    on: trade
    in: added
    when: price > 60500
    do: [exit, {goto: flat}]
"""


async def test_a_reload_that_renames_the_state_the_bot_is_in_keeps_it_there_and_adds_nothing(tmp_path):
    """The bot has added to its long and sits in `added`; the new rulebook calls that state
    `topped` and changes nothing else. Before: the bot moved to `long`, the first state bound to a
    long, where `add` fired again: 0.03 BTC held where the rulebook says 0.02."""
    level = {"price": D(60000)}
    async with (
        FakeBinance(Market.USDM) as fake,
        running(fake, PYRAMID, tmp_path, [], price=lambda i: level["price"]) as runner,
    ):
        await until(lambda: held(fake) == D("0.01") and bool(stops(fake)), timeout=10)
        level["price"] = D(60300)  # `add`
        await until(lambda: held(fake) == D("0.02") and runner.status()["states"] == {"BTCUSDT": "added"}, timeout=10)
        await until(lambda: len(stops(fake)) == 1, timeout=10)  # one stop for the whole position
        protected = stops(fake)
        renamed = PYRAMID.replace("added", "topped")
        answer = await runner.request({"cmd": "reload", "text": renamed})
        assert answer["ok"], answer
        await asyncio.sleep(0.5)  # trades at 60,300 go on
        assert runner.status()["states"] == {"BTCUSDT": "topped"}
        assert held(fake) == D("0.02") and stops(fake) == protected
        level["price"] = D(60600)  # and the renamed state's rules run: `sell`
        await until(lambda: held(fake) == 0 and not stops(fake), timeout=10)


TWO = """\
rulebook: two
market: usdm
symbols: [BTCUSDT, ETHUSDT]
account: {leverage: 10}
states:
  flat: {position: none}
  long: {position: long}
rules:
  - name: buy
    on: trade
    in: flat
    when: price < 100
    do: [{enter: {side: long, size: "0.01"}}, {stop_loss: {distance: 5%}}, {goto: long}]
  - name: sell
    on: trade
    in: long
    when: price > 1000000
    do: [exit, {goto: flat}]
"""


async def test_a_symbol_dropped_and_added_back_trades_at_the_leverage_the_exchange_has(tmp_path):
    """ETHUSDT (flat) is dropped, then added back at `leverage: 3`. Before: the engine sized and
    guarded ETHUSDT at 3x while the exchange still had it at the 10x set at the start (no
    SetLeverage went out): a liquidation price three times nearer than the guard believed."""
    async with FakeBinance(Market.USDM) as fake, running(fake, TWO, tmp_path, []) as runner:
        await until(lambda: fake.sim.leverage("ETHUSDT") == 10 and runner.engine.time > 0, timeout=10)
        dropped = TWO.replace("[BTCUSDT, ETHUSDT]", "[BTCUSDT]")
        assert (await runner.request({"cmd": "reload", "text": dropped}))["ok"]
        back = TWO.replace("leverage: 10", "leverage: 3")
        answer = await runner.request({"cmd": "reload", "text": back})
        assert answer["ok"], answer
        assert runner.engine.leverage("ETHUSDT") == 3
        await until(lambda: fake.sim.leverage("ETHUSDT") == 3 and fake.sim.leverage("BTCUSDT") == 3, timeout=10)


async def test_a_reload_above_10x_and_a_looser_loss_cap_is_clamped_said_and_journaled(tmp_path):
    level = {"price": D(60000)}
    async with (
        FakeBinance(Market.USDM) as fake,
        running(fake, BOOK, tmp_path, [], price=lambda i: level["price"]) as runner,
    ):
        await until(lambda: held(fake) == D("0.01") and stops(fake) == [D("57000.00")], timeout=10)
        loose = BOOK.replace("account: {leverage: 3}", "account: {leverage: 20}\nrisk: {daily_loss_cap: 40%}")
        answer = await runner.request({"cmd": "reload", "text": loose.replace('size: "0.01"', 'size: "0.011"')})
        assert answer["ok"], answer
        said = "\n".join(answer["warnings"])
        assert "leverage 20x" in said and "clamped to 10x" in said and "daily_loss_cap: 40%" in said, said
        await until(lambda: fake.sim.leverage("BTCUSDT") == 10, timeout=10)
        await asyncio.sleep(0.3)
        assert fake.sim.leverage("BTCUSDT") == 10 and runner.engine.leverage("BTCUSDT") == 10
        assert runner.engine.book.risk.max_leverage == 10 and runner.engine.book.risk.daily_loss_cap_fraction == D(
            "0.05"
        )
        assert held(fake) == D("0.01") and stops(fake) == [D("57000.00")]
    with sqlite3.connect(runner.cfg.journal_path()) as db:
        (body,) = db.execute("SELECT body FROM entries WHERE kind = 'reload'").fetchone()
    assert "clamped to 10x" in body and "daily_loss_cap" in body


async def test_a_reload_undone_by_the_next_before_its_stop_is_heard_leaves_the_first_stop_alone(tmp_path):
    """5% → 2% → 5% before the exchange's word on the 2% stop: one stop, at 5%, at every moment
    after the first reload there is at least one, and the position stays whole."""
    level = {"price": D(60000)}
    async with (
        FakeBinance(Market.USDM) as fake,
        running(fake, BOOK, tmp_path, [], price=lambda i: level["price"]) as runner,
    ):
        await until(lambda: held(fake) == D("0.01") and stops(fake) == [D("57000.00")], timeout=10)
        bare: list[list[Decimal]] = []
        fake.on_request = lambda m, p, _: bare.append(stops(fake)) if m == "DELETE" and not stops(fake) else None
        fake.hub.faults.hold_user = True
        assert (await runner.request({"cmd": "reload", "text": TIGHTER}))["ok"]
        back = await runner.request({"cmd": "reload", "text": BOOK})
        assert back["ok"] and not back.get("unchanged"), back
        fake.hub.faults.hold_user = False
        await until(lambda: stops(fake) == [D("57000.00")], timeout=10)
        await asyncio.sleep(0.5)
        assert stops(fake) == [D("57000.00")] and held(fake) == D("0.01") and not bare
        assert runner.status()["guards"]["halted"] is None


async def test_a_reload_while_the_stop_is_on_its_way_ends_with_the_new_stop_alone(tmp_path):
    """The entry filled and its 5% stop is on the exchange, its answer and NEW not yet heard, when
    the 2% rulebook is taken: one stop at the end, the new rule's."""
    level = {"price": D(60000)}
    async with FakeBinance(Market.USDM) as fake:
        stop_sent = asyncio.Event()

        def hold_the_stop(method: str, path: str, _: float) -> None:
            if method == "POST" and path == "/fapi/v1/algoOrder" and held(fake) > 0:
                fake.on_request = None
                fake.rest_faults.hold_next_answer_ms = 1000
                fake.hub.faults.hold_user = True
                stop_sent.set()

        fake.on_request = hold_the_stop
        async with running(fake, BOOK, tmp_path, [], price=lambda i: level["price"]) as runner:
            await asyncio.wait_for(stop_sent.wait(), 10)
            answer = await runner.request({"cmd": "reload", "text": TIGHTER})
            assert answer["ok"], answer
            fake.hub.faults.hold_user = False
            await until(lambda: stops(fake) == [D("58800.00")], timeout=10)
            await asyncio.sleep(0.5)
            assert stops(fake) == [D("58800.00")] and held(fake) == D("0.01")
            assert runner.status()["guards"]["halted"] is None


async def test_a_reload_that_cancels_a_partly_filled_entry_keeps_what_filled_under_a_stop(tmp_path):
    """The resting 0.01 entry has filled 0.004 when a rulebook that sends 0.005 is taken: the rest is
    cancelled, and the 0.004 held stays in the long state with a stop for all of it."""
    level = {"price": D(60000)}
    async with (
        FakeBinance(Market.USDM) as fake,
        running(fake, RESTING, tmp_path, [], price=lambda i: level["price"]) as runner,
    ):
        await until(lambda: resting(fake) == [D("0.01")], timeout=10)
        (limit,) = [o.price for o in fake.sim.open_orders("BTCUSDT") if o.order_type is OrderType.LIMIT]
        await fake.feed(Trade("BTCUSDT", limit - 50, D("0.004"), 0, True, 10**6, 10**6, 10**6))
        await until(lambda: held(fake) == D("0.004"), timeout=10)
        answer = await runner.request({"cmd": "reload", "text": RESTING.replace('size: "0.01"', 'size: "0.005"')})
        assert answer["ok"], answer
        await until(lambda: not resting(fake) and bool(stops(fake)), timeout=10)
        await asyncio.sleep(0.5)
        assert held(fake) == D("0.004") and not resting(fake)
        assert runner.status()["states"] == {"BTCUSDT": "long"}
        (stop,) = [o for o in fake.sim.open_algo_orders("BTCUSDT") if o.trigger_price and o.trigger_price > 50000]
        assert stop.close_position or stop.quantity >= D("0.004"), stop


async def test_a_stop_the_rule_names_again_after_a_reload_without_it_moves_to_the_new_definition(tmp_path):
    """5% stop; a reload whose rule no longer names it keeps it (and says so); the next reload names
    it again, at 2%. Before: it stayed at 5% without a word (the rulebook it was compared with did not
    name it, so it was "not the rule's to say"), where 5% → 2% in one reload moves it."""
    level = {"price": D(60000)}
    async with (
        FakeBinance(Market.USDM) as fake,
        running(fake, BOOK, tmp_path, [], price=lambda i: level["price"]) as runner,
    ):
        await until(lambda: held(fake) == D("0.01") and stops(fake) == [D("57000.00")], timeout=10)
        answer = await runner.request({"cmd": "reload", "text": BOOK.replace("{stop_loss: {distance: 5%}}, ", "")})
        assert answer["ok"] and any("no longer names it" in w for w in answer["warnings"]), answer
        answer = await runner.request({"cmd": "reload", "text": BOOK.replace("distance: 5%", "distance: 2%")})
        assert answer["ok"], answer
        await until(lambda: stops(fake) == [D("58800.00")], timeout=10)
        await asyncio.sleep(0.3)
        assert stops(fake) == [D("58800.00")] and held(fake) == D("0.01")


async def test_a_reload_keeps_the_trailing_stops_high_water_mark(tmp_path):
    """Up to 61,000, back to 60,800, reloaded (callback 1% → 2%), down to 60,350: the working trailing
    stop still trails from 61,000 (trigger 60,390) and closes; placed again at the reload it would
    trail from 60,800 (60,192) and the position would still be open."""
    level = {"price": D(60000)}
    trailing = TRAILING.replace("price > 60500", "price > 70000")
    async with (
        FakeBinance(Market.USDM) as fake,
        running(fake, trailing, tmp_path, [], price=lambda i: level["price"]) as runner,
    ):
        await until(lambda: held(fake) == D("0.01") and trails(fake) == [D(1)], timeout=10)
        for price in (D(61000), D(60800)):
            level["price"] = price
            await until(lambda p=price: runner.engine.state.runs["BTCUSDT"].market.last == p, timeout=10)
            await asyncio.sleep(0.2)
        answer = await runner.request({"cmd": "reload", "text": trailing.replace("callback: 1%", "callback: 2%")})
        assert answer["ok"], answer
        level["price"] = D(60350)
        await until(lambda: held(fake) == 0 and not trails(fake), timeout=10)


def trails(fake: FakeBinance) -> list[Decimal | None]:
    return [o.callback_rate for o in fake.sim.open_algo_orders("BTCUSDT") if o.callback_rate is not None]


async def test_a_resting_entry_that_fills_while_the_reloads_cancel_is_on_its_way_is_held_once(tmp_path):
    """The reload cancels the resting 0.01 entry (the new rule sends 0.005); it fills before the
    cancel lands. What filled is held with a stop for all of it, in `long`, and nothing is added."""
    level = {"price": D(60000)}
    async with (
        FakeBinance(Market.USDM) as fake,
        running(fake, RESTING, tmp_path, [], price=lambda i: level["price"]) as runner,
    ):
        await until(lambda: resting(fake) == [D("0.01")], timeout=10)
        fake.rest_faults.slow_requests, fake.rest_faults.slow_ms = 1, 800  # the cancel waits
        answer = await runner.request({"cmd": "reload", "text": RESTING.replace('size: "0.01"', 'size: "0.005"')})
        assert answer["ok"], answer
        level["price"] = D(59800)  # the resting entry fills meanwhile
        await until(lambda: held(fake) == D("0.01") and bool(stops(fake)), timeout=10)
        await asyncio.sleep(1.5)
        assert held(fake) == D("0.01") and not resting(fake) and len(stops(fake)) == 1
        assert runner.status()["states"] == {"BTCUSDT": "long"}
        assert runner.status()["guards"]["halted"] is None
