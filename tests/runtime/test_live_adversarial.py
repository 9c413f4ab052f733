"""A live bot attacked over loopback: order answers lost after Binance executed the order, 503s on
places and on cancels, a rate limit with Retry-After, a user stream that is down while an entry
fills, a partial fill whose rest is cancelled. Whatever happens, afterwards: the exchange never held
more than the rulebook's size, no entry was placed twice, the position has its stop, the journal
says what the exchange did, and neither the key nor the secret is in a log line."""

from __future__ import annotations

import asyncio
import json
import logging
import sqlite3
from decimal import Decimal

import pytest

from rulebot.core.enums import Market
from rulebot.core.events import Trade
from rulebot.runtime.runner import Runner
from rulebot.testing.fake_binance import FakeBinance

from .conftest import HOLD_ON_TRADE, until
from .test_live_position_binding import BOOK as BINDING_BOOK
from .test_live_position_binding import largest_position
from .test_live_runner import notices, running, seen

D = Decimal
SIZE = D("0.01")


def entry_orders(fake: FakeBinance) -> list[str]:
    """Client ids of the orders that could open a position which the exchange holds (any status)."""
    views = [fake.sim.order("BTCUSDT", c) for c in fake.placed_ids]
    return [o.client_order_id for o in views if o is not None and not (o.reduce_only or o.close_position)]


def rows(runner: Runner, kind: str) -> list[dict]:
    db = sqlite3.connect(runner.cfg.journal_path())
    try:
        return [json.loads(b) for (b,) in db.execute("SELECT body FROM entries WHERE kind = ? ORDER BY id", (kind,))]
    finally:
        db.close()


def journal_status(runner: Runner, cid: str) -> str | None:
    reports = [b for b in rows(runner, "order") if b.get("client_order_id") == cid]
    return reports[-1]["status"] if reports else None


def placed_in_journal(runner: Runner) -> list[str]:
    return [b["client_order_id"] for b in rows(runner, "command") if b.get("type") == "PlaceOrder"]


async def holds_one_entry_with_its_stop(fake: FakeBinance, runner: Runner) -> None:
    await until(lambda: bool(seen(runner, "positions")) and bool(fake.sim.open_algo_orders("BTCUSDT")), timeout=15)
    await until(lambda: runner.status()["states"] == {"BTCUSDT": "long"}, timeout=5)
    await asyncio.sleep(0.5)  # trades keep coming: the entry rule must stay quiet


@pytest.mark.parametrize(
    ("fault", "sends"),
    [
        ({"drop_after_execute": 1}, 1),  # executed; the connection breaks before the answer (a client timeout)
        ({"unknown_after_execute": 1}, 1),  # executed; 503 -1007 "execution status unknown"
        ({"status_503": 1}, 2),  # 503 -1001 "Service Unavailable.": not executed, sent again
        ({"status_429": 1, "retry_after_s": 1}, 2),  # 429 -1003 with Retry-After: not executed, sent after the wait
    ],
    ids=["timeout-accepted", "503-unknown", "503-unavailable", "429-retry-after"],
)
async def test_an_entry_whose_post_fails_is_on_the_exchange_once_with_its_stop(tmp_path, fault, sends):
    posts: list[float] = []
    async with FakeBinance(Market.USDM) as fake, largest_position(fake) as largest:

        def on_the_entry(method: str, path: str, at: float) -> None:
            if method == "POST" and path == "/fapi/v1/order":
                posts.append(at)
                if len(posts) == 1:
                    for name, value in fault.items():
                        setattr(fake.rest_faults, name, value)

        fake.on_request = on_the_entry
        async with running(fake, HOLD_ON_TRADE, tmp_path, []) as runner:
            await holds_one_entry_with_its_stop(fake, runner)
            st = runner.status()
    assert len(posts) == sends, posts  # an executed entry is looked up, never sent again
    assert largest[0] == SIZE, f"the exchange held {largest[0]}, the rulebook's size is {SIZE}"
    (entry,) = entry_orders(fake)
    assert fake.placed_ids.count(entry) == 1, fake.placed_ids
    assert placed_in_journal(runner).count(entry) == 1  # one command journaled, whatever was resent
    assert journal_status(runner, entry) == "FILLED"
    assert sorted(o["purpose"] for o in st["orders"]) == ["daily_cap", "stop_loss"]
    if "status_429" in fault:  # the entry waited out the Retry-After before it was sent again
        assert posts[1] - posts[0] >= 0.9, posts


@pytest.mark.parametrize("account_first", [False, True], ids=["order-first", "account-first"])
async def test_fills_reported_twice_and_before_the_entrys_answer_count_once(tmp_path, account_first):
    """The entry's answer is held 1.5 s: its fill arrives on the user stream first, every report
    twice, and the account update before or after the fill's order update."""
    async with FakeBinance(Market.USDM) as fake, largest_position(fake) as largest:
        fake.rest_faults.hold_next_answer_ms = 1_500
        fake.hub.faults.duplicate_user, fake.hub.faults.account_first = True, account_first
        async with running(fake, HOLD_ON_TRADE, tmp_path, []) as runner:
            await holds_one_entry_with_its_stop(fake, runner)
            await asyncio.sleep(1.5)  # the held answer arrives too
            st = runner.status()
    assert largest[0] == SIZE
    (entry,) = entry_orders(fake)
    assert [D(p["size"]) for p in st["positions"]] == [SIZE] and st["states"] == {"BTCUSDT": "long"}
    assert sorted(o["purpose"] for o in st["orders"]) == ["daily_cap", "stop_loss"]
    assert len(fake.sim.open_algo_orders("BTCUSDT")) == 2
    assert journal_status(runner, entry) == "FILLED"


@pytest.mark.parametrize(
    "fault",
    [{"drop_after_execute": 1}, {"unknown_after_execute": 1}, {"status_503": 1}],
    ids=["timeout-accepted", "503-unknown", "503-unavailable"],
)
async def test_a_stop_whose_post_fails_is_on_the_exchange_once(tmp_path, fault):
    posts: list[str] = []
    async with FakeBinance(Market.USDM) as fake:

        def on_the_first_stop(method: str, path: str, _: float) -> None:
            if method == "POST" and path == "/fapi/v1/algoOrder":
                posts.append(path)
                if len(posts) == 1:
                    for name, value in fault.items():
                        setattr(fake.rest_faults, name, value)

        fake.on_request = on_the_first_stop
        async with running(fake, HOLD_ON_TRADE, tmp_path, []) as runner:
            await holds_one_entry_with_its_stop(fake, runner)
            await until(lambda: len(fake.sim.open_algo_orders("BTCUSDT")) == 2, timeout=5)  # stop + daily cap
            await asyncio.sleep(0.5)
            st = runner.status()
            algos = [a.client_algo_id for a in fake.sim.open_algo_orders("BTCUSDT")]
    assert all(getattr(fake.rest_faults, name) == 0 for name in fault)  # the fault fired
    assert len(algos) == len(set(algos)) == 2, algos
    assert sorted(o["purpose"] for o in st["orders"]) == ["daily_cap", "stop_loss"]
    assert sorted(o["client_order_id"] for o in st["orders"]) == sorted(algos)


async def test_a_stop_held_back_by_a_rate_limit_is_placed_once_the_wait_is_over(tmp_path):
    """The stop's POST is answered 429 with Retry-After 2 s: every request waits, the stop is sent
    again after the wait, and nothing enters twice meanwhile."""
    posts: list[float] = []
    async with FakeBinance(Market.USDM) as fake, largest_position(fake) as largest:

        def limit_the_first_stop(method: str, path: str, at: float) -> None:
            if method == "POST" and path == "/fapi/v1/algoOrder":
                posts.append(at)
                if len(posts) == 1:
                    fake.rest_faults.status_429, fake.rest_faults.retry_after_s = 1, 2

        fake.on_request = limit_the_first_stop
        async with running(fake, HOLD_ON_TRADE, tmp_path, []) as runner:
            await holds_one_entry_with_its_stop(fake, runner)
            await until(lambda: len(fake.sim.open_algo_orders("BTCUSDT")) == 2, timeout=5)
            await asyncio.sleep(0.5)
            st = runner.status()
            algos = [a.client_algo_id for a in fake.sim.open_algo_orders("BTCUSDT")]
    assert fake.rest_faults.status_429 == 0 and posts[1] - posts[0] >= 1.9, posts
    assert largest[0] == SIZE
    assert len(entry_orders(fake)) == 1, entry_orders(fake)
    assert len(algos) == len(set(algos)) == 2
    assert sorted(o["purpose"] for o in st["orders"]) == ["daily_cap", "stop_loss"]


async def test_a_partial_fill_while_the_user_stream_is_down_then_the_rest_counts_once(tmp_path):
    """0.004 of the resting entry fills while the stream is down; the reconnect reads the account
    (0.004 held, the entry open with 0.004 filled); then the other 0.006 fills and is reported on
    the stream. The bot must hold 0.01, not 0.014, and its stop must cover it."""
    async with FakeBinance(Market.USDM) as fake, largest_position(fake) as largest:

        def no_listen_key(method: str, path: str, _: float) -> None:
            if method == "POST" and path.endswith("/listenKey"):
                fake.rest_faults.status_503 = 1

        async with running(fake, RESTING, tmp_path, []) as runner:
            await until(lambda: bool(open_entries(fake)), timeout=10)
            (entry,) = open_entries(fake)
            fake.on_request = no_listen_key
            await fake.expire_listen_key()
            await until(lambda: "user" in runner.status()["guards"]["streams_down"], timeout=5)
            await fake.feed(Trade("BTCUSDT", D(58990), D("0.004"), 0, True, 10**6, 10**6, 10**6))
            await until(lambda: bool(fake.sim.positions("BTCUSDT")), timeout=5)
            fake.on_request = None
            await until(lambda: "user" not in runner.status()["guards"]["streams_down"], timeout=15)
            await until(lambda: bool(seen(runner, "positions")), timeout=10)
            await fake.feed(Trade("BTCUSDT", D(58990), D("0.01"), 0, True, 10**6 + 1, 10**6 + 1, 10**6 + 1))
            await until(lambda: fake.sim.order("BTCUSDT", entry).status.value == "FILLED", timeout=5)
            await until(lambda: journal_status(runner, entry) == "FILLED", timeout=5)
            await asyncio.sleep(1.0)
            st = runner.status()
            stops = fake.sim.open_algo_orders("BTCUSDT")
    assert largest[0] == SIZE
    assert entry_orders(fake) == [entry]
    assert st["states"] == {"BTCUSDT": "long"} and [D(p["size"]) for p in st["positions"]] == [SIZE]
    assert any(s.close_position or s.quantity >= SIZE for s in stops), stops


@pytest.mark.parametrize(
    "fault",
    [{"drop_after_execute": 1}, {"unknown_after_execute": 1}, {"timestamp_1021": 2}],
    ids=["timeout-accepted", "503-unknown", "1021-twice"],
)
async def test_an_exit_whose_post_fails_closes_the_position_once_and_the_state_follows(tmp_path, fault):
    level = {"price": D(60000)}
    posts: list[str] = []
    async with (
        FakeBinance(Market.USDM) as fake,
        largest_position(fake) as largest,
        running(fake, BINDING_BOOK, tmp_path, [], price=lambda i: level["price"]) as runner,
    ):
        await holds_one_entry_with_its_stop(fake, runner)

        def on_the_exit(method: str, path: str, _: float) -> None:
            if method == "POST" and path == "/fapi/v1/order":
                posts.append(path)
                if len(posts) == 1:
                    for name, value in fault.items():
                        setattr(fake.rest_faults, name, value)

        fake.on_request = on_the_exit
        level["price"] = D(60060)  # the exit rule fires
        await until(lambda: not fake.sim.positions("BTCUSDT"), timeout=15)
        level["price"] = D(60030)  # between the levels: once flat, nothing enters
        await until(lambda: runner.status()["states"] == {"BTCUSDT": "flat"}, timeout=10)
        await asyncio.sleep(0.5)
        st = runner.status()
    assert all(getattr(fake.rest_faults, name) == 0 for name in fault)  # the fault fired
    assert largest[0] == SIZE and not fake.sim.positions("BTCUSDT")
    views = [fake.sim.order("BTCUSDT", c) for c in fake.placed_ids]
    exits = [o for o in views if o is not None and o.reduce_only and o.order_type.value == "MARKET"]
    assert len(exits) == 1 and len(entry_orders(fake)) == 1
    assert st["positions"] == [] and not fake.sim.open_algo_orders("BTCUSDT")  # its stops went with it


# A resting entry far below the market, given up every second: place, cancel, place, cancel …
RESTING_GIVE_UP = """\
rulebook: resting-give-up
market: usdm
symbols: [BTCUSDT]
account: {leverage: 3}
rules:
  - name: buy
    on: trade
    in: flat
    do: [{enter: {side: long, size: "0.01", order: limit, price: "50000"}}, {stop_loss: {distance: 5%}}, {goto: long}]
  - name: give_up
    on: every 1s
    in: long
    do: [exit, {goto: flat}]
"""


def open_entries(fake: FakeBinance) -> list[str]:
    return [o.client_order_id for o in fake.sim.open_orders("BTCUSDT") if not o.reduce_only]


@pytest.mark.parametrize(
    ("fault", "refused"),
    [
        ({"cancel_unknown_after_execute": 1}, False),  # the cancel executed; 503 -1007 "execution status unknown"
        ({"status_503": 1}, False),  # 503 -1001 "Service Unavailable.": not executed, sent again at once
        ({"timestamp_1021": 2}, True),  # -1021 twice (the cancel, and its resend after the clock resync)
        ({"status_503": 5}, True),  # 503 -1001 on every one of the transport's 5 tries
    ],
    ids=["503-unknown", "503-unavailable", "1021-twice", "503-every-try"],
)
async def test_a_cancel_whose_answer_fails_leaves_one_resting_entry_at_most(tmp_path, fault, refused):
    """The rule gives its resting entry up every second (`exit` then `goto: flat`, which waits for
    the entry's cancel). A cancel Binance refused without executing it must be sent again: it was
    not, and the bot stayed in `long` with the given-up entry resting on Binance for good."""
    most = [0]
    async with FakeBinance(Market.USDM) as fake:
        deletes: list[str] = []

        def on_the_first_cancel(method: str, path: str, _: float) -> None:
            if method == "DELETE" and path == "/fapi/v1/order":
                deletes.append(path)
                if len(deletes) == 1:
                    for name, value in fault.items():
                        setattr(fake.rest_faults, name, value)
            most[0] = max(most[0], len(open_entries(fake)))

        fake.on_request = on_the_first_cancel
        async with running(fake, RESTING_GIVE_UP, tmp_path, []) as runner:
            await until(lambda: len(deletes) >= 1, timeout=10)
            first = entry_orders(fake)[0]
            await until(lambda: journal_status(runner, first) == "CANCELED", timeout=10)
            await until(lambda: len(entry_orders(fake)) >= 3, timeout=10)  # the cycle goes on after the fault
            most[0] = max(most[0], len(open_entries(fake)))
    assert all(getattr(fake.rest_faults, name) == 0 for name in fault)  # the fault fired
    assert most[0] == 1, f"{most[0]} entries rested at once"
    assert fake.sim.order("BTCUSDT", first).status.value == "CANCELED"
    assert not fake.sim.positions("BTCUSDT")
    assert len(fake.placed_ids) == len(set(fake.placed_ids))
    said = [n["message"] for n in notices(runner) if n["kind"] == "cancel-failed" and first in n["message"]]
    if refused:  # the journal says it was refused, and that it is sent again
        assert said and all("sent again in" in m for m in said), said
    else:
        # The cancel took effect: the journal must not say Binance refused it. (After a -1007 its
        # resend was answered -2011, and the journal said "refused (-2013: Order does not exist.)".)
        assert not said, said


# A resting entry that fills while the user stream is down (its fill is published to nobody).
RESTING = HOLD_ON_TRADE.replace(
    '{enter: {side: long, size: "0.01"}}', '{enter: {side: long, size: "0.01", order: limit, price: "59000"}}'
)


async def test_an_entry_filled_while_the_user_stream_was_down_is_taken_from_rest_not_entered_again(tmp_path):
    level = {"price": D(60000)}
    async with FakeBinance(Market.USDM) as fake, largest_position(fake) as largest:

        def no_listen_key(method: str, path: str, _: float) -> None:
            if method == "POST" and path.endswith("/listenKey"):
                fake.rest_faults.status_503 = 1  # the user stream cannot come back for now

        async with running(fake, RESTING, tmp_path, [], price=lambda i: level["price"]) as runner:
            await until(lambda: bool(open_entries(fake)), timeout=10)
            (entry,) = open_entries(fake)
            fake.on_request = no_listen_key
            await fake.expire_listen_key()
            await until(lambda: "user" in runner.status()["guards"]["streams_down"], timeout=5)
            level["price"] = D(58900)  # the entry fills; its report goes to nobody
            await until(lambda: bool(fake.sim.positions("BTCUSDT")), timeout=10)
            fake.on_request = None
            await until(lambda: "user" not in runner.status()["guards"]["streams_down"], timeout=15)
            await holds_one_entry_with_its_stop(fake, runner)
            st = runner.status()
    assert largest[0] == SIZE
    assert entry_orders(fake) == [entry]
    assert journal_status(runner, entry) == "FILLED"
    assert [D(p["size"]) for p in st["positions"]] == [SIZE]
    assert sorted(o["purpose"] for o in st["orders"]) == ["daily_cap", "stop_loss"]


# A resting entry that expires 1.5 s after it was placed, filled in part before.
EXPIRING = HOLD_ON_TRADE.replace(
    '{enter: {side: long, size: "0.01"}}',
    '{enter: {side: long, size: "0.01", order: limit, price: "59000", expire: 2s}}',
)


@pytest.mark.parametrize("duplicated", [False, True], ids=["once", "every-report-twice"])
async def test_a_partly_filled_entry_whose_rest_is_cancelled_holds_the_part_with_its_stop(tmp_path, duplicated):
    async with FakeBinance(Market.USDM) as fake, largest_position(fake) as largest:
        fake.hub.faults.duplicate_user = duplicated
        async with running(fake, EXPIRING, tmp_path, []) as runner:
            await until(lambda: bool(open_entries(fake)), timeout=10)
            (entry,) = open_entries(fake)
            await fake.feed(Trade("BTCUSDT", D(58990), D("0.004"), 0, True, 10**6, 10**6, 10**6))
            await until(lambda: bool(fake.sim.positions("BTCUSDT")), timeout=5)
            await until(lambda: fake.sim.order("BTCUSDT", entry).status.value == "CANCELED", timeout=10)
            await until(lambda: bool(seen(runner, "positions")) and bool(fake.sim.open_algo_orders("BTCUSDT")), 10)
            await asyncio.sleep(1.0)  # trades keep coming: nothing enters again
            st = runner.status()
            (position,) = fake.sim.positions("BTCUSDT")
            stops = fake.sim.open_algo_orders("BTCUSDT")
    assert largest[0] == D("0.004") and position.amount == D("0.004")
    assert entry_orders(fake) == [entry]
    assert st["states"] == {"BTCUSDT": "long"} and [D(p["size"]) for p in st["positions"]] == [D("0.004")]
    assert any(s.close_position or s.quantity >= D("0.004") for s in stops)
    assert journal_status(runner, entry) == "CANCELED"
    fills = [b for b in rows(runner, "order") if b.get("client_order_id") == entry and b["status"] != "NEW"]
    assert D(fills[-1]["filled_qty"]) == D("0.004")


async def test_no_key_or_secret_reaches_a_log_line_under_faults(tmp_path, caplog):
    caplog.set_level(logging.DEBUG)
    async with FakeBinance(Market.USDM) as fake:
        fake.rest_faults.drop_after_execute = 1
        fake.rest_faults.timestamp_1021 = 1
        async with running(fake, HOLD_ON_TRADE, tmp_path, []) as runner:
            await holds_one_entry_with_its_stop(fake, runner)
            listen_key = fake.listen_key.key
            await fake.expire_listen_key()
            await until(lambda: sum(n["kind"] == "reconciled" for n in notices(runner)) >= 1, timeout=10)
    text = "\n".join(r.getMessage() for r in caplog.records) + caplog.text
    assert fake.api_secret not in text and fake.api_key not in text
    # The listen key reads the account's stream for an hour: the websockets library's debug line of
    # the handshake ("> GET /private/ws/<key> HTTP/1.1") showed it.
    assert listen_key and listen_key not in text and "/ws/<listen key>" in text
    assert "signature=" not in text
    journal = runner.cfg.journal_path().read_bytes()
    assert fake.api_secret.encode() not in journal and fake.api_key.encode() not in journal
