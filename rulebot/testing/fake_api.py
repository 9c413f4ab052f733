"""The plumbing every REST endpoint of the fake exchange shares: routes with Binance's security,
IP weight and order count (FACTS §5), the fault knobs, refusals as Binance's `{"code", "msg"}`,
request parameters parsed the way Binance refuses them, and `Api`, the base of the handler groups
(`fake_rest` for market data and the account, `fake_orders` for orders).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any, Literal

import orjson
from aiohttp import web

from rulebot.core.commands import Command, PlaceOrder
from rulebot.exchange_sim.model import SimResult

if TYPE_CHECKING:
    from rulebot.testing.fake_binance import FakeBinance


Params = dict[str, str]


Handler = Callable[[web.Request, Params], Awaitable[Any]]


Weight = Callable[[Params], int]


Security = Literal["NONE", "USER_STREAM", "SIGNED"]


_PLACING = ("/order", "/algoOrder", "/batchOrders")


@dataclass
class RestFaults:
    """Knobs read on every request; the counters count down as they fire."""

    status_429: int = 0  # the next N requests get 429 -1003 with Retry-After
    status_418: int = 0  # the next N requests get 418 (IP banned) with Retry-After
    retry_after_s: int = 1
    timestamp_1021: int = 0  # the next N signed requests get -1021
    status_503: int = 0  # the next N requests get 503 "Service Unavailable." (not executed)
    unknown_after_execute: int = 0  # the next N placements execute, then answer 503 -1007
    drop_after_execute: int = 0  # the next N placements execute, then the connection is cut
    cancel_unknown_after_execute: int = 0  # the next N cancels execute, then answer 503 -1007
    cancel_unknown_not_executed: int = 0  # the next N cancels (one or all) answer 503 -1007 and do nothing
    delay_ms: int = 0  # every request waits this long before it is handled
    slow_requests: int = 0  # the next N requests wait `slow_ms` before they are handled
    slow_ms: int = 0
    hold_after_execute_ms: int = 0  # a placement executes, then its answer waits this long
    hold_next_answer_ms: int = 0  # the next placement executes, then its answer (that one only) waits this long
    clock_skew_ms: int = 0  # the server's clock runs ahead by this much
    order_1021: int = 0  # the next N order placements get -1021 (a resend after a clock resync counts)
    slow_orders: int = 0  # the next N order placements wait `slow_ms` before they are handled


@dataclass(frozen=True, slots=True)
class Route:
    method: str
    path: str  # after the market prefix: "/v1/order"
    handler: Handler
    security: Security
    weight: Callable[[Params], int]
    orders: Callable[[Params], int]


class Refusal(Exception):
    """Binance's error answer: HTTP status, code and message."""

    def __init__(self, status: int, code: int, msg: str) -> None:
        super().__init__(msg)
        self.status, self.code, self.msg = status, code, msg


def fixed_weight(n: int) -> Callable[[Params], int]:
    return lambda _p: n


def symbol_weight(one: int, every: int) -> Callable[[Params], int]:
    return lambda p: one if p.get("symbol") else every


def depth_weight(p: Params) -> int:
    limit = int(p.get("limit", "500") or 500)
    return 2 if limit <= 50 else 5 if limit <= 100 else 10 if limit <= 500 else 20


def klines_weight(p: Params) -> int:
    limit = int(p.get("limit", "500") or 500)
    return 1 if limit < 100 else 2 if limit < 500 else 5 if limit <= 1000 else 10


def batch_size(p: Params) -> int:
    try:
        items = orjson.loads(p.get("batchOrders", "[]"))
    except orjson.JSONDecodeError:
        return 1
    return len(items) if isinstance(items, list) else 1


def int_param(p: Mapping[str, str], name: str, default: int | None = None) -> int | None:
    raw = p.get(name)
    if raw in (None, ""):
        return default
    try:
        return int(raw)
    except ValueError:
        raise Refusal(400, -1130, f"Data sent for parameter '{name}' is not valid.") from None


def dec_param(p: Mapping[str, str], name: str) -> Decimal | None:
    raw = p.get(name)
    if raw in (None, ""):
        return None
    try:
        return Decimal(raw)
    except InvalidOperation:
        raise Refusal(400, -1100, f"Illegal characters found in parameter '{name}'.") from None


def missing(name: str) -> Refusal:
    return Refusal(400, -1102, f"Mandatory parameter '{name}' was not sent, was empty/null, or malformed.")


def limit_param(p: Params, default: int, top: int) -> int:
    return max(1, min(int_param(p, "limit", default) or default, top))


class Api:
    """What every handler group needs: the FakeBinance that owns the state, symbol checks and
    commands run on the simulator (their events published, their refusals raised)."""

    def __init__(self, fake: FakeBinance) -> None:
        self.fake = fake
        self.sim = fake.sim
        self.market = fake.market

    def symbol(self, p: Mapping[str, str]) -> str:
        symbol = p.get("symbol", "")
        if symbol not in self.fake.instruments:
            raise Refusal(400, -1121, "Invalid symbol.")
        return symbol

    async def run(self, command: Command, *, algo: bool = False) -> SimResult:
        now = self.fake.now()
        if algo:
            assert isinstance(command, PlaceOrder)
            res = self.sim.execute_algo(command, now)
        else:
            res = self.sim.execute(command, now)
        await self.fake.publish_account(res.events)
        if not res.ok:
            raise Refusal(400, res.code or -1000, res.message or "An unknown error occured.")
        return res


def routes(table: list[tuple[str, str, Handler, Security, Weight]], placing: Weight | None = None) -> list[Route]:
    """Route values from a table; `placing` counts the orders the POSTs of order paths place."""
    out = []
    for method, path, handler, security, weight in table:
        orders = placing if placing is not None and method == "POST" and path.endswith(_PLACING) else fixed_weight(0)
        out.append(Route(method, path, handler, security, weight, orders))
    return out
