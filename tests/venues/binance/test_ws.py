"""ReconnectingStream over the fake exchange's stream hub on loopback: rollover, cuts, pings."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable
from decimal import Decimal

import orjson
import pytest
import websockets
from hypothesis import given
from hypothesis import strategies as st

from rulebot.core.account_events import StreamStatus
from rulebot.core.enums import Market
from rulebot.core.events import Trade
from rulebot.testing.fake_streams import StreamHub, serve
from rulebot.venues.binance.ws import ROLLED_OVER, Backoff, ReconnectingStream, Seam

STREAM = "btcusdt@aggTrade"


async def until(cond: Callable[[], bool], timeout: float = 3.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not cond():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.005)


def trade(i: int) -> Trade:
    return Trade("BTCUSDT", Decimal(60000), Decimal("0.01"), 1_000 + i, False, i)


class Client:
    """A ReconnectingStream and what it passed on: aggregate ids and statuses."""

    def __init__(self, url: str, **options: object) -> None:
        self.ids: list[int] = []
        self.statuses: list[StreamStatus] = []
        self.stream = ReconnectingStream("t", url, self._frame, self._status, **options)  # type: ignore[arg-type]

    async def _frame(self, raw: bytes | str) -> None:
        self.ids.append(orjson.loads(raw)["a"])

    async def _status(self, s: StreamStatus) -> None:
        self.statuses.append(s)

    def details(self, connected: bool) -> list[str]:
        return [s.detail for s in self.statuses if s.connected is connected]


@pytest.fixture
async def hub():
    h = StreamHub(Market.USDM)
    async with serve(h) as url:
        h.url = f"{url}/market/ws/{STREAM}"  # type: ignore[attr-defined]
        yield h


# -- pure parts ------------------------------------------------------------------------------


def test_backoff_doubles_to_its_cap_and_draws_from_the_upper_half():
    backoff, rng = Backoff(first_s=0.2, max_s=5.0), random.Random(1)
    for attempt in range(1, 40):
        cap = min(5.0, 0.2 * 2 ** (attempt - 1))
        delays = [backoff.delay(attempt, rng) for _ in range(50)]
        assert all(cap / 2 <= d <= cap for d in delays)
        assert max(delays) - min(delays) > cap / 10  # jittered, not lockstep


@given(
    n=st.integers(1, 60),
    data=st.data(),
)
def test_seam_passes_every_frame_once_when_the_connections_meet(n: int, data: st.DataObject):
    frames = [f"m{i}" for i in range(n)]
    start = data.draw(st.integers(0, n - 1), label="frame the new connection starts at")
    old, new = frames, frames[start:]
    schedule = data.draw(st.lists(st.booleans(), max_size=3 * n), label="which side is read next")
    seam, out, i_old, i_new = Seam(), [], 0, 0
    for read_new in schedule:  # the overlap, until they meet or time runs out
        if seam.joined:
            break
        if read_new and i_new < len(new):
            seam.from_new(new[i_new])
            i_new += 1
        elif i_old < len(old):
            out.append(old[i_old])
            seam.from_old(old[i_old])
            i_old += 1
    joined = seam.joined
    out += seam.rest() + new[i_new:]
    if joined:
        assert out == frames  # each frame once, in order
    elif i_old >= start:  # the old one caught up, but no held frame proved it: nothing lost
        assert sorted(set(out), key=frames.index) == frames
    else:  # the overlap ended before the old connection got to the new one's start
        assert set(frames) - set(out) == set(frames[i_old:start])


# -- over loopback ---------------------------------------------------------------------------


async def test_rollover_passes_every_frame_exactly_once_without_consumer_dedupe(hub):
    client = Client(hub.url, rollover_s=0.08, overlap_s=2.0)
    client.stream.start()
    await until(lambda: hub.connections == 1)
    for i in range(1, 3001):
        await hub.publish_market(trade(i))
        if i % 10 == 0:
            await asyncio.sleep(0.001)
    await until(lambda: client.ids[-1:] == [3000])
    assert client.ids == list(range(1, 3001))  # the raw frames: no loss, no repeat
    assert client.stream.rollovers >= 3
    assert client.details(True).count(ROLLED_OVER) == client.stream.rollovers
    assert client.details(False) == []  # a rollover is not a disconnect
    await client.stream.stop()


async def test_a_quiet_rollover_hands_over_after_the_overlap(hub):
    client = Client(hub.url, rollover_s=0.05, overlap_s=0.05)
    client.stream.start()
    await until(lambda: client.stream.rollovers >= 2)
    await hub.publish_market(trade(1))
    await until(lambda: client.ids == [1])
    assert hub.connections == 1  # the old ones were closed
    await client.stream.stop()


async def test_a_cut_is_reported_and_reconnected_with_backoff(hub):
    client = Client(hub.url, backoff=Backoff(0.01, 0.05))
    client.stream.start()
    await until(lambda: hub.connections == 1)
    await hub.drop_all()
    await until(lambda: client.details(True)[-1:] == ["reconnected"])
    assert client.details(True) == ["connected", "reconnected"]
    [down] = client.details(False)
    assert down.startswith("connection closed") and "reconnecting in" in down
    await hub.publish_market(trade(7))
    await until(lambda: client.ids == [7])
    await client.stream.stop()


async def test_binances_forced_close_after_max_age_is_a_reconnect(hub):
    hub.faults.max_connection_ms = 100  # Binance's 24 hours, shortened; the client rolls later
    client = Client(hub.url, backoff=Backoff(0.01, 0.05))
    client.stream.start()
    await until(lambda: client.stream.reconnects >= 2, timeout=5)
    assert client.details(True)[:2] == ["connected", "reconnected"]
    await client.stream.stop()


async def test_a_stalled_stream_is_noticed_and_reopened(hub):
    client = Client(hub.url, idle_timeout_s=0.15, backoff=Backoff(0.01, 0.05))
    client.stream.start()
    await until(lambda: hub.connections == 1)
    hub.faults.stall_ms = 10_000  # the socket stays open, the data stops
    await hub.publish_market(trade(1))
    await until(lambda: any("stalled" in d for d in client.details(False)))
    hub.faults.stall_ms = 0
    await until(lambda: client.stream.connects >= 2 and hub.connections == 1)
    await hub.publish_market(trade(2))
    await until(lambda: 2 in client.ids)
    await client.stream.stop()


async def test_the_client_answers_the_servers_pings():
    hub = StreamHub(Market.USDM, ping_interval_s=0.03)  # a client without pong is cut
    async with serve(hub) as url:
        client = Client(f"{url}/market/ws/{STREAM}", ping_interval_s=60, idle_timeout_s=None)
        client.stream.start()
        await until(lambda: hub.connections == 1)
        await asyncio.sleep(0.3)  # ten server pings, no data
        assert hub.connections_opened == 1 and client.stream.connects == 1
        await client.stream.stop()


async def test_a_dead_server_is_found_by_the_clients_pings(hub):
    client = Client(
        hub.url,
        ping_interval_s=0.05,
        ping_timeout_s=0.05,
        idle_timeout_s=None,
        backoff=Backoff(0.01, 0.02),
    )
    client.stream.start()
    await until(lambda: hub.connections == 1)
    hub.faults.ignore_pings = True  # half-open: no pong, no data
    await until(lambda: bool(client.details(False)), timeout=2)
    hub.faults.ignore_pings = False
    await until(lambda: client.details(True)[-1:] == ["reconnected"])
    await client.stream.stop()


async def test_a_refused_handshake_is_retried_and_reported(hub):
    url = hub.url.replace(f"/market/ws/{STREAM}", "/private/ws/no-such-key")
    cuts: list[BaseException] = []

    async def on_cut(exc: BaseException) -> None:
        cuts.append(exc)

    client = Client(url, backoff=Backoff(0.01, 0.02), on_cut=on_cut)
    client.stream.start()
    await until(lambda: len(cuts) >= 3)
    assert all(isinstance(c, websockets.InvalidStatus) for c in cuts)
    assert "refused" in client.details(False)[0] and hub.refused >= 3
    await client.stream.stop()


async def test_a_consumer_bug_marks_the_stream_down_and_is_raised(hub):
    statuses: list[StreamStatus] = []

    async def broken(raw: bytes | str) -> None:
        raise ValueError("bug")

    async def status(s: StreamStatus) -> None:
        statuses.append(s)

    stream = ReconnectingStream("t", hub.url, broken, status)
    task = stream.start()
    await until(lambda: hub.connections == 1)
    await hub.publish_market(trade(1))
    with pytest.raises(ValueError, match="bug"):
        await asyncio.wait_for(task, 2)
    assert not statuses[-1].connected and "internal error" in statuses[-1].detail


def test_the_protocol_log_redacts_a_listen_key_and_keeps_market_stream_names(caplog):
    from rulebot.venues.binance import ws

    key = "Ab3" * 21 + "x"  # 64 characters, as Binance's
    caplog.set_level("DEBUG", logger=ws._PROTOCOL_LOG.name)
    ws._PROTOCOL_LOG.debug("> GET %s HTTP/1.1", f"/private/ws/{key}")
    ws._PROTOCOL_LOG.debug("> GET %s HTTP/1.1", f"/private/ws?listenKey={key}&events=ORDER_TRADE_UPDATE")
    ws._PROTOCOL_LOG.debug("> GET %s HTTP/1.1", "/market/ws/btcusdt@aggTrade")
    lines = [r.getMessage() for r in caplog.records]
    assert lines == [
        "> GET /private/ws/<listen key> HTTP/1.1",
        "> GET /private/ws?listenKey=<listen key>&events=ORDER_TRADE_UPDATE HTTP/1.1",
        "> GET /market/ws/btcusdt@aggTrade HTTP/1.1",
    ]
