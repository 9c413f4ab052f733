"""A Binance-compatible futures exchange on loopback, over the exchange simulator.

    async with FakeBinance(market=Market.USDM, balances={"USDT": Decimal(10_000)}) as fake:
        rest = BinanceRest(Endpoints.custom(Market.USDM, fake.rest_url, fake.ws_url),
                           fake.api_key, fake.api_secret)
        await fake.feed(Trade(...))  # market data in: simulator, market streams, user stream

One aiohttp app serves REST (`fake_rest`: `/fapi` for USDⓈ-M, `/dapi` for COIN-M) and the
WebSocket streams (`fake_streams.StreamHub`). Signed requests are checked as Binance checks
them: the API key, HMAC-SHA256 over the exact query string and body, a timestamp within
recvWindow and not more than 1 s ahead. Request weight and order counts are metered against
the exchangeInfo `rateLimits` the fake advertises, reported in the `X-MBX-USED-WEIGHT-*` and
`X-MBX-ORDER-COUNT-*` headers, and a request past a limit gets 429. Faults are knobs on
`rest_faults` (429/418 bursts with Retry-After, -1021, 503, slow requests, an order executed
whose answer is lost or held back, a cancel executed whose answer says "unknown", clock skew,
-1021 or a wait aimed at order placements) and `hub.faults` (streams cut, stalled, held back and
released in a burst, lagging); they can also be set over HTTP (`fake_control`: `/fake/faults`).
`expire_listen_key()` ends the user stream's key. Time is the wall clock: a fed event is stamped
with the fake's `now()`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import replace
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qsl

import orjson
from aiohttp import web

from rulebot.binance import encode as enc
from rulebot.binance.payloads.market import DepthUpdate
from rulebot.binance.payloads.rest import parse_rate_limits
from rulebot.core.account_events import AccountEvent, AccountUpdate, OrderUpdate
from rulebot.core.enums import Market
from rulebot.core.events import BookTop, CandleClosed, FundingRate, MarkPrice
from rulebot.core.fees import DEFAULT_FEE_RATES, FeeRates
from rulebot.core.instruments import Instrument
from rulebot.core.margin import BracketTable
from rulebot.exchange_sim import SimExchange
from rulebot.feeds.catalog import builtin_brackets, builtin_instruments
from rulebot.testing import fake_control
from rulebot.testing.fake_api import Refusal, RestFaults, Route
from rulebot.testing.fake_auth import authenticate, error_response
from rulebot.testing.fake_info import RATE_LIMITS
from rulebot.testing.fake_orders import OrderApi
from rulebot.testing.fake_rest import RestApi
from rulebot.testing.fake_state import LISTEN_KEY_VALIDITY_MS, History, ListenKey, UsageMeter
from rulebot.testing.fake_stream_conn import StreamFaults
from rulebot.testing.fake_streams import StreamHub
from rulebot.venues.paper import PaperVenue

log = logging.getLogger("rulebot.fake_binance")
UNKNOWN_EXECUTION = "Timeout waiting for response from backend server. Send status unknown; execution status unknown."
_TICK_S = 0.05  # how often dead man's switches and listen keys are checked without market data


class FakeBinance:
    def __init__(
        self,
        market: Market = Market.USDM,
        balances: Mapping[str, Decimal] | None = None,
        instruments: Mapping[str, Instrument] | None = None,
        brackets: Mapping[str, BracketTable] | None = None,
        *,
        api_key: str | None = None,
        api_secret: str | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        rate_limits: Sequence[Mapping[str, Any]] | None = None,
        fee_rates: FeeRates = DEFAULT_FEE_RATES,
        listen_key_validity_ms: int = LISTEN_KEY_VALIDITY_MS,
    ) -> None:
        self.market = market
        self.brackets = dict(brackets or builtin_brackets(market))
        # Only the symbols with brackets of their own are listed (no COIN-M ETHUSD_PERP built in):
        # the fake's leverageBracket answer is what a live runner trusts.
        listed = instruments or builtin_instruments(market)
        self.instruments = {s: i for s, i in listed.items() if instruments is not None or s in self.brackets}
        asset = "USDT" if market is Market.USDM else "BTC"
        self.fee_rates = fee_rates
        self.sim = SimExchange(
            self.instruments,
            self.brackets,
            market=market,
            fee_rates=fee_rates,
            balances=dict(balances or {asset: Decimal(10_000)}),
        )
        self.paper = PaperVenue(self.sim, market)
        self.api_key = api_key or "fake-" + secrets.token_hex(16)
        self.api_secret = api_secret or secrets.token_hex(32)
        self.rest_faults = RestFaults()
        self.hub = StreamHub(market, StreamFaults())
        self.prefix = "/fapi" if market is Market.USDM else "/dapi"
        self.history = History(
            market,
            {s: i.margin_asset for s, i in self.instruments.items()},
            {s: i.contract_size for s, i in self.instruments.items()},
        )
        self.listen_key = ListenKey(listen_key_validity_ms)
        self.funding: dict[str, Decimal] = {}  # the latest funding rate per symbol
        self.meter = UsageMeter(())
        self.rate_limits = rate_limits  # exchangeInfo's rateLimits (None: Binance's own)
        self.requests: list[tuple[str, str]] = []  # (method, path) of every request, for tests
        self.on_request: Callable[[str, str, float], None] | None = None  # (method, path, perf_counter)
        self.orders_placed = 0  # order placements executed, their client ids below
        self.placed_ids: list[str] = []
        self._host, self._port = host, port
        self._book: dict[str, tuple[dict[Decimal, Decimal], dict[Decimal, Decimal]]] = {}
        self._book_seq: dict[str, int] = {}
        self._last_time = 0
        self.app = web.Application(middlewares=[self._middleware])
        self.api, self.order_api = RestApi(self), OrderApi(self)
        for route in self.api.routes() + self.order_api.routes():
            self.app.router.add_route(route.method, self.prefix + route.path, self._endpoint(route))
        self.hub.add_routes(self.app)
        fake_control.add_routes(self)
        self._runner: web.AppRunner | None = None
        self._ticker: asyncio.Task[None] | None = None
        self.rest_url = self.ws_url = ""

    @property
    def rate_limits(self) -> list[dict[str, Any]] | None:
        return self._rate_limits

    @rate_limits.setter
    def rate_limits(self, limits: Sequence[Mapping[str, Any]] | None) -> None:
        """Advertised in exchangeInfo and enforced (429) from the next request on."""
        self._rate_limits = None if limits is None else [dict(x) for x in limits]
        self.meter = UsageMeter(parse_rate_limits({"rateLimits": self._rate_limits or RATE_LIMITS}))

    # -- lifecycle -------------------------------------------------------------------------------

    async def start(self) -> FakeBinance:
        self._runner = web.AppRunner(self.app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self._host, self._port)
        await site.start()
        port = int(self._runner.addresses[0][1])
        self.rest_url, self.ws_url = f"http://{self._host}:{port}", f"ws://{self._host}:{port}"
        self._ticker = asyncio.create_task(self._tick_forever())
        return self

    async def stop(self) -> None:
        if self._ticker is not None:
            self._ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._ticker
        await self.hub.close()
        if self._runner is not None:
            await self._runner.cleanup()

    async def __aenter__(self) -> FakeBinance:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    def now(self) -> int:
        """Server time (ms): the wall clock, never behind the last event it was fed."""
        self._last_time = max(self._last_time, int(time.time() * 1000))
        return self._last_time + self.rest_faults.clock_skew_ms

    async def _tick_forever(self) -> None:
        while True:  # dead man's switches and listen keys lapse on time without market data
            await asyncio.sleep(_TICK_S)
            try:
                now = self.now()
                await self.publish_account(self.sim.tick(now))
                lapsed = self.listen_key.lapsed(now)
                if lapsed is not None:
                    await self.hub.expire_listen_key(lapsed, now)
            except Exception:  # one bad tick must not stop the switches for good
                log.exception("fake exchange: a timer tick failed")

    # -- market data in --------------------------------------------------------------------------

    async def feed(self, event: object) -> None:
        """A market event: stamped with the server clock, applied to the simulator, published on
        the market streams, and what it caused published on the user stream."""
        now = self.now()
        if isinstance(event, FundingRate):
            event = replace(event, funding_time=now)
            self.funding[event.symbol] = event.rate
        elif hasattr(event, "time") and not isinstance(event, CandleClosed):
            event = replace(event, time=now)  # type: ignore[type-var]
        if isinstance(event, MarkPrice) and event.funding_rate is not None:
            self.funding[event.symbol] = event.funding_rate
        if isinstance(event, BookTop):
            await self._depth(event)
        self.history.on_market(event)
        funding_symbol = event.symbol if isinstance(event, FundingRate) else ""
        await self.publish_account(self.paper.on_market(event), funding_symbol)
        if enc.market_streams_of(event):  # index prices and funding settlements have no stream
            await self.hub.publish_market(event)

    async def _depth(self, top: BookTop) -> None:
        """Keep a top-of-book L2 book and publish Binance-style diffs (U/u/pu) for it."""
        bids, asks = self._book.setdefault(top.symbol, ({}, {}))
        changes_b = [(p, Decimal(0)) for p in bids if p != top.bid] + [(top.bid, top.bid_qty)]
        changes_a = [(p, Decimal(0)) for p in asks if p != top.ask] + [(top.ask, top.ask_qty)]
        bids.clear()
        asks.clear()
        bids[top.bid], asks[top.ask] = top.bid_qty, top.ask_qty
        prev = self._book_seq.get(top.symbol, 1000)
        first, last = prev + 1, prev + 3
        self._book_seq[top.symbol] = last
        diff = DepthUpdate(top.symbol, first, last, prev, tuple(changes_b), tuple(changes_a), top.time, top.time)
        await self.hub.publish_market(diff)  # the hub opens sequence gaps (faults.gap_every)

    def depth_snapshot(self, symbol: str, limit: int) -> dict[str, Any]:
        """`GET depth`: the book as of the last diff published (`lastUpdateId` = its `u`)."""
        bids, asks = self._book.get(symbol, ({}, {}))
        now = self.now()
        last = self._book_seq.get(symbol, 1000)
        bid_rows, ask_rows = _levels(bids, True, limit), _levels(asks, False, limit)
        return {"lastUpdateId": last, "E": now, "T": now, "bids": bid_rows, "asks": ask_rows}

    # -- account events out ------------------------------------------------------------------------

    async def publish_account(self, events: Iterable[AccountEvent], funding_symbol: str = "") -> None:
        """Account events the simulator produced: into the history, onto the live user stream."""
        events = list(events)
        if not events:
            return
        self.history.on_account(events, funding_symbol)
        key = self.listen_key.key
        if key is None:
            return
        if self.hub.faults.account_first:
            events = account_before_fill(events)
        for ev in events:
            await self.hub.publish_user(key, ev)
            if self.hub.faults.duplicate_user:
                await self.hub.publish_user(key, ev)

    async def expire_listen_key(self) -> None:
        """The listen key lapses now (as when no keepalive came for an hour)."""
        key = self.listen_key.close()
        if key is not None:
            await self.hub.expire_listen_key(key, self.now())

    async def end_listen_key(self) -> None:
        """DELETE listenKey: the key and its stream end without an expiry event."""
        key = self.listen_key.close()
        if key is not None:
            self.hub.forget_listen_key(key)

    async def order_executed(self, request: web.Request, *client_order_ids: str) -> None:
        """Orders were placed (one, or a batch's); the answer-side faults fire here, after."""
        self.orders_placed += len(client_order_ids)
        self.placed_ids.extend(client_order_ids)
        f = self.rest_faults
        if f.hold_after_execute_ms:
            await asyncio.sleep(f.hold_after_execute_ms / 1000)
        await _hold_once(f)
        if f.drop_after_execute > 0:
            f.drop_after_execute -= 1
            if request.transport is not None:
                request.transport.abort()  # executed, and the answer never arrives
            raise Refusal(500, -1000, "connection lost")
        if f.unknown_after_execute > 0:
            f.unknown_after_execute -= 1
            raise Refusal(503, -1007, UNKNOWN_EXECUTION)

    def cancel_asked(self) -> None:
        """A cancel (one order, or all) arrived; the fault that answers it unknown unexecuted fires here."""
        f = self.rest_faults
        if f.cancel_unknown_not_executed > 0:
            f.cancel_unknown_not_executed -= 1
            raise Refusal(503, -1007, UNKNOWN_EXECUTION)

    def cancel_executed(self) -> None:
        """An order was cancelled; the answer-side fault fires here, after."""
        f = self.rest_faults
        if f.cancel_unknown_after_execute > 0:
            f.cancel_unknown_after_execute -= 1
            raise Refusal(503, -1007, UNKNOWN_EXECUTION)

    # -- HTTP plumbing -----------------------------------------------------------------------------

    @web.middleware
    async def _middleware(
        self, request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        self.requests.append((request.method, request.path))
        if self.on_request is not None:
            self.on_request(request.method, request.path, time.perf_counter())
        if not request.path.startswith(self.prefix):
            return await handler(request)  # the streams
        f = self.rest_faults
        delay = f.delay_ms
        if f.slow_requests > 0:
            f.slow_requests -= 1
            delay += f.slow_ms
        if delay:
            await asyncio.sleep(delay / 1000)
        if f.status_418 > 0:
            f.status_418 -= 1
            return error_response(
                418,
                -1003,
                "Way too many requests; IP banned until further notice.",
                {"Retry-After": str(f.retry_after_s)},
            )
        if f.status_429 > 0:
            f.status_429 -= 1
            msg = "Too many requests; current limit is 2400 request weight per 1 MINUTE."
            return error_response(429, -1003, msg, {"Retry-After": str(f.retry_after_s)})
        if f.status_503 > 0:
            f.status_503 -= 1
            return error_response(503, -1001, "Service Unavailable.")
        return await handler(request)

    def _endpoint(self, route: Route) -> Callable[[web.Request], Awaitable[web.Response]]:
        async def serve(request: web.Request) -> web.Response:
            body = await request.text()
            query = request.raw_path.partition("?")[2]  # as sent: query_string is decoded
            params = dict(parse_qsl(query, keep_blank_values=True))
            for k, v in parse_qsl(body, keep_blank_values=True):
                params.setdefault(k, v)  # the query string wins over the body, as on Binance
            if route.security != "NONE":
                refused = authenticate(self, request, query, body, params, route.security == "SIGNED")
                if refused is not None:
                    return refused
            try:
                usage = self.meter.charge(self.now(), route.weight(params), route.orders(params))
            except ValueError:
                return error_response(400, -1130, "Data sent for parameter 'limit' is not valid.")
            if usage.exceeded is not None:
                lim = usage.exceeded
                code, what = (-1003, "request weight") if lim.kind == "REQUEST_WEIGHT" else (-1015, "orders")
                msg = f"Too many requests; current limit is {lim.limit} {what} per {lim.interval_num} {lim.interval}."
                return error_response(429, code, msg, {**usage.headers, "Retry-After": str(usage.retry_after_s)})
            if route.orders(params):
                refused = await self._order_faults()
                if refused is not None:
                    return refused
            try:
                result = await route.handler(request, params)
            except Refusal as r:
                return error_response(r.status, r.code, r.msg, usage.headers)
            return web.Response(body=orjson.dumps(result), content_type="application/json", headers=usage.headers)

        return serve

    async def _order_faults(self) -> web.Response | None:
        """Faults aimed at order placements only (other signed requests pass)."""
        f = self.rest_faults
        if f.slow_orders > 0:
            f.slow_orders -= 1
            await asyncio.sleep(f.slow_ms / 1000)
        if f.order_1021 > 0:
            f.order_1021 -= 1
            return error_response(400, -1021, "Timestamp for this request is outside of the recvWindow.")
        return None


async def _hold_once(f: RestFaults) -> None:
    """One slow answer: this placement's answer waits `hold_next_answer_ms`; the next ones do not."""
    hold, f.hold_next_answer_ms = f.hold_next_answer_ms, 0
    if hold:
        await asyncio.sleep(hold / 1000)


def _levels(side: dict[Decimal, Decimal], best_first_high: bool, limit: int) -> list[list[str]]:
    ordered = sorted(side.items(), reverse=best_first_high)[:limit]
    return [[format(p, "f"), format(q, "f")] for p, q in ordered]


__all__ = ["FakeBinance", "RestFaults", "StreamFaults"]


def account_before_fill(events: Sequence[AccountEvent]) -> list[AccountEvent]:
    """Each account update moved before the fill report just ahead of it (StreamFaults.account_first)."""
    out: list[AccountEvent] = []
    for e in events:
        last = out[-1] if out else None
        if isinstance(e, AccountUpdate) and isinstance(last, OrderUpdate) and last.last_filled_qty > 0:
            out.insert(len(out) - 1, e)
        else:
            out.append(e)
    return out
