"""Binance Futures REST (USDⓈ-M `/fapi`, COIN-M `/dapi`): signed, rate-budgeted, retried safely.

    async with BinanceRest(Endpoints.of(Market.USDM), key, secret) as rest:
        await rest.sync_time()
        order = await rest.new_order({"symbol": "BTCUSDT", "side": "BUY", "type": "MARKET", ...})

What it does about failures (FACTS §3):
- `-1021` (timestamp outside recvWindow): re-measure the server time offset, retry once.
- 429 / 418: stop every request until `Retry-After` (exponential backoff without one), then
  retry — a rate-limited request was not executed.
- 503 "Service Unavailable" and other 5xx that were not executed: retry with backoff.
- An order whose fate is unknown (connection lost after sending, 503 "unknown", -1006/-1007):
  never sent again blindly. The order is looked up by its client order id first; only an
  order the exchange does not know is sent again, under the same id.
Secrets stay in this object: errors and logs carry the path and Binance's message, never the
query string, key or signature.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Mapping
from types import TracebackType
from typing import Any

import aiohttp
import orjson

from rulebot.core.events import Trade
from rulebot.venues.binance.endpoints import Endpoints
from rulebot.venues.binance.errors import BinanceError, ExecutionUnknown, RateLimited, TimestampOutsideRecvWindow
from rulebot.venues.binance.limiter import RateLimiter
from rulebot.venues.binance.parse_market import parse_agg_trade
from rulebot.venues.binance.parse_rest import parse_rate_limits
from rulebot.venues.binance.signing import encode, signed_query

RECV_WINDOW = 5000
MAX_RETRIES = 4
MAX_BAN_WAIT_S = 30.0


class TransportError(Exception):
    """The request may not have reached Binance, or its answer was lost."""


class BinanceRest:
    def __init__(
        self,
        endpoints: Endpoints,
        api_key: str | None = None,
        api_secret: str | None = None,
        limiter: RateLimiter | None = None,
        session: aiohttp.ClientSession | None = None,
        timeout_s: float = 10.0,
    ) -> None:
        self.endpoints = endpoints
        self._key = api_key
        self._secret = api_secret
        self.limiter = limiter or RateLimiter()
        self._session = session
        self._own_session = session is None
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)
        self.offset_ms = 0  # server time - local time
        self.retries = 0
        self.lookups = 0  # orders of unknown fate looked up by client id

    async def __aenter__(self) -> BinanceRest:
        return self

    async def __aexit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    async def close(self) -> None:
        if self._session is not None and self._own_session:
            await self._session.close()
            self._session = None

    def __repr__(self) -> str:  # never show the key or secret
        return f"BinanceRest({self.endpoints.rest}, key={'set' if self._key else 'none'})"

    # -- plumbing --------------------------------------------------------------------------------

    def _http(self) -> aiohttp.ClientSession:
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=self._timeout)
        return self._session

    def now_ms(self) -> int:
        return int(time.time() * 1000) + self.offset_ms

    async def sync_time(self) -> int:
        """Measure the server clock's offset (half the round trip taken as the send delay)."""
        sent = time.time() * 1000
        data = await self.request("GET", "v1/time", weight=1)
        back = time.time() * 1000
        self.offset_ms = int(data["serverTime"] - (sent + back) / 2)
        return self.offset_ms

    async def request(
        self,
        method: str,
        name: str,
        params: Mapping[str, object] | None = None,
        *,
        signed: bool = False,
        key: bool = False,
        weight: int = 1,
        orders: int = 0,
        idempotent: bool | None = None,
    ) -> Any:
        """Send one request with the budget, signature and retries it needs; the decoded JSON."""
        idempotent = method == "GET" if idempotent is None else idempotent
        params = dict(params or {})
        resynced = False
        attempt = 0
        while True:
            attempt += 1
            await self.limiter.acquire(weight, orders)
            try:
                return await self._once(method, name, params, signed, key or signed)
            except TimestampOutsideRecvWindow:
                if resynced:
                    raise
                resynced = True
                await self.sync_time()
            except RateLimited as exc:
                wait = exc.retry_after if exc.retry_after is not None else min(2**attempt, 60)
                self.limiter.ban(wait)
                if attempt > MAX_RETRIES or wait > MAX_BAN_WAIT_S:
                    raise
            except _NotExecuted:
                if attempt > MAX_RETRIES:
                    raise TransportError(f"{method} {name}: Binance stayed unavailable after {attempt} tries") from None
                await asyncio.sleep(_backoff(attempt))
            except (TransportError, ExecutionUnknown):
                if not idempotent or attempt > MAX_RETRIES:
                    raise
                await asyncio.sleep(_backoff(attempt))
            self.retries += 1

    async def _once(self, method: str, name: str, params: dict[str, object], signed: bool, key: bool) -> Any:
        headers = {}
        if key:
            if not self._key:
                raise BinanceError(-2015, "an API key is needed for this request (set BINANCE_API_KEY)")
            headers["X-MBX-APIKEY"] = self._key
        if signed:
            if not self._secret:
                raise BinanceError(-1022, "an API secret is needed to sign this request (set BINANCE_API_SECRET)")
            query = signed_query(self._secret, {**params, "recvWindow": RECV_WINDOW, "timestamp": self.now_ms()})
        else:
            query = encode(params)
        url = self.endpoints.path(name) + (f"?{query}" if query else "")
        try:
            async with self._http().request(method, url, headers=headers) as resp:
                body = await resp.read()
                self.limiter.observe(resp.headers)
                status, retry_after = resp.status, resp.headers.get("Retry-After")
        except (TimeoutError, aiohttp.ClientConnectionError, aiohttp.ClientPayloadError) as exc:
            raise TransportError(f"{method} {self.endpoints.prefix}/{name}: {type(exc).__name__}") from None
        try:
            data = orjson.loads(body) if body else {}
        except orjson.JSONDecodeError:
            if status >= 500:
                raise _NotExecuted(status) from None
            raise TransportError(f"{method} {self.endpoints.prefix}/{name}: HTTP {status}, not JSON") from None
        if status in (429, 418):
            exc = _rate_limited(data, status)
            exc.retry_after = float(retry_after) if retry_after and retry_after.replace(".", "").isdigit() else None
            raise exc
        if status >= 500:
            msg = data.get("msg", "") if isinstance(data, dict) else ""
            code = data.get("code") if isinstance(data, dict) else None
            if "unknown" in msg.lower() or code in (-1006, -1007):
                raise ExecutionUnknown(code or -1007, msg or f"HTTP {status}", status)
            raise _NotExecuted(status)
        if status >= 400 or (isinstance(data, dict) and isinstance(data.get("code"), int) and data["code"] < 0):
            raise (
                BinanceError.from_payload(data, status)
                if isinstance(data, dict) and "code" in data
                else (BinanceError(-1000, f"HTTP {status}", status))
            )
        return data

    # -- market data -----------------------------------------------------------------------------

    async def ping(self) -> None:
        await self.request("GET", "v1/ping")

    async def exchange_info(self) -> Any:
        info = await self.request("GET", "v1/exchangeInfo", weight=1)
        limits = parse_rate_limits(info)
        if limits:
            self.limiter.configure(limits)
        return info

    async def leverage_brackets(self, symbol: str | None = None) -> Any:
        name = "v1/leverageBracket" if self.endpoints.routed else "v2/leverageBracket"
        return await self.request("GET", name, {"symbol": symbol}, signed=True)

    async def premium_index(self, symbol: str | None = None) -> Any:
        return await self.request("GET", "v1/premiumIndex", {"symbol": symbol}, weight=1 if symbol else 10)

    async def funding_rate(
        self, symbol: str, start: int | None = None, end: int | None = None, limit: int = 100
    ) -> Any:
        return await self.request(
            "GET", "v1/fundingRate", {"symbol": symbol, "startTime": start, "endTime": end, "limit": limit}
        )

    async def klines(
        self, symbol: str, interval: str, start: int | None = None, end: int | None = None, limit: int = 500
    ) -> Any:
        weight = 1 if limit < 100 else 2 if limit < 500 else 5 if limit <= 1000 else 10
        return await self.request(
            "GET",
            "v1/klines",
            {"symbol": symbol, "interval": interval, "startTime": start, "endTime": end, "limit": limit},
            weight=weight,
        )

    async def agg_trades(self, symbol: str, from_id: int, limit: int = 1000) -> list[Trade]:
        """Aggregate trades from `from_id` on, as core Trades (for filling stream gaps)."""
        rows = await self.request(
            "GET", "v1/aggTrades", {"symbol": symbol, "fromId": from_id, "limit": limit}, weight=20
        )
        return [parse_agg_trade({**r, "e": "aggTrade", "s": symbol, "E": r["T"]}) for r in rows]

    async def backfill_trades(self, symbol: str, first: int, last: int) -> list[Trade]:
        out: list[Trade] = []
        while first <= last:
            got = [t for t in await self.agg_trades(symbol, first, min(1000, last - first + 1)) if t.trade_id <= last]
            if not got:
                break
            out += got
            first = got[-1].trade_id + 1
        return out

    async def depth(self, symbol: str, limit: int = 1000) -> Any:
        weight = {5: 2, 10: 2, 20: 2, 50: 2, 100: 5, 500: 10, 1000: 20}.get(limit, 20)
        return await self.request("GET", "v1/depth", {"symbol": symbol, "limit": limit}, weight=weight)

    # -- orders ----------------------------------------------------------------------------------

    async def new_order(self, params: Mapping[str, object]) -> Any:
        """Place an order; a lost answer is resolved by client id, never by sending twice."""
        return await self._place("v1/order", params, "newClientOrderId", self.query_order)

    async def new_algo_order(self, params: Mapping[str, object]) -> Any:
        """USDⓈ-M conditional orders (stops, take-profits, trailing stops) since 2025-12-09."""
        full = {"algoType": "CONDITIONAL", **params}
        return await self._place("v1/algoOrder", full, "clientAlgoId", self.query_algo_order)

    async def _place(self, name: str, params: Mapping[str, object], id_field: str, lookup: Any) -> Any:
        cid = params.get(id_field)
        if not cid:
            raise ValueError(f"orders need a {id_field}: it is what makes a retry safe")
        for attempt in range(1, MAX_RETRIES + 2):
            try:
                return await self.request("POST", name, params, signed=True, weight=0, orders=1, idempotent=False)
            except (TransportError, ExecutionUnknown):
                self.lookups += 1
                await asyncio.sleep(_backoff(attempt) / 4)
                try:
                    found = await lookup(str(params["symbol"]), str(cid))
                except BinanceError as exc:
                    if exc.code not in (-2013, -2011):  # anything but "no such order": give up loudly
                        raise
                    continue  # the exchange never got it: sending again under the same id is safe
                return found
        raise TransportError(f"POST {name}: the order {cid} could not be placed or found")

    async def batch_orders(self, orders: list[Mapping[str, object]]) -> Any:
        if not 1 <= len(orders) <= 5:
            raise ValueError("a batch holds 1 to 5 orders")
        payload = orjson.dumps([{k: _json_param(v) for k, v in o.items() if v is not None} for o in orders]).decode()
        return await self.request(
            "POST",
            "v1/batchOrders",
            {"batchOrders": payload},
            signed=True,
            weight=5,
            orders=len(orders),
            idempotent=False,
        )

    async def cancel_order(self, symbol: str, client_order_id: str) -> Any:
        return await self.request(
            "DELETE", "v1/order", {"symbol": symbol, "origClientOrderId": client_order_id}, signed=True, idempotent=True
        )

    async def query_order(self, symbol: str, client_order_id: str) -> Any:
        return await self.request(
            "GET", "v1/order", {"symbol": symbol, "origClientOrderId": client_order_id}, signed=True
        )

    async def cancel_algo_order(self, symbol: str, client_algo_id: str) -> Any:
        return await self.request(
            "DELETE", "v1/algoOrder", {"symbol": symbol, "clientAlgoId": client_algo_id}, signed=True, idempotent=True
        )

    async def query_algo_order(self, symbol: str, client_algo_id: str) -> Any:
        return await self.request(
            "GET", "v1/algoOrder", {"symbol": symbol, "clientAlgoId": client_algo_id}, signed=True
        )

    async def open_algo_orders(self, symbol: str | None = None) -> Any:
        return await self.request(
            "GET", "v1/openAlgoOrders", {"symbol": symbol}, signed=True, weight=1 if symbol else 40
        )

    async def open_orders(self, symbol: str | None = None) -> Any:
        return await self.request("GET", "v1/openOrders", {"symbol": symbol}, signed=True, weight=1 if symbol else 40)

    async def cancel_all(self, symbol: str) -> Any:
        out = await self.request("DELETE", "v1/allOpenOrders", {"symbol": symbol}, signed=True, idempotent=True)
        if self.endpoints.routed:
            await self.request("DELETE", "v1/algoOpenOrders", {"symbol": symbol}, signed=True, idempotent=True)
        return out

    async def countdown_cancel_all(self, symbol: str, countdown_ms: int) -> Any:
        return await self.request(
            "POST",
            "v1/countdownCancelAll",
            {"symbol": symbol, "countdownTime": countdown_ms},
            signed=True,
            weight=10,
            idempotent=True,
        )

    # -- account ---------------------------------------------------------------------------------

    async def set_leverage(self, symbol: str, leverage: int) -> Any:
        return await self.request(
            "POST", "v1/leverage", {"symbol": symbol, "leverage": leverage}, signed=True, idempotent=True
        )

    async def set_margin_type(self, symbol: str, margin_type: str) -> Any:
        return await self.request(
            "POST", "v1/marginType", {"symbol": symbol, "marginType": margin_type}, signed=True, idempotent=True
        )

    async def set_position_mode(self, hedge: bool) -> Any:
        return await self.request(
            "POST", "v1/positionSide/dual", {"dualSidePosition": hedge}, signed=True, idempotent=True
        )

    async def position_mode(self) -> bool:
        data = await self.request("GET", "v1/positionSide/dual", signed=True, weight=30)
        return bool(data["dualSidePosition"])

    def _v(self, name: str) -> str:
        return f"v2/{name}" if self.endpoints.routed else f"v1/{name}"

    async def account(self) -> Any:
        return await self.request("GET", self._v("account"), signed=True, weight=5)

    async def balance(self) -> Any:
        return await self.request("GET", self._v("balance"), signed=True, weight=5)

    async def position_risk(self, symbol: str | None = None) -> Any:
        return await self.request("GET", self._v("positionRisk"), {"symbol": symbol}, signed=True, weight=5)

    async def user_trades(self, symbol: str, start: int | None = None, limit: int = 500) -> Any:
        return await self.request(
            "GET", "v1/userTrades", {"symbol": symbol, "startTime": start, "limit": limit}, signed=True, weight=5
        )

    async def income(
        self, symbol: str | None = None, income_type: str | None = None, start: int | None = None, limit: int = 100
    ) -> Any:
        return await self.request(
            "GET",
            "v1/income",
            {"symbol": symbol, "incomeType": income_type, "startTime": start, "limit": limit},
            signed=True,
            weight=30,
        )

    # -- user data stream ------------------------------------------------------------------------

    async def create_listen_key(self) -> str:
        data = await self.request("POST", "v1/listenKey", key=True, idempotent=True)
        return str(data["listenKey"])

    async def keepalive_listen_key(self) -> None:
        await self.request("PUT", "v1/listenKey", key=True, idempotent=True)

    async def close_listen_key(self) -> None:
        await self.request("DELETE", "v1/listenKey", key=True, idempotent=True)


class _NotExecuted(Exception):
    """A 5xx that Binance documents as 'failed': safe to send again."""

    def __init__(self, status: int) -> None:
        super().__init__(f"HTTP {status}")
        self.status = status


def _rate_limited(data: Any, status: int) -> RateLimited:
    code = data.get("code", -1003) if isinstance(data, dict) else -1003
    msg = data.get("msg", "rate limited") if isinstance(data, dict) else "rate limited"
    err = BinanceError.from_code(code, msg, status)
    if not isinstance(err, RateLimited):
        err = RateLimited(code, msg, status)
    return err


def _backoff(attempt: int) -> float:
    """Exponential, with jitter so that many clients do not retry in step."""
    return min(0.05 * 2**attempt, 5.0) * (0.5 + random.random())


def _json_param(value: object) -> object:
    if isinstance(value, bool):
        return "true" if value else "false"
    return format(value, "f") if hasattr(value, "as_tuple") else str(value)
