"""The fake exchange's order endpoints: new, cancel, query, batch, open orders, cancel-all, the
dead man's switch, and on USDⓈ-M the algo service for conditional orders (FACTS §0).

Placements run on the simulator; an ACK answer (the default `newOrderRespType`) shows the order
as just accepted, a RESULT answer as it stands after matching, as Binance does. The answer-side
faults (lost or held answers) fire after the order executed (`FakeBinance.order_executed`).
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from dataclasses import replace
from decimal import Decimal
from typing import Any

import orjson
from aiohttp import web

from rulebot.binance import encode as enc
from rulebot.binance.payloads.orders import OrderView
from rulebot.core.commands import CancelOrder, PlaceOrder, SetCountdownCancelAll
from rulebot.core.enums import (
    Market,
    OrderStatus,
    OrderType,
    PositionSide,
    Side,
    TimeInForce,
    WorkingType,
)
from rulebot.testing.fake_api import (
    Api,
    Handler,
    Params,
    Refusal,
    Route,
    Security,
    Weight,
    batch_size,
    dec_param,
    fixed_weight,
    int_param,
    missing,
    routes,
    symbol_weight,
)

ZERO = Decimal(0)
MALFORMED = "A mandatory parameter was not sent, was empty/null, or malformed."


class OrderApi(Api):
    def routes(self) -> list[Route]:
        table: list[tuple[str, str, Handler, Security, Weight]] = [
            ("POST", "/v1/order", self.new_order, "SIGNED", fixed_weight(0)),
            ("DELETE", "/v1/order", self.cancel_order, "SIGNED", fixed_weight(1)),
            ("GET", "/v1/order", self.query_order, "SIGNED", fixed_weight(1)),
            ("POST", "/v1/batchOrders", self.batch_orders, "SIGNED", fixed_weight(5)),
            ("DELETE", "/v1/batchOrders", self.cancel_batch, "SIGNED", fixed_weight(1)),
            ("GET", "/v1/openOrders", self.open_orders, "SIGNED", symbol_weight(1, 40)),
            ("GET", "/v1/openOrder", self.open_order, "SIGNED", fixed_weight(1)),
            ("DELETE", "/v1/allOpenOrders", self.cancel_all, "SIGNED", fixed_weight(1)),
            ("POST", "/v1/countdownCancelAll", self.countdown, "SIGNED", fixed_weight(10)),
        ]
        if self.market is Market.USDM:
            table += [
                ("POST", "/v1/algoOrder", self.new_algo, "SIGNED", fixed_weight(0)),
                ("DELETE", "/v1/algoOrder", self.cancel_algo, "SIGNED", fixed_weight(1)),
                ("GET", "/v1/algoOrder", self.query_algo, "SIGNED", fixed_weight(1)),
                ("GET", "/v1/openAlgoOrders", self.open_algos, "SIGNED", symbol_weight(1, 40)),
                ("DELETE", "/v1/algoOpenOrders", self.cancel_all_algos, "SIGNED", fixed_weight(1)),
            ]
        return routes(table, placing=_placed_count)

    # -- plain orders ------------------------------------------------------------------------

    def command(self, p: Mapping[str, str], *, algo: bool) -> PlaceOrder:
        symbol = self.symbol(p)
        try:
            side = Side(p["side"])
            order_type = OrderType(p.get("type") or p.get("orderType") or "")
            tif = TimeInForce(p["timeInForce"]) if p.get("timeInForce") else None
            position_side = PositionSide(p.get("positionSide", "BOTH"))
            working = WorkingType(p.get("workingType", "CONTRACT_PRICE"))
        except (KeyError, ValueError):
            raise Refusal(400, -1102, MALFORMED) from None
        cid = p.get("clientAlgoId" if algo else "newClientOrderId") or f"fake-{secrets.token_hex(8)}"
        if len(cid) > 36:
            raise Refusal(400, -4015, "Client order id length should not be more than 36 chars")
        return PlaceOrder(
            client_order_id=cid,
            symbol=symbol,
            side=side,
            order_type=order_type,
            quantity=dec_param(p, "quantity"),
            price=dec_param(p, "price"),
            trigger_price=dec_param(p, "triggerPrice" if algo else "stopPrice"),
            time_in_force=tif,
            position_side=position_side,
            reduce_only=p.get("reduceOnly", "false") == "true",
            close_position=p.get("closePosition", "false") == "true",
            working_type=working,
            callback_rate=dec_param(p, "callbackRate"),
            activation_price=dec_param(p, "activatePrice" if algo else "activationPrice"),
            price_protect=p.get("priceProtect", "false").lower() == "true",
            time=self.fake.now(),
        )

    def order_json(self, view: OrderView, p: Mapping[str, str] | None = None) -> dict[str, Any]:
        """An order as Binance prints it: an ACK answer shows it as just accepted."""
        if p is not None and p.get("newOrderRespType", "ACK") != "RESULT":
            view = replace(
                view, status=OrderStatus.NEW, filled_qty=ZERO, average_price=ZERO, cum_quote=ZERO, update_time=view.time
            )
        out = enc.order_json(view)
        if self.market is Market.COINM:  # /dapi: the pair, and the filled value in coin
            usd = Decimal(out.pop("cumQuote"))
            out["pair"] = view.symbol.split("_")[0]
            out["cumBase"] = _f(usd / view.average_price if view.average_price else ZERO)
        return out

    async def new_order(self, request: web.Request, p: Params) -> Any:
        command = self.command(p, algo=False)
        res = await self.run(command)
        await self.fake.order_executed(request, command.client_order_id)
        assert res.order is not None
        return self.order_json(res.order, p)

    async def batch_orders(self, request: web.Request, p: Params) -> Any:
        bad = Refusal(400, -1130, "Data sent for parameter 'batchOrders' is not valid.")
        try:
            items = orjson.loads(p.get("batchOrders", "[]"))
        except orjson.JSONDecodeError:
            raise bad from None
        if not isinstance(items, list) or not 1 <= len(items) <= 5:
            raise Refusal(400, -4082, "Invalid number of batch place orders.")
        out: list[Any] = []
        placed: list[str] = []
        for item in items:  # each order stands alone: one refused, the others still go
            try:
                if not isinstance(item, dict):
                    raise bad
                fields = {k: str(v).lower() if isinstance(v, bool) else str(v) for k, v in item.items()}
                command = self.command(fields, algo=False)
                res = await self.run(command)
                assert res.order is not None
                placed.append(command.client_order_id)
                out.append(self.order_json(res.order, fields))
            except Refusal as r:
                out.append({"code": r.code, "msg": r.msg})
        await self.fake.order_executed(request, *placed)
        return out

    def find(self, p: Mapping[str, str]) -> tuple[str, str]:
        symbol = self.symbol(p)
        cid = p.get("origClientOrderId")
        if not cid and p.get("orderId"):
            view = self.sim.order_by_id(symbol, int_param(p, "orderId") or 0)
            cid = view.client_order_id if view is not None else None
        if not cid:
            raise Refusal(400, -2013, "Order does not exist.")
        return symbol, cid

    async def cancel_order(self, request: web.Request, p: Params) -> Any:
        self.fake.cancel_asked()
        symbol, cid = self.find(p)
        view = self.sim.order(symbol, cid)
        if view is None or view.status not in (OrderStatus.NEW, OrderStatus.PARTIALLY_FILLED):
            raise Refusal(400, -2011, "Unknown order sent.")
        res = await self.run(CancelOrder(symbol, cid, self.fake.now()))
        self.fake.cancel_executed()
        return self.order_json(res.order) if res.order is not None else {}

    async def cancel_batch(self, request: web.Request, p: Params) -> Any:
        symbol = self.symbol(p)
        try:
            ids = orjson.loads(p.get("origClientOrderIdList") or p.get("orderIdList") or "[]")
        except orjson.JSONDecodeError:
            raise Refusal(400, -1130, "Data sent for parameter 'origClientOrderIdList' is not valid.") from None
        key = "origClientOrderId" if "origClientOrderIdList" in p else "orderId"
        out: list[Any] = []
        for one in ids[:10]:
            try:
                out.append(await self.cancel_order(request, {"symbol": symbol, key: str(one)}))
            except Refusal as r:
                out.append({"code": r.code, "msg": r.msg})
        return out

    async def query_order(self, request: web.Request, p: Params) -> Any:
        symbol, cid = self.find(p)
        view = self.sim.order(symbol, cid)
        if view is None:
            raise Refusal(400, -2013, "Order does not exist.")
        return self.order_json(view)

    async def open_order(self, request: web.Request, p: Params) -> Any:
        view = await self.query_order(request, p)
        if view["status"] not in ("NEW", "PARTIALLY_FILLED"):
            raise Refusal(400, -2013, "Order does not exist.")
        return view

    async def open_orders(self, request: web.Request, p: Params) -> Any:
        symbol = self.symbol(p) if "symbol" in p else None
        return [self.order_json(o) for o in self.sim.open_orders(symbol)]

    async def cancel_all(self, request: web.Request, p: Params) -> Any:
        self.fake.cancel_asked()
        symbol = self.symbol(p)
        # CancelAllOrders takes the algo orders too; /allOpenOrders must leave them (FACTS §5).
        plain = [o.client_order_id for o in self.sim.open_orders(symbol)]
        for cid in plain:
            await self.run(CancelOrder(symbol, cid, self.fake.now()))
        return {"code": 200, "msg": "The operation of cancel all open order is done."}

    async def cancel_all_algos(self, request: web.Request, p: Params) -> Any:
        self.fake.cancel_asked()
        symbol = self.symbol(p)
        for a in self.sim.open_algo_orders(symbol):
            await self.run(CancelOrder(symbol, a.client_algo_id, self.fake.now()))
        return {"code": 200, "msg": "The operation of cancel all open order is done."}

    async def countdown(self, request: web.Request, p: Params) -> Any:
        symbol, ms = self.symbol(p), int_param(p, "countdownTime", 0) or 0
        await self.run(SetCountdownCancelAll(symbol, ms, self.fake.now()))
        return {"symbol": symbol, "countdownTime": str(ms)}

    # -- the algo service (USDⓈ-M conditional orders) -----------------------------------------

    async def new_algo(self, request: web.Request, p: Params) -> Any:
        if p.get("algoType") != "CONDITIONAL":
            raise missing("algoType")
        command = self.command(p, algo=True)
        res = await self.run(command, algo=True)
        await self.fake.order_executed(request, command.client_order_id)
        assert res.algo is not None
        return enc.algo_json(res.algo)

    def find_algo(self, p: Mapping[str, str]) -> tuple[str, str]:
        cid, aid = p.get("clientAlgoId"), int_param(p, "algoId")
        for symbol in [p["symbol"]] if p.get("symbol") else list(self.fake.instruments):
            view = (
                self.sim.algo_order(symbol, cid)
                if cid
                else (self.sim.algo_order_by_id(symbol, aid) if aid is not None else None)
            )
            if view is not None:
                return symbol, view.client_algo_id
        raise Refusal(400, -2013, "Order does not exist.")

    async def cancel_algo(self, request: web.Request, p: Params) -> Any:
        self.fake.cancel_asked()
        symbol, cid = self.find_algo(p)
        view = self.sim.algo_order(symbol, cid)
        if view is None or view.status != "NEW":
            raise Refusal(400, -2011, "Unknown order sent.")
        res = await self.run(CancelOrder(symbol, cid, self.fake.now()))
        self.fake.cancel_executed()
        algo = res.algo or self.sim.algo_order(symbol, cid)
        return {
            "algoId": algo.algo_id if algo else 0,
            "clientAlgoId": cid,
            "code": "200",
            "msg": "success",
        }

    async def query_algo(self, request: web.Request, p: Params) -> Any:
        symbol, cid = self.find_algo(p)
        view = self.sim.algo_order(symbol, cid)
        assert view is not None
        return enc.algo_json(view)

    async def open_algos(self, request: web.Request, p: Params) -> Any:
        symbol = self.symbol(p) if "symbol" in p else None
        return [enc.algo_json(a) for a in self.sim.open_algo_orders(symbol)]


def _placed_count(p: Params) -> int:
    """Orders a POST places: one, or the batch's size."""
    return batch_size(p) if "batchOrders" in p else 1


def _f(value: Decimal) -> str:
    return format(value, "f")


__all__ = ["OrderApi"]
