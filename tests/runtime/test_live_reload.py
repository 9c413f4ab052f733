"""Hot reload of a live bot over the fake exchange: what happens to a position's working stops when
the rulebook changes under it, and that the next entry follows the new rulebook."""

from __future__ import annotations

import asyncio
import sqlite3
from decimal import Decimal

from rulebot.core.enums import Market, OrderType
from rulebot.testing.fake_binance import FakeBinance

from .conftest import until
from .test_live_runner import running

D = Decimal
BOOK = """\
rulebook: reloaded
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
    do: [{enter: {side: long, size: "0.01"}}, {stop_loss: {distance: 5%}}, {goto: long}]
  - name: sell
    on: trade
    in: long
    when: price > 60500
    do: [exit, {goto: flat}]
"""
TIGHTER = BOOK.replace('size: "0.01"', 'size: "0.005"').replace("distance: 5%", "distance: 2%")


def stops(fake: FakeBinance) -> list[Decimal]:
    """The triggers of the position's stop-losses (the daily loss cap's stop is far below 50,000)."""
    return [
        o.trigger_price
        for o in fake.sim.open_algo_orders("BTCUSDT")
        if o.order_type is OrderType.STOP_MARKET and o.trigger_price is not None and o.trigger_price > 50000
    ]


def held(fake: FakeBinance) -> Decimal:
    return sum((abs(p.amount) for p in fake.sim.positions("BTCUSDT")), D(0))


def notices(runner, kind: str) -> list[str]:
    with sqlite3.connect(runner.cfg.journal_path()) as db:
        rows = db.execute("SELECT body FROM entries WHERE kind = 'notice' AND body LIKE ?", (f'%"{kind}"%',))
        return [b for (b,) in rows.fetchall()]


async def test_a_reload_with_a_tighter_stop_moves_the_working_stop_with_no_moment_unprotected(tmp_path):
    """Before: the working stop stayed at 5% (57,000) under the reloaded 2% rule for as long as the
    position lived; only the next entry got 2%."""
    level = {"price": D(60000)}
    at_cancel: list[list[Decimal]] = []
    async with (
        FakeBinance(Market.USDM) as fake,
        running(fake, BOOK, tmp_path, [], price=lambda i: level["price"]) as runner,
    ):
        await until(lambda: held(fake) == D("0.01") and len(stops(fake)) == 1, timeout=10)
        entry = fake.sim.positions("BTCUSDT")[0].entry_price
        assert stops(fake) == [D("57000.00")] and entry == D(60000)

        def watch_cancels(method: str, path: str, _: float) -> None:
            if method == "DELETE" and path == "/fapi/v1/algoOrder":
                at_cancel.append(stops(fake))  # what is working as a stop goes

        fake.on_request = watch_cancels
        answer = await runner.request({"cmd": "reload", "text": TIGHTER})
        assert answer["ok"], answer
        await until(lambda: stops(fake) == [D("58800.00")], timeout=10)
        assert at_cancel == [[D("57000.00"), D("58800.00")]], "the old stop went before the new one worked"
        assert any("58800" in n for n in notices(runner, "reload-stop")), notices(runner, "reload-stop")
        level["price"] = D(60600)  # `sell`
        await until(lambda: held(fake) == 0, timeout=10)
        level["price"] = D(60000)  # `buy` again, by the new rulebook
        await until(lambda: held(fake) == D("0.005") and stops(fake) == [D("58800.00")], timeout=10)


async def test_a_reloaded_stop_the_price_has_already_passed_closes_the_position_once(tmp_path):
    """The new rule's stop is above the price (it would trigger at once: -2021). The old stop was not
    cancelled first, so the position was never bare; and as for any stop-loss already passed when it
    arrives (docs/actions.md), the position the reloaded rulebook says to be out of is closed at market,
    once, and the old stop goes with it."""
    level = {"price": D(60000)}
    async with (
        FakeBinance(Market.USDM) as fake,
        running(fake, BOOK, tmp_path, [], price=lambda i: level["price"]) as runner,
    ):
        await until(lambda: held(fake) == D("0.01") and stops(fake) == [D("57000.00")], timeout=10)
        level["price"] = D(60050)  # above the `buy` level (no entry after the close), below the new stop
        await until(lambda: runner.engine.state.runs["BTCUSDT"].market.last == D(60050), timeout=10)
        answer = await runner.request({"cmd": "reload", "text": BOOK.replace("distance: 5%", 'price: "60100"')})
        assert answer["ok"], answer
        await until(lambda: held(fake) == 0 and stops(fake) == [], timeout=10)
        await asyncio.sleep(0.3)
        assert held(fake) == 0
        assert runner.status()["guards"]["halted"] is None


async def test_a_reload_that_cannot_take_over_keeps_the_old_rulebook_and_every_stop(tmp_path):
    level = {"price": D(60000)}
    async with (
        FakeBinance(Market.USDM) as fake,
        running(fake, BOOK, tmp_path, [], price=lambda i: level["price"]) as runner,
    ):
        await until(lambda: held(fake) == D("0.01") and stops(fake) == [D("57000.00")], timeout=10)
        version = runner.status()["version"]
        for text, why in [
            (BOOK.replace("BTCUSDT", "ETHUSDT"), "drops BTCUSDT"),
            (TIGHTER.replace("price > 60500", "price >> 60500"), "error: shift"),
            ("rules: [1, 2", "YAML syntax error"),
        ]:
            answer = await runner.request({"cmd": "reload", "text": text})
            assert not answer["ok"] and why in answer["errors"][0], answer
        await asyncio.sleep(0.3)
        status = runner.status()
        assert status["version"] == version and status["states"] == {"BTCUSDT": "long"}
        assert status["guards"]["halted"] is None and stops(fake) == [D("57000.00")]
        # a rulebook without the state the bot is in: moved to the one its position binds
        renamed = BOOK.replace("long: {position: long}", "holding: {position: long}")
        renamed = renamed.replace("in: long", "in: holding").replace("goto: long", "goto: holding")
        assert (await runner.request({"cmd": "reload", "text": renamed}))["ok"]
        await asyncio.sleep(0.3)
        assert runner.status()["states"] == {"BTCUSDT": "holding"} and stops(fake) == [D("57000.00")]
        level["price"] = D(60600)  # and its rules run on: `sell` in `holding`
        await until(lambda: held(fake) == 0 and not stops(fake), timeout=10)


async def test_a_reload_while_the_entry_is_on_its_way_gives_its_fill_the_new_rules_stop(tmp_path):
    """The entry (0.01, sent by the old rulebook) is on the exchange, its answer and fill not yet
    heard, when the 2% rulebook is taken. Before: its fill got the old rulebook's 5% stop."""
    level = {"price": D(60000)}
    async with FakeBinance(Market.USDM) as fake:
        entry_sent = asyncio.Event()

        def hold_the_entry(method: str, path: str, _: float) -> None:
            if method == "POST" and path == "/fapi/v1/order":
                fake.on_request = None
                fake.rest_faults.hold_next_answer_ms = 1000  # its answer is on its way during the reload
                fake.hub.faults.hold_user = True  # and its fill reaches the bot after it
                entry_sent.set()

        fake.on_request = hold_the_entry
        async with running(fake, BOOK, tmp_path, [], price=lambda i: level["price"]) as runner:
            await asyncio.wait_for(entry_sent.wait(), 10)
            answer = await runner.request({"cmd": "reload", "text": TIGHTER})
            assert answer["ok"], answer
            fake.hub.faults.hold_user = False
            await until(lambda: bool(stops(fake)), timeout=10)
            await asyncio.sleep(0.3)
            assert held(fake) == D("0.01")  # sent before the reload: it is what it is
            assert stops(fake) == [D("58800.00")]


TRAILING = BOOK.replace("{stop_loss: {distance: 5%}}", "{trailing_stop: {callback: 1%}}")


async def test_a_reload_that_changes_a_trailing_stops_callback_says_the_working_one_keeps_its_own(tmp_path):
    """Placed again, a trailing stop starts its trail over from the price and drops the high it
    followed: the working one stays, and the operator and the journal are told (before: nothing)."""
    level = {"price": D(60000)}

    def trailing(fake: FakeBinance) -> list[Decimal | None]:
        return [o.callback_rate for o in fake.sim.open_algo_orders("BTCUSDT") if o.callback_rate is not None]

    async with (
        FakeBinance(Market.USDM) as fake,
        running(fake, TRAILING, tmp_path, [], price=lambda i: level["price"]) as runner,
    ):
        await until(lambda: held(fake) == D("0.01") and trailing(fake) == [D(1)], timeout=10)
        answer = await runner.request({"cmd": "reload", "text": TRAILING.replace("callback: 1%", "callback: 2%")})
        assert answer["ok"], answer
        assert any("keeps its callback 1" in w for w in answer["warnings"]), answer
        assert any("keeps its callback 1" in n for n in notices(runner, "reload-stop"))
        await asyncio.sleep(0.3)
        assert trailing(fake) == [D(1)]
        level["price"] = D(60600)  # `sell`, then `buy` again: the new callback
        await until(lambda: held(fake) == 0, timeout=10)
        level["price"] = D(60000)
        await until(lambda: held(fake) == D("0.01") and trailing(fake) == [D(2)], timeout=10)


async def test_two_reloads_before_the_first_stops_move_is_heard_leave_one_stop(tmp_path):
    level = {"price": D(60000)}
    async with (
        FakeBinance(Market.USDM) as fake,
        running(fake, BOOK, tmp_path, [], price=lambda i: level["price"]) as runner,
    ):
        await until(lambda: held(fake) == D("0.01") and stops(fake) == [D("57000.00")], timeout=10)
        fake.hub.faults.hold_user = True  # the first new stop's NEW is not heard before the second reload
        assert (await runner.request({"cmd": "reload", "text": TIGHTER}))["ok"]
        assert (await runner.request({"cmd": "reload", "text": TIGHTER.replace("distance: 2%", "distance: 3%")}))["ok"]
        fake.hub.faults.hold_user = False
        await until(lambda: D("58200.00") in stops(fake), timeout=10)
        await asyncio.sleep(0.5)
        assert stops(fake) == [D("58200.00")]


async def test_a_reload_whose_rule_no_longer_names_the_stop_keeps_it_and_says_so(tmp_path):
    level = {"price": D(60000)}
    async with (
        FakeBinance(Market.USDM) as fake,
        running(fake, BOOK, tmp_path, [], price=lambda i: level["price"]) as runner,
    ):
        await until(lambda: held(fake) == D("0.01") and stops(fake) == [D("57000.00")], timeout=10)
        answer = await runner.request({"cmd": "reload", "text": BOOK.replace("{stop_loss: {distance: 5%}}, ", "")})
        assert answer["ok"] and any("no longer names it" in w for w in answer["warnings"]), answer
        await asyncio.sleep(0.3)
        assert stops(fake) == [D("57000.00")]


async def test_a_reload_that_changes_only_a_param_of_the_stops_price_moves_it(tmp_path):
    """`price: entry_price * k` reads the same with k 0.95 or 0.98: compared as written, the
    changed param went unseen and the stop stayed at 57,000."""
    level = {"price": D(60000)}
    params = BOOK.replace("rules:", "params:\n  k: 0.95\nrules:").replace("distance: 5%", 'price: "entry_price * k"')
    async with (
        FakeBinance(Market.USDM) as fake,
        running(fake, params, tmp_path, [], price=lambda i: level["price"]) as runner,
    ):
        await until(lambda: held(fake) == D("0.01") and stops(fake) == [D("57000.00")], timeout=10)
        assert (await runner.request({"cmd": "reload", "text": params.replace("k: 0.95", "k: 0.98")}))["ok"]
        await until(lambda: stops(fake) == [D("58800.00")], timeout=10)


RESTING = BOOK.replace(
    '{enter: {side: long, size: "0.01"}}', '{enter: {side: long, size: "0.01", order: limit, price: "price - 100"}}'
)


def resting(fake: FakeBinance) -> list[Decimal]:
    return [o.quantity for o in fake.sim.open_orders("BTCUSDT") if o.order_type is OrderType.LIMIT]


async def test_a_reload_that_halves_the_size_under_a_resting_entry_sends_it_again_at_the_new_size(tmp_path):
    """The old rulebook's 0.01 limit entry rests; the new one says 0.005. Before: the 0.01 filled
    later, twice what the running rulebook says."""
    level = {"price": D(60000)}
    async with (
        FakeBinance(Market.USDM) as fake,
        running(fake, RESTING, tmp_path, [], price=lambda i: level["price"]) as runner,
    ):
        await until(lambda: resting(fake) == [D("0.01")], timeout=10)
        answer = await runner.request({"cmd": "reload", "text": RESTING.replace('size: "0.01"', 'size: "0.005"')})
        assert answer["ok"], answer
        await until(lambda: resting(fake) == [D("0.005")], timeout=10)
        level["price"] = D(59800)  # it fills
        await until(lambda: held(fake) == D("0.005") and bool(stops(fake)), timeout=10)
        await asyncio.sleep(0.3)
        assert held(fake) == D("0.005") and not resting(fake)
