"""The fake exchange's fault controls over HTTP, so that a person (or a script) can reproduce a run
against `rulebot fake-exchange` while a bot trades on it:

    GET  /fake/faults                                   every fault knob and its value now
    POST /fake/faults    {"order_1021": 2}              set some: RestFaults and StreamFaults names
    POST /fake/position  {"symbol": "BTCUSDT", "amount": "0.01", "margin": "isolated", "leverage": 3}
                                                        a position opened by hand (margin, leverage optional)

Each request needs the fake's API key in `X-MBX-APIKEY`, as Binance's own endpoints do. A name
that is not a knob, or a value of the wrong type, is refused with a 400 that lists the knobs.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any

import orjson
from aiohttp import web

from rulebot.core.commands import Command, PlaceOrder, SetLeverage, SetMarginType
from rulebot.core.enums import MarginType, OrderType, PositionSide, Side

if TYPE_CHECKING:
    from rulebot.testing.fake_binance import FakeBinance

_TRUE, _FALSE = ("true", "1", "yes", "on"), ("false", "0", "no", "off")


def knobs(fake: FakeBinance) -> dict[str, Any]:
    """Every fault knob (REST and streams) by name, with its value now."""
    return {**dataclasses.asdict(fake.rest_faults), **dataclasses.asdict(fake.hub.faults)}


def set_faults(fake: FakeBinance, values: Mapping[str, object]) -> dict[str, Any]:
    """Set knobs by name; all or none (ValueError names the first bad one)."""
    parsed: list[tuple[object, str, Any]] = []
    for name, raw in values.items():
        owner = next((o for o in (fake.rest_faults, fake.hub.faults) if name in _fields(o)), None)
        if owner is None:
            raise ValueError(f"no fault named {name!r}; the faults are: {', '.join(sorted(knobs(fake)))}")
        parsed.append((owner, name, _value(name, _fields(owner)[name], raw)))
    for owner, name, value in parsed:
        setattr(owner, name, value)
    return knobs(fake)


def parse_assignment(text: str) -> tuple[str, str]:
    """`NAME=VALUE` as the command line gives it."""
    name, sep, value = text.partition("=")
    if not sep or not name.strip():
        raise ValueError(f"{text!r} is not NAME=VALUE (e.g. order_1021=2)")
    return name.strip(), value.strip()


async def open_position(fake: FakeBinance, symbol: str, amount: Decimal) -> None:
    """A market order outside any bot (by hand, or by a bot whose journal is gone)."""
    side = Side.BUY if amount > 0 else Side.SELL
    cmd = PlaceOrder(
        f"manual-{fake.orders_placed + 1}", symbol, side, OrderType.MARKET, abs(amount), position_side=PositionSide.BOTH
    )
    res = fake.sim.execute(cmd, fake.now())
    await fake.publish_account(res.events)
    if not res.ok:
        raise ValueError(f"the exchange refused the order ({res.code}: {res.message})")


async def _account_setup(fake: FakeBinance, symbol: str, body: Mapping[str, Any]) -> None:
    """`margin` (isolated | cross) and `leverage`, as the bot that opened it had them."""
    commands: list[Command] = []
    margin = body.get("margin")
    if margin is not None:
        if margin not in ("isolated", "cross"):
            raise ValueError(f"margin is isolated or cross, not {margin!r}")
        commands.append(SetMarginType(symbol, MarginType.ISOLATED if margin == "isolated" else MarginType.CROSSED))
    leverage = body.get("leverage")
    if leverage is not None:
        if not isinstance(leverage, int) or isinstance(leverage, bool) or not 1 <= leverage <= 125:
            raise ValueError(f"leverage is a whole number from 1 to 125, not {leverage!r}")
        commands.append(SetLeverage(symbol, leverage))
    for cmd in commands:
        res = fake.sim.execute(cmd, fake.now())
        await fake.publish_account(res.events)
        if not res.ok and res.code not in (-4046,):  # -4046: already so
            raise ValueError(f"the exchange refused it ({res.code}: {res.message})")


def add_routes(fake: FakeBinance) -> None:
    async def get_faults(request: web.Request) -> web.Response:
        return _refused_key(fake, request) or _json(knobs(fake))

    async def post_faults(request: web.Request) -> web.Response:
        refused = _refused_key(fake, request)
        if refused is not None:
            return refused
        try:
            return _json(set_faults(fake, await _body(request)))
        except ValueError as exc:
            return _json({"error": str(exc)}, 400)

    async def post_position(request: web.Request) -> web.Response:
        refused = _refused_key(fake, request)
        if refused is not None:
            return refused
        try:
            body = await _body(request)
            symbol = str(body.get("symbol", ""))
            if symbol not in fake.instruments:
                raise ValueError(f"unknown symbol {symbol!r}; this fake lists {', '.join(sorted(fake.instruments))}")
            try:
                amount = Decimal(str(body.get("amount", "")))
            except InvalidOperation:
                raise ValueError('amount must be a number, negative for a short (e.g. "0.01")') from None
            if not amount.is_finite() or amount == 0:
                raise ValueError("amount must be a non-zero number, negative for a short")
            await _account_setup(fake, symbol, body)
            await open_position(fake, symbol, amount)
        except ValueError as exc:
            return _json({"error": str(exc)}, 400)
        return _json({"positions": [str(p.amount) for p in fake.sim.positions(symbol)]})

    fake.app.router.add_get("/fake/faults", get_faults)
    fake.app.router.add_post("/fake/faults", post_faults)
    fake.app.router.add_post("/fake/position", post_position)


def _fields(owner: object) -> dict[str, str]:
    return {f.name: str(f.type) for f in dataclasses.fields(owner)}  # type: ignore[arg-type]


def _value(name: str, kind: str, raw: object) -> Any:
    text = str(raw).strip().lower() if not isinstance(raw, bool | int) else raw
    if kind == "bool":
        if isinstance(text, bool) or text in (0, 1):
            return bool(text)
        if text in _TRUE or text in _FALSE:
            return text in _TRUE
        raise ValueError(f"{name} is true or false, not {raw!r}")
    if "None" in kind and (raw is None or text in ("none", "null", "off", "")):
        return None
    try:
        value = int(text) if not isinstance(text, bool) else None
    except ValueError:
        value = None
    if value is None or value < 0:
        raise ValueError(f"{name} is a whole number >= 0, not {raw!r}")
    return value


async def _body(request: web.Request) -> dict[str, Any]:
    example = '{"symbol": "BTCUSDT", "amount": "0.01"}' if request.path.endswith("position") else '{"order_1021": 2}'
    try:
        body = orjson.loads(await request.read() or b"{}")
    except orjson.JSONDecodeError:
        body = None
    if not isinstance(body, dict):
        raise ValueError(f"the body must be a JSON object, e.g. {example}")
    return body


def _refused_key(fake: FakeBinance, request: web.Request) -> web.Response | None:
    if request.headers.get("X-MBX-APIKEY") != fake.api_key:
        return _json({"error": "the fake's API key is needed in X-MBX-APIKEY"}, 401)
    return None


def _json(doc: object, status: int = 200) -> web.Response:
    return web.Response(body=orjson.dumps(doc), status=status, content_type="application/json")
