"""MarketStream over the fake exchange: what survives cuts, rollovers and gaps, exactly."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from decimal import Decimal

import pytest

from rulebot.binance.payloads.market import DepthUpdate, Liquidation
from rulebot.core.account_events import StreamStatus
from rulebot.core.enums import Market, OrderStatus, Side
from rulebot.core.events import BookTop, CandleClosed, MarkPrice, Trade
from rulebot.testing.fake_binance import FakeBinance
from rulebot.venues.binance.endpoints import Endpoints
from rulebot.venues.binance.market_stream import (
    MarketStream,
    candle_backfill_from,
    connection_groups,
    stream_names,
)
from rulebot.venues.binance.ws import Backoff

D = Decimal
FAST = {"backoff": Backoff(0.005, 0.02)}  # reconnect at once: the feed goes on meanwhile


async def until(cond: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not cond():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.005)


class Sink:
    def __init__(self) -> None:
        self.events: list[object] = []

    async def __call__(self, e: object) -> None:
        self.events.append(e)

    def of(self, kind: type) -> list:
        return [e for e in self.events if isinstance(e, kind)]

    def trade_ids(self) -> list[int]:
        return [t.trade_id for t in self.of(Trade)]

    def statuses(self, start: str = "") -> list[StreamStatus]:
        return [s for s in self.of(StreamStatus) if s.detail.startswith(start)]


def trade(i: int, symbol: str = "BTCUSDT") -> Trade:
    return Trade(symbol, D(60000) + i % 7, D("0.001"), 0, i % 3 == 0, i, i, i)


async def feed_with_cuts(fake: FakeBinance, ids: range, every: int) -> int:
    """Feed trades at a market's pace, cutting every socket after `every` messages delivered."""
    cuts = 0
    for i in ids:
        if fake.hub.faults.drop_after_messages is None and fake.hub.connections:
            fake.hub.faults.drop_after_messages = every
            cuts += 1
        await fake.feed(trade(i))
        if i % 20 == 0:
            await asyncio.sleep(0.001)
    return cuts


async def start(stream: MarketStream, fake: FakeBinance, connections: int = 1) -> None:
    stream.start()
    await until(lambda: fake.hub.connections == connections)


async def test_5000_trades_with_cuts_arrive_exactly_once_in_order_with_rest_backfill(fake, rest):
    sink = Sink()
    stream = MarketStream(rest.endpoints, ["btcusdt@aggTrade"], sink, backfill=rest.backfill_trades, **FAST)
    await start(stream, fake)
    cuts = await feed_with_cuts(fake, range(1, 5001), every=400)
    await until(lambda: fake.hub.connections == 1)
    await fake.feed(trade(5001))
    await until(lambda: sink.trade_ids()[-1:] == [5001])
    assert not sink.statuses("gap"), [s.detail for s in sink.statuses("gap")]  # why, if trades are missing
    assert sink.trade_ids() == list(range(1, 5002))  # each aggTrade id once, in order
    assert cuts >= 5 and stream.backfilled > 0 and stream.gaps_lost == 0
    downs = [s for s in sink.of(StreamStatus) if not s.connected]
    backs = sink.statuses("reconnected")
    assert len(downs) == len(backs) >= cuts - 1  # each cut reported, and each return
    assert all("not replayed by Binance" in s.detail for s in backs)
    await stream.stop()


async def test_without_backfill_every_lost_trade_is_named_in_exactly_one_gap_report(fake, rest):
    sink = Sink()
    stream = MarketStream(rest.endpoints, ["btcusdt@aggTrade"], sink, **FAST)  # no REST
    await start(stream, fake)
    await feed_with_cuts(fake, range(1, 3001), every=300)
    await until(lambda: fake.hub.connections == 1)
    await fake.feed(trade(3001))
    await until(lambda: sink.trade_ids()[-1:] == [3001])
    got = sink.trade_ids()
    assert got == sorted(set(got))  # in order, never twice
    reported: list[int] = []
    for s in sink.statuses("gap"):
        first, last = map(int, re.search(r"\((\d+)\.\.(\d+)\)", s.detail).groups())
        reported += range(first, last + 1)
        assert "no REST backfill configured" in s.detail and s.time > 0
    assert len(reported) == len(set(reported)) == stream.gaps_lost > 0
    assert sorted(got + reported) == list(range(1, 3002))  # delivered or reported, never neither
    await stream.stop()


async def test_a_failing_backfill_is_reported_with_its_reason(fake, rest):
    async def broken(symbol: str, first: int, last: int) -> list[Trade]:
        raise ConnectionError("REST down")

    sink = Sink()
    stream = MarketStream(rest.endpoints, ["btcusdt@aggTrade"], sink, backfill=broken, **FAST)
    await start(stream, fake)
    await fake.feed(trade(1))
    fake.hub.faults.drop_after_messages = 1
    await fake.feed(trade(2))
    await fake.feed(trade(3))  # printed while the socket is down
    await until(lambda: fake.hub.connections == 1)
    await fake.feed(trade(4))
    await until(lambda: sink.trade_ids()[-1:] == [4])
    [gap] = sink.statuses("gap")
    assert "1 aggTrades (3..3)" in gap.detail and "REST backfill failed (ConnectionError: REST down)" in gap.detail
    await stream.stop()


async def test_rollovers_and_binances_own_cuts_lose_and_repeat_nothing(fake, rest):
    fake.hub.faults.max_connection_ms = 300  # Binance's 24 h cut, shortened: a reconnect
    sink = Sink()
    stream = MarketStream(
        rest.endpoints,
        ["btcusdt@aggTrade"],
        sink,
        backfill=rest.backfill_trades,
        rollover_s=0.07,
        **FAST,
    )
    await start(stream, fake)
    for i in range(1, 2001):
        await fake.feed(trade(i))
        if i % 10 == 0:
            await asyncio.sleep(0.001)
    await until(lambda: sink.trade_ids()[-1:] == [2000])
    assert sink.trade_ids() == list(range(1, 2001))
    assert stream.connections[0].rollovers >= 2
    await stream.stop()


async def test_every_stream_kind_on_its_route(fake, rest):
    names = stream_names(["BTCUSDT"], klines=["1m"], depth=True, liquidations=True)
    assert [n for n, _ in connection_groups(rest.endpoints, names)] == [
        "market:public",
        "market:market",
    ]
    sink = Sink()
    stream = MarketStream(rest.endpoints, names, sink)
    await start(stream, fake, connections=2)
    assert fake.hub.connections_on("public") == 1 and fake.hub.connections_on("market") == 1
    await fake.feed(BookTop("BTCUSDT", D(60000), D(1), D("60000.1"), D(2), 0, 0))  # bookTicker + depth
    await fake.feed(trade(1))
    await fake.feed(MarkPrice("BTCUSDT", D("60000.5"), 0, D(60001), D("0.0001"), 8 * 3600_000))
    await fake.feed(CandleClosed("BTCUSDT", "1m", 0, 59_999, D(1), D(2), D(1), D(2), D(3), D(6), 4, D(1)))
    liq = Liquidation(
        "BTCUSDT",
        Side.SELL,
        "LIMIT",
        "IOC",
        D(1),
        D(59000),
        D(59000),
        OrderStatus.FILLED,
        D(1),
        D(1),
        7,
    )
    await fake.hub.publish_market(liq)
    kinds = (BookTop, DepthUpdate, Trade, MarkPrice, CandleClosed, Liquidation)
    await until(lambda: all(sink.of(k) for k in kinds))
    assert sink.of(Liquidation) == [liq] and sink.of(MarkPrice)[0].funding_rate == D("0.0001")
    await stream.stop()


async def test_coin_m_streams_come_from_dstream_without_routes():
    async with FakeBinance(Market.COINM) as fake:
        endpoints = Endpoints.custom(Market.COINM, fake.rest_url, fake.ws_url)
        assert endpoints.market_streams(["btcusd_perp@aggTrade"]).endswith("/stream?streams=btcusd_perp@aggTrade")
        sink = Sink()
        stream = MarketStream(endpoints, stream_names(["BTCUSD_PERP"]), sink)
        await start(stream, fake)
        assert fake.hub.connections_on("") == 1
        await fake.feed(BookTop("BTCUSD_PERP", D(60000), D(10), D("60000.1"), D(10), 0, 0))
        await fake.feed(trade(1, "BTCUSD_PERP"))
        await until(lambda: bool(sink.of(Trade)) and bool(sink.of(BookTop)))
        await stream.stop()


async def test_repeated_frames_are_dropped_and_counted(fake, rest):
    sink = Sink()
    stream = MarketStream(rest.endpoints, stream_names(["BTCUSDT"], book=False), sink)
    await start(stream, fake)
    mark = MarkPrice("BTCUSDT", D(60000), 5, D(60000), D(0), 0)
    for event in (trade(1), trade(1), mark, mark, trade(2)):
        await fake.hub.publish_market(event)
    await until(lambda: sink.trade_ids() == [1, 2])
    assert len(sink.of(MarkPrice)) == 1 and stream.duplicates == 2
    await stream.stop()


def candle(minute: int) -> CandleClosed:
    t = minute * 60_000
    return CandleClosed("BTCUSDT", "1m", t, t + 59_999, D(1), D(2), D(1), D(2), D(3), D(6), 1, D(1))


async def test_a_missing_candle_comes_from_rest_klines(fake, rest):
    sink = Sink()
    stream = MarketStream(rest.endpoints, ["btcusdt@kline_1m"], sink, candle_backfill=candle_backfill_from(rest))
    await start(stream, fake)
    await fake.feed(candle(1))
    fake.history.on_market(candle(2))  # closed on the exchange, never reached the socket
    fake.history.on_market(candle(3))
    await fake.feed(candle(4))
    await until(lambda: len(sink.of(CandleClosed)) == 4)
    assert [c.open_time // 60_000 for c in sink.of(CandleClosed)] == [1, 2, 3, 4]
    assert stream.backfilled == 2 and not sink.statuses("gap")
    await stream.stop()


async def test_a_missing_candle_without_backfill_is_reported(fake, rest):
    sink = Sink()
    stream = MarketStream(rest.endpoints, ["btcusdt@kline_1m"], sink)
    await start(stream, fake)
    await fake.feed(candle(1))
    await fake.feed(candle(4))
    await until(lambda: len(sink.of(CandleClosed)) == 2)
    [gap] = sink.statuses("gap")
    assert "candles opening 120000..239999" in gap.detail and gap.stream == "market:btcusdt@kline_1m"
    await stream.stop()


async def test_a_malformed_frame_is_skipped_and_reported(fake, rest):
    sink = Sink()
    stream = MarketStream(rest.endpoints, ["btcusdt@aggTrade"], sink)
    await start(stream, fake)
    await fake.hub.publish("btcusdt@aggTrade", {"e": "aggTrade", "s": "BTCUSDT"})
    await fake.feed(trade(1))
    await until(lambda: sink.trade_ids() == [1])
    [skipped] = sink.statuses("skipped a frame")
    assert skipped.connected and stream.malformed == 1
    await stream.stop()


def test_streams_are_split_by_route_and_into_connections_of_at_most_the_limit():
    usdm = Endpoints.of(Market.USDM)
    names = stream_names([f"S{i}USDT" for i in range(300)])  # 900 streams
    groups = connection_groups(usdm, names, per_connection=200)
    assert [len(g) for _, g in groups] == [200, 100, 200, 200, 200]
    assert all("@bookTicker" in s for _, g in groups[:2] for s in g)
    urls = [usdm.market_streams(g) for _, g in groups]
    assert urls[0].startswith("wss://fstream.binance.com/public/stream?streams=")
    assert urls[2].startswith("wss://fstream.binance.com/market/stream?streams=")
    with pytest.raises(ValueError, match=r"1\.\.1024"):
        connection_groups(usdm, names, per_connection=2000)


async def test_a_hole_larger_than_the_backfill_cap_is_reported_not_replayed(fake, rest):
    sink = Sink()
    stream = MarketStream(
        rest.endpoints,
        ["btcusdt@aggTrade"],
        sink,
        backfill=rest.backfill_trades,
        max_backfill=5,
        backoff=Backoff(0.2, 0.2),
    )
    await start(stream, fake)
    await fake.feed(trade(1))
    await until(lambda: sink.trade_ids() == [1])
    await fake.hub.drop_all()
    for i in range(2, 22):  # 20 trades while the socket is down
        await fake.feed(trade(i))
    await until(lambda: fake.hub.connections == 1)
    await fake.feed(trade(22))
    await until(lambda: sink.trade_ids()[-1:] == [22])
    assert sink.trade_ids() == [1, 2, 3, 4, 5, 6, 22]  # the cut's catch-up replays up to the cap
    [gap] = sink.statuses("gap")
    assert "15 aggTrades (7..21)" in gap.detail and "too many to replay" in gap.detail
    await stream.stop()


async def test_trades_of_a_restarted_exchange_are_delivered_and_reported(fake, rest):
    """An exchange that starts again (`rulebot fake-exchange` run anew, a testnet reset) numbers
    from 1 again: its trades are later than all seen, not repeats. Dropping them left a dry-run
    blind to trades for good while mark prices kept the data looking fresh (probe finding 34;
    the book's update ids, which the fake hub numbers itself, in test_sequencer.py)."""
    sink = Sink()
    stream = MarketStream(rest.endpoints, ["btcusdt@aggTrade"], sink)
    await start(stream, fake)
    t0 = 1_800_000_000_000
    for i, time in ((500, t0), (501, t0 + 1), (1, t0 + 60_000), (2, t0 + 60_001), (2, t0 + 60_001), (3, t0 + 60_002)):
        await fake.hub.publish_market(Trade("BTCUSDT", D(60000), D("0.001"), time, False, i, i, i))
    await until(lambda: sink.trade_ids()[-1:] == [3])
    assert sink.trade_ids() == [500, 501, 1, 2, 3]
    assert [s.detail for s in sink.statuses("BTCUSDT")] == [
        "BTCUSDT Trade numbering started again below the last seen (the exchange restarted?): taken as new from here"
    ]
    assert stream.restarts == 1 and stream.duplicates == 1  # the second 2 was a repeat
    await stream.stop()
