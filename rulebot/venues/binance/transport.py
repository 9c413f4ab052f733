"""Signed requests to Binance Futures: signature, clock offset, rate budget, and safe retries.

`SignedTransport` is what `BinanceRest` (the endpoints) stands on. What it does about failures
(FACTS §3):
- The server clock's offset is measured before the first signed request and again on `-1021`
  (timestamp outside recvWindow); the request is then retried once.
- 429 / 418: every request holds until `Retry-After` (exponential backoff without one), then
  the request is retried (a rate-limited request was not executed); a wait longer than the
  limiter's `max_wait_s` (an IP ban) raises instead.
- 503 "Service Unavailable" and other 5xx Binance documents as failed: retried with backoff.
- An order whose fate is unknown (connection lost after sending, 503 "unknown", -1006/-1007) is
  never sent again blindly (`place`). It is looked up by its client order id; if Binance does
  not have it, the lookup is repeated once the lost request's recvWindow has passed (after that
  Binance refuses it, -1021/-5028), and only then is it sent again, under the same id.
- An order placed with a `Placement` can be withdrawn while it has not left the process (it
  waits out a ban, a backoff, the rate budget): it is then never sent (`Withdrawn`). A send that
  Binance refused without executing it (429/418, -1021, a 5xx documented as failed) leaves it
  withdrawable again; once a send's fate is unknown, never.
Secrets stay in this object: errors and log lines carry the method, path and Binance's message,
never the query string, the key or the signature.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import random
import time
from collections.abc import Awaitable, Callable, Mapping
from types import TracebackType
from typing import Any

import aiohttp
import orjson
from yarl import URL

from rulebot.binance.codes import (
    BinanceError,
    DuplicateClientOrderId,
    ExecutionUnknown,
    InvalidRequest,
    RateLimited,
    TimestampOutsideRecvWindow,
    UnknownOrder,
)
from rulebot.venues.binance.endpoints import Endpoints
from rulebot.venues.binance.limiter import RateBudgetExceeded, RateLimiter
from rulebot.venues.binance.signing import encode, signed_query

RECV_WINDOW_MS = 5000  # Binance's default and recommended maximum
MAX_RETRIES = 4
SETTLE_MARGIN_MS = 500  # beyond a lost send's recvWindow, for the clock offset's error

log = logging.getLogger("rulebot.binance.rest")
Lookup = Callable[[str, str], Awaitable[Any]]


class TransportError(Exception):
    """The request may not have reached Binance, or its answer was lost."""


class OrderFateUnknown(TransportError):
    """An order's answer was lost and Binance could not be asked whether it has the order."""


WITHDRAWN = "withdrawn before it was sent: it never reached Binance"


class Withdrawn(Exception):
    """The order was withdrawn before it left the process: nothing reached Binance."""


class Placement:
    """One order's way out, shared by its sender and whoever may withdraw it (a cancel that comes
    while it waits). Changed synchronously only: an order is never both withdrawn and sent."""

    __slots__ = ("on_wire", "withdrawn")

    def __init__(self) -> None:
        self.on_wire = False  # a send is out, or was and its fate is not known to be "not executed"
        self.withdrawn = False

    def withdraw(self) -> bool:
        """Keep the order from ever leaving; False when a send is already on the wire (too late)."""
        if not self.on_wire:
            self.withdrawn = True
        return self.withdrawn

    def leave(self) -> None:
        """The order is about to be sent (after this, `withdraw` is refused)."""
        if self.withdrawn:
            raise Withdrawn(WITHDRAWN)
        self.on_wire = True

    def refused(self) -> None:
        """Binance answered the send without executing it: the order is not on the exchange."""
        self.on_wire = False


class SignedTransport:
    def __init__(
        self,
        endpoints: Endpoints,
        api_key: str | None = None,
        api_secret: str | None = None,
        limiter: RateLimiter | None = None,
        session: aiohttp.ClientSession | None = None,
        timeout_s: float = 10.0,
        recv_window_ms: int = RECV_WINDOW_MS,
    ) -> None:
        self.endpoints = endpoints
        self._key = api_key
        self._secret = api_secret
        self.limiter = limiter or RateLimiter()
        self._session = session
        self._own_session = session is None
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)
        self.recv_window_ms = recv_window_ms
        self.offset_ms = 0  # server time - local time
        self.synced = False
        self.retries = 0
        self.lookups = 0  # orders of unknown fate looked up by client id
        self.resent = 0  # orders sent again after Binance was found not to have them

    async def __aenter__(self) -> SignedTransport:
        return self

    async def __aexit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    async def close(self) -> None:
        if self._session is not None and self._own_session:
            await self._session.close()
            self._session = None

    def __repr__(self) -> str:  # never show the key or the secret
        return f"{type(self).__name__}({self.endpoints.shown}, key={'set' if self._key else 'none'})"

    # -- plumbing --------------------------------------------------------------------------------

    def _http(self) -> aiohttp.ClientSession:
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=self._timeout)
        return self._session

    def now_ms(self) -> int:
        """Binance's clock as best known here."""
        return int(time.time() * 1000) + self.offset_ms

    async def sync_time(self) -> int:
        """Measure the server clock's offset (half the round trip taken as the send delay)."""
        sent = time.time() * 1000
        data = await self.request("GET", "v1/time", weight=1)
        back = time.time() * 1000
        self.offset_ms = int(data["serverTime"] - (sent + back) / 2)
        self.synced = True
        log.debug("server clock offset %d ms (round trip %.0f ms)", self.offset_ms, back - sent)
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
        placement: Placement | None = None,
    ) -> Any:
        """Send one request with the budget, signature and retries it needs; the decoded JSON.

        `idempotent` (default: GET only) allows resending after a lost answer; a request that
        is not is never resent once it may have reached Binance. `placement`: an order's, which
        raises `Withdrawn` instead of sending once it was withdrawn.
        """
        idempotent = method == "GET" if idempotent is None else idempotent
        params = dict(params or {})
        where = f"{method} {self.endpoints.prefix}/{name}"
        if signed and not self.synced:
            await self.sync_time()
        resynced = False
        for attempt in itertools.count(1):
            await self.limiter.acquire(weight, orders)
            if placement is not None:
                placement.leave()  # no await from here to the send: a withdrawal cannot slip between
            try:
                return await self._once(method, name, params, signed, key or signed)
            except TimestampOutsideRecvWindow:
                if placement is not None:
                    placement.refused()
                if resynced:
                    raise
                resynced = True
                log.warning("%s: timestamp outside recvWindow (-1021); clock offset re-measured", where)
                await self.sync_time()
            except RateLimited as exc:
                if placement is not None:
                    placement.refused()  # a rate-limited request was not executed
                wait = exc.retry_after if exc.retry_after is not None else min(2.0**attempt, 60.0)
                self.limiter.ban(wait)
                log.warning(
                    "%s: Binance %s (HTTP %s); every request waits %.1f s",
                    *(where, exc.code, exc.http_status, wait),
                )
                if attempt > MAX_RETRIES or wait > self.limiter.max_wait_s:
                    raise
            except _NotExecuted as exc:
                if placement is not None:
                    placement.refused()
                if attempt > MAX_RETRIES:
                    raise TransportError(
                        f"{where}: Binance answered HTTP {exc.status} {attempt} times (not "
                        "executed); nothing changed on the exchange. Retry later"
                    ) from None
                log.warning("%s: HTTP %d, not executed; retrying", where, exc.status)
                await asyncio.sleep(_backoff(attempt))
            except (TransportError, ExecutionUnknown) as exc:
                if not idempotent or attempt > MAX_RETRIES:
                    raise
                log.warning("%s; retrying", _described(where, exc))
                await asyncio.sleep(_backoff(attempt))
            self.retries += 1
        raise AssertionError("unreachable")

    async def _once(self, method: str, name: str, params: dict[str, object], signed: bool, key: bool) -> Any:
        where = f"{method} {self.endpoints.prefix}/{name}"
        headers = {}
        if key:
            if not self._key:
                raise BinanceError(-2015, f"{where} needs an API key (set BINANCE_API_KEY)")
            headers["X-MBX-APIKEY"] = self._key
        if signed:
            if not self._secret:
                raise BinanceError(-1022, f"{where} must be signed (set BINANCE_API_SECRET)")
            stamped = {**params, "recvWindow": self.recv_window_ms, "timestamp": self.now_ms()}
            query = signed_query(self._secret, stamped)
        else:
            query = encode(params)
        # encoded=True: sent byte for byte as signed; yarl would otherwise re-quote the query
        # (batchOrders' JSON), and Binance would see other bytes than were signed (-1022).
        url = URL(self.endpoints.path(name) + (f"?{query}" if query else ""), encoded=True)
        try:
            async with self._http().request(method, url, headers=headers) as resp:
                body = await resp.read()
                self.limiter.observe(resp.headers)
                status, retry_after = resp.status, resp.headers.get("Retry-After")
        except aiohttp.ClientConnectorError as exc:
            # No connection, so nothing was sent: say where it tried (host and port carry no
            # query, so no signature) and what the system answered.
            why = exc.os_error.strerror if exc.os_error and exc.os_error.strerror else type(exc).__name__
            raise TransportError(
                f"{where}: cannot connect to {exc.host}:{exc.port} ({why}); the request was not sent"
            ) from None
        except (TimeoutError, aiohttp.ClientConnectionError, aiohttp.ClientPayloadError) as exc:
            # The exception's text can hold the URL, and the URL the signature: name the type only.
            raise TransportError(f"{where}: {type(exc).__name__}, the answer was lost") from None
        log.debug("%s -> HTTP %d", where, status)
        try:
            data = orjson.loads(body) if body else {}
        except orjson.JSONDecodeError:
            if status >= 500:
                raise _NotExecuted(status) from None
            if status == 408:  # Binance timed out waiting for its backend: fate unknown
                raise ExecutionUnknown(-1007, f"{where}: HTTP 408", status) from None
            raise BinanceError(-1000, f"{where}: HTTP {status}, not executed", status) from None
        if status in (429, 418):
            limited = _rate_limited(data, status)
            limited.retry_after = _seconds(retry_after)
            raise limited
        if status >= 500:
            msg = data.get("msg", "") if isinstance(data, dict) else ""
            code = data.get("code") if isinstance(data, dict) else None
            if "unknown" in msg.lower() or code in (-1006, -1007):
                raise ExecutionUnknown(code if isinstance(code, int) else -1007, msg or f"HTTP {status}", status)
            raise _NotExecuted(status)
        if isinstance(data, dict) and isinstance(data.get("code"), int) and data["code"] < 0:
            raise BinanceError.from_payload(data, status)
        if status >= 400:
            raise BinanceError(-1000, f"{where}: HTTP {status}", status)
        return data

    # -- orders whose answer was lost ---------------------------------------------------------

    async def place(
        self,
        name: str,
        params: Mapping[str, object],
        id_field: str,
        lookup: Lookup,
        placement: Placement | None = None,
    ) -> Any:
        """Place an order (see the module's notes); `placement` lets it be withdrawn until it leaves."""
        cid, symbol = params.get(id_field), str(params.get("symbol"))
        if not cid:
            raise ValueError(f"orders need a {id_field}: it is what makes a retry safe")
        for attempt in range(1, MAX_RETRIES + 2):
            try:
                return await self.request(
                    "POST", name, params, signed=True, weight=0, orders=1, idempotent=False, placement=placement
                )
            except DuplicateClientOrderId:
                if attempt == 1:
                    raise  # the caller reused an id: not ours to settle
                found = await self._lookup(lookup, symbol, str(cid))
                if found is None:
                    raise
                return found  # an earlier send of ours got through after all
            except (TransportError, ExecutionUnknown) as exc:
                self.lookups += 1
                log.warning(
                    "order %s: %s; looking it up by client id before any resend",
                    *(cid, _described(f"POST {self.endpoints.prefix}/{name}", exc)),
                )
                found = await self.settle(lookup, symbol, str(cid))
                if found is not None:
                    return found
                if attempt <= MAX_RETRIES:
                    self.resent += 1
                    log.warning(
                        "order %s: Binance does not have it; sending it again under the same id",
                        cid,
                    )
        raise TransportError(
            f"POST {self.endpoints.prefix}/{name}: order {cid} could not be placed in "
            f"{MAX_RETRIES + 1} tries, and Binance does not have it: nothing was placed. "
            "Check the connection to Binance"
        )

    async def settle(self, lookup: Lookup, symbol: str, cid: str) -> Any:
        """The order, if a send of unknown fate executed; None once it surely did not: Binance
        refuses a request that reaches it after its recvWindow."""
        deadline = self.now_ms() + self.recv_window_ms + SETTLE_MARGIN_MS
        found = await self._lookup(lookup, symbol, cid)
        if found is not None:
            return found
        wait_s = (deadline - self.now_ms()) / 1000
        if wait_s > 0:
            await asyncio.sleep(wait_s)
        return await self._lookup(lookup, symbol, cid)

    @staticmethod
    async def _lookup(lookup: Lookup, symbol: str, cid: str) -> Any:
        try:
            return await lookup(symbol, cid)
        except UnknownOrder:  # -2013 / -2011: Binance does not have it
            return None
        except InvalidRequest:  # the order carried the same symbol and id: it was refused too
            return None
        except (BinanceError, TransportError, RateBudgetExceeded) as exc:
            raise OrderFateUnknown(
                f"order {cid}: its answer was lost and looking it up failed too ({exc}); it may "
                "exist on Binance. It was not sent again: reconcile open orders and positions "
                "before placing it anew"
            ) from None


class _NotExecuted(Exception):
    """A 5xx that Binance documents as 'failed': safe to send again."""

    def __init__(self, status: int) -> None:
        super().__init__(f"HTTP {status}")
        self.status = status


def _rate_limited(data: Any, status: int) -> RateLimited:
    code = data.get("code", -1003) if isinstance(data, dict) else -1003
    msg = data.get("msg", "rate limited") if isinstance(data, dict) else "rate limited"
    err = BinanceError.from_code(code, msg, status)
    return err if isinstance(err, RateLimited) else RateLimited(code, msg, status)


def _described(where: str, exc: Exception) -> str:
    return str(exc) if isinstance(exc, TransportError) else f"{where}: {exc}"


def _seconds(header: str | None) -> float | None:
    try:
        return float(header) if header is not None else None
    except ValueError:
        return None


def _backoff(attempt: int) -> float:
    """Exponential, with jitter so that many clients do not retry in step."""
    return min(0.05 * 2.0**attempt, 5.0) * (0.5 + random.random())


__all__ = [
    "MAX_RETRIES",
    "RECV_WINDOW_MS",
    "OrderFateUnknown",
    "Placement",
    "SignedTransport",
    "TransportError",
    "Withdrawn",
]
