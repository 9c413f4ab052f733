"""A Binance-compatible futures exchange on loopback, over the exchange simulator.

    async with FakeBinance(market=Market.USDM, balances={"USDT": Decimal(10_000)}) as fake:
        rest = BinanceRest(Endpoints.loopback(fake.rest_url, fake.ws_url, Market.USDM), fake.api_key, fake.api_secret)
        await fake.feed(Trade(...))          # market data in: simulator, market streams, user streams

REST endpoints of `/fapi` (USDⓈ-M) or `/dapi` (COIN-M) answer in the shapes of Binance's real
payloads; signed requests are checked like Binance checks them (API key, HMAC-SHA256 over the
exact query and body, timestamp within recvWindow and not more than 1 s ahead). Usage headers
(`X-MBX-USED-WEIGHT-1M`, `X-MBX-ORDER-COUNT-*`) come with every answer. Faults are knobs on
`rest_faults` and `hub.faults`: 429/418 bursts with Retry-After, -1021, 5xx, slow answers,
an order executed whose answer is lost, listen-key expiry, dropped and stalled sockets,
sequence gaps. Time is the wall clock: a fed event is stamped with the fake's `now()`.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import secrets
import time
from collections import deque
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, replace
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import parse_qsl

import orjson
from aiohttp import web

from rulebot.core.account_events import AccountEvent
from rulebot.core.commands import (
    CancelAllOrders,
    CancelOrder,
    Command,
    PlaceOrder,
    SetCountdownCancelAll,
    SetLeverage,
    SetMarginType,
    SetPositionMode,
)
from rulebot.core.enums import MarginType, Market, OrderType, PositionSide, Side, TimeInForce, WorkingType
from rulebot.core.events import BookTop, CandleClosed, FundingRate, Trade
from rulebot.core.instruments import Instrument
from rulebot.core.margin import BracketTable
from rulebot.exchange_sim import SimExchange
from rulebot.exchange_sim.model import SimResult
from rulebot.testing import fake_encode as enc
from rulebot.testing.fake_info import brackets_json, exchange_info_json
from rulebot.testing.fake_streams import StreamFaults, StreamHub
from rulebot.venues.catalog import builtin_brackets, builtin_instruments
from rulebot.venues.paper import PaperVenue

Handler = Callable[[web.Request, dict[str, str]], Awaitable[Any]]


@dataclass
class RestFaults:
    """Knobs read on every request; counters count down as they fire."""

    status_429: int = 0  # the next N requests get 429 with Retry-After
    status_418: int = 0  # the next N requests get 418 (IP banned) with Retry-After
    retry_after_s: int = 1
    timestamp_1021: int = 0  # the next N signed requests get -1021
    status_503: int = 0  # the next N requests get 503 "Service Unavailable." (not executed)
    unknown_after_execute: int = 0  # the next N order placements execute, then answer 503 "Unknown error"
    drop_after_execute: int = 0  # the next N order placements execute, then the connection is cut
    delay_ms: int = 0  # every answer waits this long
    hold_after_execute_ms: int = 0  # an order placement executes, then its answer waits this long
    clock_skew_ms: int = 0  # the server's clock runs ahead by this much


class _Weights:
    """Sliding one-minute request weight and order counts, as the usage headers report them."""

    def __init__(self) -> None:
        self.weight: deque[tuple[float, int]] = deque()
        self.orders: deque[float] = deque()

    def add(self, weight: int, orders: int) -> tuple[int, int, int]:
        now = time.monotonic()
        self.weight.append((now, weight))
        for _ in range(orders):
            self.orders.append(now)
        while self.weight and self.weight[0][0] <= now - 60:
            self.weight.popleft()
        while self.orders and self.orders[0] <= now - 60:
            self.orders.popleft()
        used = sum(w for _, w in self.weight)
        ten = sum(1 for t in self.orders if t > now - 10)
        return used, len(self.orders), ten


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
    ) -> None:
        self.market = market
        self.instruments = dict(instruments or builtin_instruments(market))
        self.brackets = dict(brackets or builtin_brackets(market))
        asset = "USDT" if market is Market.USDM else "BTC"
        self.sim = SimExchange(
            self.instruments, self.brackets, market=market, balances=dict(balances or {asset: Decimal(10_000)})
        )
        self.paper = PaperVenue(self.sim, market)
        self.api_key = api_key or "fake-" + secrets.token_hex(16)
        self.api_secret = api_secret or secrets.token_hex(32)
        self.rest_faults = RestFaults()
        self.hub = StreamHub(market, StreamFaults())
        self.prefix = "/fapi" if market is Market.USDM else "/dapi"
        self._host, self._port = host, port
        self._weights = _Weights()
        self._listen_key: str | None = None
        self._book_seq: dict[str, int] = {}
        self._depth_count = 0
        self._book: dict[str, tuple[dict[Decimal, Decimal], dict[Decimal, Decimal]]] = {}
        self._last_time = 0
        self._trades: dict[str, deque[dict[str, Any]]] = {}  # recent aggTrades, for /aggTrades
        self.requests: list[tuple[str, str]] = []  # (method, path) of every request, for tests
        self.on_request: Callable[[str, str, float], None] | None = None  # (method, path, perf_counter) hook
        self.rate_limits: list[dict[str, Any]] | None = None  # exchangeInfo's rateLimits (None: Binance's own)
        self.orders_placed = 0  # order placements executed (by client id below)
        self.placed_ids: list[str] = []
        self.app = web.Application(middlewares=[self._middleware])
        self._routes()
        self.hub.add_routes(self.app)
        self._runner: web.AppRunner | None = None
        self._ticker: asyncio.Task[None] | None = None
        self.rest_url = self.ws_url = ""

    # -- lifecycle -------------------------------------------------------------------------------

    async def start(self) -> FakeBinance:
        self._runner = web.AppRunner(self.app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self._host, self._port)
        await site.start()
        sockets = site._server.sockets if site._server is not None else ()  # type: ignore[union-attr]
        port = sockets[0].getsockname()[1]
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
        while True:  # dead man's switches fire on time even when no market data comes
            await asyncio.sleep(0.05)
            await self._publish_account(self.sim.tick(self.now()))

    # -- market data in --------------------------------------------------------------------------

    async def feed(self, event: object) -> None:
        """A market event: stamped with the server clock, applied to the simulator, published on
        the market streams, and what it caused published on the user stream."""
        now = self.now()
        if isinstance(event, FundingRate):
            event = replace(event, funding_time=now)
        elif hasattr(event, "time") and not isinstance(event, CandleClosed):
            event = replace(event, time=now)  # type: ignore[type-var]
        if isinstance(event, BookTop):
            await self._depth(event)
        await self._publish_account(self.paper.on_market(event))
        stream, payload = enc.stream_name(event), enc.market_payload(event)
        if isinstance(event, Trade) and payload is not None:
            self._trades.setdefault(event.symbol, deque(maxlen=100_000)).append(payload)
        if stream is not None and payload is not None:
            await self.hub.publish(stream, payload)

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
        payload = enc.depth_update(top.symbol, top.time, first, last, prev, changes_b, changes_a)
        self._depth_count += 1
        gap = self.hub.faults.gap_every
        if gap and self._depth_count % gap == 0:
            return  # a sequence gap: this diff never reaches anyone
        await self.hub.publish(f"{top.symbol.lower()}@depth", payload)
        await self.hub.publish(f"{top.symbol.lower()}@depth@100ms", payload)

    async def _publish_account(self, events: tuple[AccountEvent, ...] | list[AccountEvent]) -> None:
        if not events or self._listen_key is None:
            return
        for ev in events:
            payload = enc.user_payload(ev)
            if payload is not None:
                await self.hub.publish_user(self._listen_key, payload)

    async def expire_listen_key(self) -> None:
        if self._listen_key is not None:
            key, self._listen_key = self._listen_key, None
            await self.hub.expire_listen_key(key, self.now())

    # -- HTTP plumbing -------------------------------------------------------------------------

    @web.middleware
    async def _middleware(
        self, request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        self.requests.append((request.method, request.path))
        if self.on_request is not None:
            self.on_request(request.method, request.path, time.perf_counter())
        f = self.rest_faults
        if f.delay_ms:
            await asyncio.sleep(f.delay_ms / 1000)
        if request.path.startswith(self.prefix):
            if f.status_418 > 0:
                f.status_418 -= 1
                return _error(418, -1003, "Way too many requests; IP banned.", {"Retry-After": str(f.retry_after_s)})
            if f.status_429 > 0:
                f.status_429 -= 1
                return _error(
                    429,
                    -1003,
                    "Too many requests; current limit is 2400 request weight per 1 MINUTE.",
                    {"Retry-After": str(f.retry_after_s)},
                )
            if f.status_503 > 0:
                f.status_503 -= 1
                return _error(503, -1001, "Service Unavailable.")
        return await handler(request)

    def _routes(self) -> None:
        p, add = self.prefix, self.app.router.add_route
        usdm = self.market is Market.USDM
        public: list[tuple[str, str, Handler, int]] = [
            ("GET", "/v1/ping", self._ping, 1), ("GET", "/v1/time", self._time, 1),
            ("GET", "/v1/exchangeInfo", self._exchange_info, 1), ("GET", "/v1/depth", self._depth_snapshot, 5),
            ("GET", "/v1/premiumIndex", self._premium_index, 1), ("GET", "/v1/fundingRate", self._empty_list, 1),
            ("GET", "/v1/klines", self._empty_list, 1), ("GET", "/v1/aggTrades", self._agg_trades, 20),
        ]  # fmt: skip
        signed: list[tuple[str, str, Handler, int]] = [
            ("GET", "/v1/leverageBracket" if usdm else "/v2/leverageBracket", self._brackets, 1),
            ("POST", "/v1/order", self._new_order, 0), ("DELETE", "/v1/order", self._cancel_order, 1),
            ("GET", "/v1/order", self._query_order, 1), ("POST", "/v1/batchOrders", self._batch_orders, 5),
            ("GET", "/v1/openOrders", self._open_orders, 1), ("DELETE", "/v1/allOpenOrders", self._cancel_all, 1),
            ("POST", "/v1/leverage", self._leverage, 1), ("POST", "/v1/marginType", self._margin_type, 1),
            ("POST", "/v1/positionSide/dual", self._set_dual, 1), ("GET", "/v1/positionSide/dual", self._get_dual, 30),
            ("GET", "/v2/account" if usdm else "/v1/account", self._account, 5),
            ("GET", "/v2/balance" if usdm else "/v1/balance", self._balance, 5),
            ("GET", "/v2/positionRisk" if usdm else "/v1/positionRisk", self._position_risk, 5),
            ("GET", "/v1/userTrades", self._empty_list, 5), ("GET", "/v1/income", self._empty_list, 30),
            ("POST", "/v1/countdownCancelAll", self._countdown, 10),
        ]  # fmt: skip
        if usdm:
            signed += [("POST", "/v1/algoOrder", self._new_algo, 0), ("DELETE", "/v1/algoOrder", self._cancel_algo, 1),
                       ("GET", "/v1/algoOrder", self._query_algo, 1),
                       ("GET", "/v1/openAlgoOrders", self._open_algos, 1),
                       ("DELETE", "/v1/algoOpenOrders", self._cancel_all, 1)]  # fmt: skip
        for method, path, handler, weight in public:
            add(method, p + path, self._wrap(handler, weight, signed=False))
        for method, path, handler, weight in signed:
            add(method, p + path, self._wrap(handler, weight, signed=True))
        for method in ("POST", "PUT", "DELETE"):
            add(method, p + "/v1/listenKey", self._wrap(self._listen_key_route, 1, signed=False, key_only=True))

    def _wrap(
        self, handler: Handler, weight: int, *, signed: bool, key_only: bool = False
    ) -> Callable[[web.Request], Awaitable[web.Response]]:
        async def route(request: web.Request) -> web.Response:
            body = await request.text()
            params = dict(parse_qsl(request.query_string, keep_blank_values=True))
            for k, v in parse_qsl(body, keep_blank_values=True):
                params.setdefault(k, v)  # the query string wins over the body, as on Binance
            if signed or key_only:
                refused = self._authenticate(request, body, params, signed)
                if refused is not None:
                    return refused
            is_order = request.method == "POST" and request.path.endswith(("/order", "/algoOrder", "/batchOrders"))
            used, per_min, per_10s = self._weights.add(weight, 1 if is_order else 0)
            headers = {"X-MBX-USED-WEIGHT-1M": str(used)}
            if is_order:
                headers.update({"X-MBX-ORDER-COUNT-1M": str(per_min), "X-MBX-ORDER-COUNT-10S": str(per_10s)})
            try:
                result = await handler(request, params)
            except _Refusal as r:
                return _error(r.status, r.code, r.msg, headers)
            if isinstance(result, web.StreamResponse):
                return result  # type: ignore[return-value]
            return web.Response(body=orjson.dumps(result), content_type="application/json", headers=headers)

        return route

    def _authenticate(
        self, request: web.Request, body: str, params: dict[str, str], signed: bool
    ) -> web.Response | None:
        if request.headers.get("X-MBX-APIKEY") != self.api_key:
            return _error(401, -2015, "Invalid API-key, IP, or permissions for action.")
        if not signed:
            return None
        total = request.query_string
        signature = params.get("signature", "")
        # The signature is over the query string (without its own `signature`) then the body.
        query_wo_sig = (
            total.rsplit("&signature=", 1)[0]
            if "&signature=" in total
            else ("" if total.startswith("signature=") else total)
        )
        body_wo_sig = (
            body.rsplit("&signature=", 1)[0]
            if "&signature=" in body
            else ("" if body.startswith("signature=") else body)
        )
        expected = hmac.new(self.api_secret.encode(), (query_wo_sig + body_wo_sig).encode(), hashlib.sha256).hexdigest()
        if not hmac.compare_digest(expected, signature.lower()):
            return _error(400, -1022, "Signature for this request is not valid.")
        f = self.rest_faults
        if f.timestamp_1021 > 0:
            f.timestamp_1021 -= 1
            return _error(400, -1021, "Timestamp for this request is outside of the recvWindow.")
        try:
            ts, window = int(params.get("timestamp", "")), int(params.get("recvWindow", "5000"))
        except ValueError:
            return _error(400, -1102, "Mandatory parameter 'timestamp' was not sent, was empty/null, or malformed.")
        server = self.now()
        if ts >= server + 1000:
            return _error(400, -1021, "Timestamp for this request was 1000ms ahead of the server's time.")
        if server - ts > window:
            return _error(400, -1021, "Timestamp for this request is outside of the recvWindow.")
        return None

    # -- public ----------------------------------------------------------------------------------

    async def _ping(self, request: web.Request, params: dict[str, str]) -> Any:
        return {}

    async def _time(self, request: web.Request, params: dict[str, str]) -> Any:
        return {"serverTime": self.now()}

    async def _exchange_info(self, request: web.Request, params: dict[str, str]) -> Any:
        return exchange_info_json(self.instruments.values(), self.market, self.now(), self.rate_limits)

    async def _brackets(self, request: web.Request, params: dict[str, str]) -> Any:
        return brackets_json(self.brackets, self.market, params.get("symbol"))

    async def _depth_snapshot(self, request: web.Request, params: dict[str, str]) -> Any:
        symbol = self._symbol(params)
        bids, asks = self._book.get(symbol, ({}, {}))
        return {"lastUpdateId": self._book_seq.get(symbol, 1000), "E": self.now(), "T": self.now(),
                "bids": [[format(p, "f"), format(q, "f")] for p, q in sorted(bids.items(), reverse=True)],
                "asks": [[format(p, "f"), format(q, "f")] for p, q in sorted(asks.items())]}  # fmt: skip

    async def _premium_index(self, request: web.Request, params: dict[str, str]) -> Any:
        symbol = self._symbol(params)
        q = self.sim.quotes(symbol)
        mark = q.mark or q.last or Decimal(0)
        return {"symbol": symbol, "markPrice": format(mark, "f"), "indexPrice": format(q.index or mark, "f"),
                "estimatedSettlePrice": format(mark, "f"), "lastFundingRate": "0.00010000", "interestRate": "0.0001",
                "nextFundingTime": (self.now() // 28_800_000 + 1) * 28_800_000, "time": self.now()}  # fmt: skip

    async def _agg_trades(self, request: web.Request, params: dict[str, str]) -> Any:
        symbol = self._symbol(params)
        start, limit = int(params.get("fromId", "0")), min(int(params.get("limit", "500")), 1000)
        return [{k: v for k, v in t.items() if k not in ("e", "E", "s")}
                for t in self._trades.get(symbol, ()) if t["a"] >= start][:limit]  # fmt: skip

    async def _empty_list(self, request: web.Request, params: dict[str, str]) -> Any:
        return []

    # -- orders ----------------------------------------------------------------------------------

    def _symbol(self, params: Mapping[str, str]) -> str:
        symbol = params.get("symbol", "")
        if symbol not in self.instruments:
            raise _Refusal(400, -1121, "Invalid symbol.")
        return symbol

    def _command(self, params: Mapping[str, str], *, algo: bool) -> PlaceOrder:
        symbol = self._symbol(params)
        try:
            side = Side(params["side"])
            order_type = OrderType(params.get("type") or params.get("orderType") or "")
        except (KeyError, ValueError):
            raise _Refusal(400, -1102, "Mandatory parameter 'side' or 'type' was not sent, or was malformed.") from None
        cid = params.get("clientAlgoId" if algo else "newClientOrderId") or f"fake-{secrets.token_hex(8)}"

        def dec(name: str) -> Decimal | None:
            raw = params.get(name)
            if raw in (None, ""):
                return None
            try:
                return Decimal(raw)
            except InvalidOperation:
                raise _Refusal(400, -1100, f"Illegal characters found in parameter '{name}'.") from None

        trigger = dec("triggerPrice") if algo else dec("stopPrice")
        return PlaceOrder(
            client_order_id=cid, symbol=symbol, side=side, order_type=order_type, quantity=dec("quantity"),
            price=dec("price"), trigger_price=trigger,
            time_in_force=TimeInForce(params["timeInForce"]) if params.get("timeInForce") else None,
            position_side=PositionSide(params.get("positionSide", "BOTH")),
            reduce_only=params.get("reduceOnly", "false") == "true",
            close_position=params.get("closePosition", "false") == "true",
            working_type=WorkingType(params.get("workingType", "CONTRACT_PRICE")),
            callback_rate=dec("callbackRate"), activation_price=dec("activatePrice") or dec("activationPrice"),
            time=self.now(),
        )  # fmt: skip

    async def _run(self, command: Command, *, algo: bool = False) -> SimResult:
        now = self.now()
        if algo:
            assert isinstance(command, PlaceOrder)
            res = self.sim.execute_algo(command, now)
        else:
            res = self.sim.execute(command, now)
        await self._publish_account(res.events)
        if not res.ok:
            raise _Refusal(400, res.code or -1000, res.message or "An unknown error occurred.")
        return res

    async def _placed(self, request: web.Request, res: SimResult, cid: str) -> None:
        self.orders_placed += 1
        self.placed_ids.append(cid)
        f = self.rest_faults
        if f.hold_after_execute_ms:
            await asyncio.sleep(f.hold_after_execute_ms / 1000)
        if f.drop_after_execute > 0:
            f.drop_after_execute -= 1
            if request.transport is not None:
                request.transport.abort()  # executed, and the answer never arrives
            raise _Refusal(500, -1000, "connection lost")
        if f.unknown_after_execute > 0:
            f.unknown_after_execute -= 1
            raise _Refusal(
                503,
                -1007,
                "Timeout waiting for response from backend server. Send status unknown; execution status unknown.",
            )

    async def _new_order(self, request: web.Request, params: dict[str, str]) -> Any:
        command = self._command(params, algo=False)
        res = await self._run(command)
        await self._placed(request, res, command.client_order_id)
        assert res.order is not None
        return enc.order_json(res.order)

    async def _batch_orders(self, request: web.Request, params: dict[str, str]) -> Any:
        try:
            items = orjson.loads(params.get("batchOrders", "[]"))
        except orjson.JSONDecodeError:
            raise _Refusal(400, -1130, "Data sent for parameter 'batchOrders' is not valid.") from None
        if not isinstance(items, list) or not 1 <= len(items) <= 5:
            raise _Refusal(400, -1130, "Data sent for parameter 'batchOrders' is not valid.")
        out: list[Any] = []
        for item in items:
            try:
                command = self._command(
                    {k: str(v).lower() if isinstance(v, bool) else str(v) for k, v in item.items()}, algo=False
                )
                res = await self._run(command)
                self.orders_placed += 1
                self.placed_ids.append(command.client_order_id)
                assert res.order is not None
                out.append(enc.order_json(res.order))
            except _Refusal as r:
                out.append({"code": r.code, "msg": r.msg})
        return out

    def _find(self, params: Mapping[str, str]) -> tuple[str, str]:
        symbol = self._symbol(params)
        cid = params.get("origClientOrderId")
        if cid is None and params.get("orderId"):
            view = self.sim.order_by_id(symbol, int(params["orderId"]))
            cid = view.client_order_id if view is not None else None
        if not cid:
            raise _Refusal(400, -2013, "Order does not exist.")
        return symbol, cid

    async def _cancel_order(self, request: web.Request, params: dict[str, str]) -> Any:
        symbol, cid = self._find(params)
        if self.sim.order(symbol, cid) is None:
            raise _Refusal(400, -2011, "Unknown order sent.")
        res = await self._run(CancelOrder(symbol, cid, self.now()))
        return enc.order_json(res.order) if res.order is not None else {}

    async def _query_order(self, request: web.Request, params: dict[str, str]) -> Any:
        symbol, cid = self._find(params)
        view = self.sim.order(symbol, cid)
        if view is None:
            raise _Refusal(400, -2013, "Order does not exist.")
        return enc.order_json(view)

    async def _open_orders(self, request: web.Request, params: dict[str, str]) -> Any:
        symbol = params.get("symbol")
        return [enc.order_json(o) for o in self.sim.open_orders(symbol)]

    async def _cancel_all(self, request: web.Request, params: dict[str, str]) -> Any:
        await self._run(CancelAllOrders(self._symbol(params), self.now()))
        return {"code": 200, "msg": "The operation of cancel all open order is done."}

    async def _new_algo(self, request: web.Request, params: dict[str, str]) -> Any:
        if params.get("algoType") != "CONDITIONAL":
            raise _Refusal(400, -1102, "Mandatory parameter 'algoType' was not sent, was empty/null, or malformed.")
        command = self._command(params, algo=True)
        res = await self._run(command, algo=True)
        await self._placed(request, res, command.client_order_id)
        assert res.algo is not None
        return enc.algo_json(res.algo)

    async def _cancel_algo(self, request: web.Request, params: dict[str, str]) -> Any:
        symbol = self._symbol(params)
        cid = params.get("clientAlgoId", "")
        if self.sim.algo_order(symbol, cid) is None:
            raise _Refusal(400, -2011, "Unknown order sent.")
        res = await self._run(CancelOrder(symbol, cid, self.now()))
        return enc.algo_json(res.algo) if res.algo is not None else {"clientAlgoId": cid, "code": "200"}

    async def _query_algo(self, request: web.Request, params: dict[str, str]) -> Any:
        symbol = self._symbol(params)
        view = self.sim.algo_order(symbol, params.get("clientAlgoId", ""))
        if view is None:
            raise _Refusal(400, -2013, "Order does not exist.")
        return enc.algo_json(view)

    async def _open_algos(self, request: web.Request, params: dict[str, str]) -> Any:
        return [enc.algo_json(a) for a in self.sim.open_algo_orders(params.get("symbol"))]

    # -- account ---------------------------------------------------------------------------------

    async def _leverage(self, request: web.Request, params: dict[str, str]) -> Any:
        symbol = self._symbol(params)
        lev = int(params.get("leverage", "0"))
        await self._run(SetLeverage(symbol, lev, self.now()))
        return {"leverage": lev, "maxNotionalValue": format(self.sim.max_notional(symbol), "f"), "symbol": symbol}

    async def _margin_type(self, request: web.Request, params: dict[str, str]) -> Any:
        symbol = self._symbol(params)
        try:
            margin = MarginType(params.get("marginType", "").upper())
        except ValueError:
            raise _Refusal(400, -1102, "Mandatory parameter 'marginType' was not sent or was malformed.") from None
        await self._run(SetMarginType(symbol, margin, self.now()))
        return {"code": 200, "msg": "success"}

    async def _set_dual(self, request: web.Request, params: dict[str, str]) -> Any:
        await self._run(SetPositionMode(params.get("dualSidePosition") == "true", self.now()))
        return {"code": 200, "msg": "success"}

    async def _get_dual(self, request: web.Request, params: dict[str, str]) -> Any:
        return {"dualSidePosition": self.sim.hedge_mode}

    async def _balance(self, request: web.Request, params: dict[str, str]) -> Any:
        return [enc.balance_json(b) for b in self.sim.balances()]

    async def _position_risk(self, request: web.Request, params: dict[str, str]) -> Any:
        return [enc.position_json(p) for p in self.sim.positions(params.get("symbol"))]

    async def _account(self, request: web.Request, params: dict[str, str]) -> Any:
        return {
            "assets": [enc.balance_json(b) for b in self.sim.balances()],
            "positions": [enc.position_json(p) for p in self.sim.positions()],
        }

    async def _countdown(self, request: web.Request, params: dict[str, str]) -> Any:
        symbol = self._symbol(params)
        ms = int(params.get("countdownTime", "0"))
        await self._run(SetCountdownCancelAll(symbol, ms, self.now()))
        return {"symbol": symbol, "countdownTime": str(ms)}

    async def _listen_key_route(self, request: web.Request, params: dict[str, str]) -> Any:
        if request.method == "POST":
            if self._listen_key is None:
                self._listen_key = secrets.token_urlsafe(48)
                self.hub.register_listen_key(self._listen_key)
            return {"listenKey": self._listen_key}
        if self._listen_key is None:
            raise _Refusal(400, -1125, "This listenKey does not exist.")
        if request.method == "DELETE":
            self.hub.forget_listen_key(self._listen_key)
            self._listen_key = None
            return {}
        return {"listenKey": self._listen_key}


class _Refusal(Exception):
    def __init__(self, status: int, code: int, msg: str) -> None:
        super().__init__(msg)
        self.status, self.code, self.msg = status, code, msg


def _error(status: int, code: int, msg: str, headers: Mapping[str, str] | None = None) -> web.Response:
    return web.Response(
        status=status,
        body=orjson.dumps({"code": code, "msg": msg}),
        content_type="application/json",
        headers=dict(headers or {}),
    )


__all__ = ["FakeBinance", "RestFaults", "StreamFaults"]
