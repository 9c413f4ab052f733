"""The local order book: Binance's futures snapshot + diff algorithm, gaps and resyncs."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from rulebot.binance.payloads.market import DepthUpdate, parse_depth_update
from rulebot.binance.payloads.market_data import DepthSnapshot, parse_depth
from rulebot.core.account_events import StreamStatus
from rulebot.core.events import BookTop
from rulebot.testing.shared import PAYLOADS
from rulebot.venues.binance.market_stream import MarketStream
from rulebot.venues.binance.order_book import BookSync, LocalOrderBook
from rulebot.venues.binance.ws import Backoff

D = Decimal
SNAPSHOT = parse_depth(json.loads((PAYLOADS / "rest_fapi_v1_depth.json").read_text()), "BTCUSDT")
L = SNAPSHOT.last_update_id  # 1027024


def diff(first: int, last: int, prev: int, bids=(), asks=()) -> DepthUpdate:
    return DepthUpdate("BTCUSDT", first, last, prev, tuple(bids), tuple(asks), 0, 0)


def level(price: str, qty: str) -> tuple[Decimal, Decimal]:
    return (D(price), D(qty))


# -- the algorithm, step by step (FACTS §9.1) -----------------------------------------------------


def test_diffs_older_than_the_snapshot_are_dropped_and_the_first_applied_straddles_it():
    book = BookSync("BTCUSDT")
    book.on_diff(diff(L - 30, L - 10, L - 31, bids=[level("3.9", "1")]))  # u < L: dropped
    book.on_diff(diff(L - 9, L + 6, L - 10, bids=[level("4.00000000", "0")], asks=[level("4.1", "5")]))
    book.on_diff(diff(L + 7, L + 9, L + 6, bids=[level("3.99", "2")]))
    assert book.needs_snapshot and not book.synced
    book.on_snapshot(SNAPSHOT)
    assert book.synced and book.last_update_id == L + 9
    assert book.bids == {D("3.99"): D(2)}  # 4.0 removed, 3.9 never applied
    assert book.asks == {D("4.00000200"): D(12), D("4.1"): D(5)}
    assert book.best() == (D("3.99"), D("4.00000200"))


def test_the_real_diff_payload_chains_from_its_pu():
    d = parse_depth_update(json.loads((PAYLOADS / "ws_depthUpdate.json").read_text()))  # U 157, u 160, pu 149
    book = BookSync(d.symbol)
    book.on_diff(d)
    book.on_snapshot(DepthSnapshot(d.symbol, 158, (level("0.0023", "1"),), (), None, None))
    assert book.synced and book.bids == {D("0.0023"): D(1), D("0.0024"): D(10)}
    book.on_diff(diff(161, 170, 160, asks=[level("0.0026", "0")]))
    assert book.synced and book.asks == {}
    book.on_diff(diff(175, 180, 171))  # 171..174 never came
    assert not book.synced and book.resyncs == 1 and book.needs_snapshot and book.bids == {}


def test_a_snapshot_older_than_every_buffered_diff_is_fetched_again():
    book = BookSync("BTCUSDT")
    book.on_diff(diff(L + 5, L + 8, L + 4))
    book.on_snapshot(SNAPSHOT)
    assert not book.synced and book.needs_snapshot and book.stale_snapshots == 1


def test_a_snapshot_newer_than_the_buffer_waits_for_the_diff_that_covers_it():
    book = BookSync("BTCUSDT")
    book.on_diff(diff(L - 20, L - 10, L - 21))
    book.on_snapshot(SNAPSHOT)
    assert not book.synced and not book.needs_snapshot  # no new request: the stream catches up
    book.on_diff(diff(L - 9, L + 1, L - 10, asks=[level("5", "1")]))
    assert book.synced and book.last_update_id == L + 1 and D(5) in book.asks


def test_a_repeated_diff_is_ignored_and_removing_an_absent_level_is_normal():
    book = BookSync("BTCUSDT")
    book.on_diff(diff(L, L + 2, L - 1, bids=[level("1", "0")]))
    book.on_snapshot(SNAPSHOT)
    book.on_diff(diff(L, L + 2, L - 1))  # the overlap of a rollover
    assert book.synced and book.resyncs == 0 and book.bids == {D("4.00000000"): D(431)}


def test_invalidate_throws_the_book_away():
    book = BookSync("BTCUSDT")
    book.on_diff(diff(L, L + 2, L - 1))
    book.on_snapshot(SNAPSHOT)
    book.invalidate()
    assert not book.synced and book.needs_snapshot and book.bids == {} and book.resyncs == 1


# -- the invariant, for any sequence of updates, lost diffs and snapshot timings ------------------

PRICES = [D(p) for p in range(100, 108)]


@st.composite
def exchange_runs(draw: st.DrawFn) -> list[tuple[list[tuple[int, Decimal, Decimal]], bool, int]]:
    """Diffs of 1-3 updates each as (levels, lost?, how long the snapshot answer lags)."""
    n = draw(st.integers(5, 40))
    return [
        (
            draw(
                st.lists(
                    st.tuples(
                        st.integers(0, 1),
                        st.sampled_from(PRICES),
                        st.sampled_from([D(0), D(1), D(2)]),
                    ),
                    min_size=1,
                    max_size=3,
                )
            ),
            draw(st.booleans()) and draw(st.booleans()),  # lost about a quarter of the time
            draw(st.integers(0, 2)),
        )
        for _ in range(n)
    ]


@settings(max_examples=60, deadline=None)
@given(runs=exchange_runs())
def test_a_synced_book_always_equals_the_exchanges_book_and_resyncs_after_any_gap(runs):
    truth: tuple[dict, dict] = ({}, {})
    history: dict[int, tuple[dict, dict]] = {1000: ({}, {})}
    diffs: list[DepthUpdate] = []
    update_id = 1000
    for levels, _lost, _lag in runs:  # the exchange's side: every diff and the book after it
        first = update_id + 1
        for side, price, qty in levels:
            update_id += 1
            book = truth[side]
            book.pop(price, None) if qty == 0 else book.__setitem__(price, qty)
        bids = tuple((p, q) for s, p, q in levels if s == 0)
        asks = tuple((p, q) for s, p, q in levels if s == 1)
        diffs.append(diff(first, update_id, diffs[-1].final_update_id if diffs else 1000, bids, asks))
        history[update_id] = (dict(truth[0]), dict(truth[1]))

    def snapshot(i: int) -> DepthSnapshot:
        u = diffs[i].final_update_id if i >= 0 else 1000
        bids, asks = history[u]
        return DepthSnapshot("BTCUSDT", u, tuple(bids.items()), tuple(asks.items()), None, None)

    book, pending = BookSync("BTCUSDT"), None  # pending: when the snapshot request was made
    for i, (d, (_levels, lost, lag)) in enumerate(zip(diffs, runs, strict=True)):
        if book.needs_snapshot and pending is None:
            pending = i
        if pending is not None and i - pending >= lag:  # the answer: the book as of diff i - 1
            book.on_snapshot(snapshot(i - 1))
            pending = None
        if lost:
            continue
        book.on_diff(d)
        if book.synced:
            assert (book.bids, book.asks) == history[book.last_update_id]
    # The stream goes on without loss (diffs that change nothing): the book comes back, right.
    u = diffs[-1].final_update_id
    for _ in range(3):
        if book.needs_snapshot:
            book.on_snapshot(DepthSnapshot("BTCUSDT", u, tuple(truth[0].items()), tuple(truth[1].items()), None, None))
        book.on_diff(diff(u + 1, u + 1, u))
        u += 1
    assert book.synced and (book.bids, book.asks) == truth


# -- over the fake exchange ------------------------------------------------------------------------


async def until(cond: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not cond():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.005)


def top(i: int) -> BookTop:
    px = D(60000 + i)
    return BookTop("BTCUSDT", px, D(1 + i), px + D("0.1"), D(2 + i), 0, i)


async def test_the_book_follows_the_exchange_through_sequence_gaps_and_a_dropped_socket(fake, rest):
    book = LocalOrderBook("BTCUSDT", rest.depth, retry_s=0.02)
    stream = MarketStream(
        rest.endpoints,
        ["btcusdt@depth@100ms"],
        book.on_event,
        backfill=None,
        backoff=Backoff(0.01, 0.02),
    )
    stream.start()
    await until(lambda: fake.hub.connections == 1)
    fake.hub.faults.gap_every = 9  # one diff in nine never reaches anyone
    for i in range(60):
        if i == 30:
            await fake.hub.drop_all()  # the diffs sent while it reconnects are lost too
        await fake.feed(top(i))
        await asyncio.sleep(0.003)  # a market's pace: the client keeps up between diffs
    fake.hub.faults.gap_every = None
    await fake.feed(top(60))
    snap = fake.depth_snapshot("BTCUSDT", 1000)
    await until(lambda: book.synced and book.last_update_id == snap["lastUpdateId"])
    assert book.bids == {D(p): D(q) for p, q in snap["bids"]} and book.asks == {D(p): D(q) for p, q in snap["asks"]}
    assert book.best() == (D(60060), D("60060.1"))
    assert book.resyncs >= 3 and book.snapshots >= 4
    await stream.stop()
    await book.close()


async def test_a_failed_snapshot_is_retried_and_a_disconnect_throws_the_book_away(fake, rest):
    calls = 0

    async def flaky_depth(symbol: str) -> dict:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise ConnectionError("REST down")
        return await rest.depth(symbol)

    book = LocalOrderBook("BTCUSDT", flaky_depth, retry_s=0.02)
    stream = MarketStream(rest.endpoints, ["btcusdt@depth"], book.on_event)
    stream.start()
    await until(lambda: fake.hub.connections == 1)
    for i in range(5):
        await fake.feed(top(i))
        await asyncio.sleep(0.01)
    await book.wait_synced(2)
    assert book.fetch_errors == 1 and "REST down" in book.last_error
    await book.on_event(StreamStatus("market:public", False, 0, "connection closed"))
    assert not book.synced and book.bids == {}
    await fake.feed(top(5))
    await book.wait_synced(2)
    assert book.best() == (D(60005), D("60005.1"))
    await stream.stop()
    await book.close()
