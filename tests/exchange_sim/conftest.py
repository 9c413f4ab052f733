"""Real Binance instruments and brackets for the exchange simulator's tests, plus helpers.

Payloads are read from the `shared` folder beside the checkout (never copied); a missing
folder fails the tests with a message that says where it was looked for.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import replace
from decimal import Decimal as D
from typing import Any

import pytest

from rulebot.binance.payloads.account import brackets_from_payload
from rulebot.binance.payloads.exchange_info import instruments_from_exchange_info
from rulebot.core.account_events import AccountEvent, AccountUpdate, AlgoUpdate, OrderUpdate
from rulebot.core.commands import PlaceOrder
from rulebot.core.enums import (
    Market,
    OrderStatus,
    OrderType,
    PositionSide,
    Side,
    TimeInForce,
    WorkingType,
)
from rulebot.core.fees import FeeRates
from rulebot.core.instruments import Instrument
from rulebot.core.margin import BracketTable
from rulebot.exchange_sim import SimExchange
from rulebot.testing.shared import load_doc, load_payload

ZERO_FEES = FeeRates(D(0), D(0))
USDM, COINM = Market.USDM, Market.COINM
BTCUSDT, BTCUSD = "BTCUSDT", "BTCUSD_200925"


def _fapi() -> tuple[dict[str, Instrument], dict[str, BracketTable]]:
    instruments = instruments_from_exchange_info(load_payload("rest_fapi_v1_exchangeInfo.json"), USDM)
    tables = brackets_from_payload(load_payload("rest_fapi_v1_leverageBracket.json"), USDM)
    # Only BTCUSDT has real brackets in the payloads; the sim needs brackets per symbol.
    return {BTCUSDT: instruments[BTCUSDT]}, {BTCUSDT: tables[BTCUSDT]}


def _dapi() -> tuple[dict[str, Instrument], dict[str, BracketTable]]:
    instruments = instruments_from_exchange_info(load_payload("rest_dapi_v1_exchangeInfo.json"), COINM)
    perp = brackets_from_payload(load_payload("rest_dapi_v2_leverageBracket.json"), COINM)
    # The dapi payloads describe BTCUSD_200925 (exchangeInfo) and BTCUSD_PERP (brackets), both
    # BTCUSD contracts; the real bracket values are used for the quarterly symbol.
    return instruments, {BTCUSD: replace(perp["BTCUSD_PERP"], symbol=BTCUSD)}


FAPI = _fapi()
DAPI = _dapi()


@pytest.fixture(scope="session")
def btcusdt() -> Instrument:
    return FAPI[0][BTCUSDT]


@pytest.fixture(scope="session")
def btcusd() -> Instrument:
    return DAPI[0][BTCUSD]


@pytest.fixture(scope="session")
def facts_errors() -> dict[int, str]:
    """FACTS.md §8's error table: code -> typical message."""
    rows = {}
    for line in load_doc("FACTS.md").splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 3 and cells[0].lstrip("-").isdigit():
            rows[int(cells[0])] = cells[2]
    return rows


def usdm(balance: str = "10000", **kw: Any) -> SimExchange:
    """A USDⓈ-M account on real BTCUSDT, one-way cross 20x unless told otherwise."""
    return SimExchange(FAPI[0], FAPI[1], market=USDM, balances={"USDT": D(balance)}, **kw)


def coinm(balance: str = "1", **kw: Any) -> SimExchange:
    """A COIN-M account on real BTCUSD_200925 (contract size 100 USD)."""
    return SimExchange(DAPI[0], DAPI[1], market=COINM, balances={"BTC": D(balance)}, **kw)


@pytest.fixture
def sim_factory() -> Callable[..., SimExchange]:
    return usdm


def order(
    cid: str,
    side: Side,
    order_type: OrderType,
    qty: str | None,
    *,
    symbol: str = BTCUSDT,
    price: str | None = None,
    trigger: str | None = None,
    tif: TimeInForce | None = None,
    ps: PositionSide = PositionSide.BOTH,
    reduce_only: bool = False,
    close_position: bool = False,
    working_type: WorkingType = WorkingType.CONTRACT_PRICE,
    callback: str | None = None,
    activation: str | None = None,
) -> PlaceOrder:
    if order_type is OrderType.LIMIT and tif is None:
        tif = TimeInForce.GTC
    return PlaceOrder(
        client_order_id=cid,
        symbol=symbol,
        side=side,
        order_type=order_type,
        quantity=None if qty is None else D(qty),
        price=None if price is None else D(price),
        trigger_price=None if trigger is None else D(trigger),
        time_in_force=tif,
        position_side=ps,
        reduce_only=reduce_only,
        close_position=close_position,
        working_type=working_type,
        callback_rate=None if callback is None else D(callback),
        activation_price=None if activation is None else D(activation),
    )


def limit(cid: str, side: Side, qty: str, price: str, **kw: Any) -> PlaceOrder:
    return order(cid, side, OrderType.LIMIT, qty, price=price, **kw)


def market(cid: str, side: Side, qty: str | None, **kw: Any) -> PlaceOrder:
    return order(cid, side, OrderType.MARKET, qty, **kw)


def book(sim: SimExchange, bid: str, ask: str, qty: str = "100", time: int = 0, **kw: Any) -> list[AccountEvent]:
    symbol = kw.get("symbol", BTCUSDT)
    return sim.on_book(symbol, D(bid), D(qty), D(ask), D(qty), time)


def trades(events: Iterable[AccountEvent]) -> list[OrderUpdate]:
    """The fills among `events`."""
    return [e for e in events if isinstance(e, OrderUpdate) and e.execution_type in ("TRADE", "CALCULATED")]


def updates(events: Iterable[AccountEvent]) -> list[OrderUpdate]:
    return [e for e in events if isinstance(e, OrderUpdate)]


def algos(events: Iterable[AccountEvent]) -> list[AlgoUpdate]:
    return [e for e in events if isinstance(e, AlgoUpdate)]


def accounts(events: Iterable[AccountEvent]) -> list[AccountUpdate]:
    return [e for e in events if isinstance(e, AccountUpdate)]


def status_of(sim: SimExchange, cid: str, symbol: str = BTCUSDT) -> OrderStatus:
    """The status of the latest order with client id `cid` (which must exist)."""
    view = sim.order(symbol, cid)
    assert view is not None, f"no order {cid!r}"
    return view.status


def algo_status(sim: SimExchange, cid: str, symbol: str = BTCUSDT) -> str:
    view = sim.algo_order(symbol, cid)
    assert view is not None, f"no algo order {cid!r}"
    return view.status


def statuses(events: Iterable[AccountEvent]) -> list[tuple[str, str, str]]:
    """(client id, execution type, status) of each OrderUpdate, and ("algo:"+id, status) pairs."""
    out: list[tuple[str, str, str]] = []
    for e in events:
        if isinstance(e, OrderUpdate):
            out.append((e.client_order_id, e.execution_type, e.status.value))
        elif isinstance(e, AlgoUpdate):
            out.append((e.client_algo_id, "ALGO", e.status))
    return out
