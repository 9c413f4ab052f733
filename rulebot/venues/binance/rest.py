"""Binance Futures REST endpoints (USDⓈ-M `/fapi`, COIN-M `/dapi`), over `SignedTransport`.

    async with BinanceRest(Endpoints.of(Market.USDM), key, secret) as rest:
        await rest.exchange_info()  # the live rateLimits configure the budget
        order = await rest.new_order({"symbol": "BTCUSDT", "side": "BUY", "type": "MARKET",
                                      "quantity": Decimal("0.01"), "newClientOrderId": "e-1"})

Answers are Binance's JSON, for the parsers in `parse_rest`; errors are the typed exceptions of
`errors`. Weights are FACTS §5's, so the rate budget counts what Binance counts. How failures
are handled (clock drift, 429/418, 5xx, lost answers of orders) is `transport`'s job.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

import orjson

from rulebot.binance.codes import BinanceError, ExecutionUnknown
from rulebot.binance.payloads.market import parse_agg_trade
from rulebot.binance.payloads.rest import parse_rate_limits
from rulebot.core.events import Trade
from rulebot.venues.binance.transport import (
    MAX_RETRIES,
    RECV_WINDOW_MS,
    Placement,
    SignedTransport,
    TransportError,
)

RECV_WINDOW = RECV_WINDOW_MS  # the name older callers import
log = logging.getLogger("rulebot.binance.rest")


class BinanceRest(SignedTransport):
    """Every endpoint the bot uses; the user stream client and the order book take it too
    (`create_listen_key`/`keepalive_listen_key`/`close_listen_key`, `depth`)."""

    # -- market data -----------------------------------------------------------------------------

    async def ping(self) -> None:
        await self.request("GET", "v1/ping")

    async def server_time(self) -> int:
        return int((await self.request("GET", "v1/time"))["serverTime"])

    async def exchange_info(self) -> Any:
        """exchangeInfo; its `rateLimits` configure the limiter's budgets."""
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
        params = {"symbol": symbol, "startTime": start, "endTime": end, "limit": limit}
        return await self.request("GET", "v1/fundingRate", params)

    async def klines(
        self,
        symbol: str,
        interval: str,
        start: int | None = None,
        end: int | None = None,
        limit: int = 500,
    ) -> Any:
        weight = 1 if limit < 100 else 2 if limit < 500 else 5 if limit <= 1000 else 10
        params = {
            "symbol": symbol,
            "interval": interval,
            "startTime": start,
            "endTime": end,
            "limit": limit,
        }
        return await self.request("GET", "v1/klines", params, weight=weight)

    async def agg_trades(self, symbol: str, from_id: int, limit: int = 1000) -> list[Trade]:
        """Aggregate trades from `from_id` on, as core Trades (for filling stream gaps)."""
        params = {"symbol": symbol, "fromId": from_id, "limit": limit}
        rows = await self.request("GET", "v1/aggTrades", params, weight=20)
        return [parse_agg_trade({**r, "e": "aggTrade", "s": symbol, "E": r["T"]}) for r in rows]

    async def backfill_trades(self, symbol: str, first: int, last: int) -> list[Trade]:
        """Aggregate trades `first..last`, a page of 1000 at a time, as far as Binance has them.

        A short page is the end of what Binance holds: asking again would chase the newest trades
        of a busy symbol page by page (weight 20 each), which the socket delivers anyway; after a
        reconnect that chase spent the whole weight budget in a second and the gaps that followed
        went unfilled (RateBudgetExceeded). What is still missing shows as a gap at the next trade.
        """
        out: list[Trade] = []
        while first <= last:
            limit = min(1000, last - first + 1)
            page = await self.agg_trades(symbol, first, limit)
            got = [t for t in page if t.trade_id <= last]
            out += got
            if not got or len(page) < limit:
                break
            first = got[-1].trade_id + 1
        return out

    async def depth(self, symbol: str, limit: int = 1000) -> Any:
        """The order book snapshot (`lastUpdateId`, `bids`, `asks`) the local book starts from."""
        weight = 2 if limit <= 50 else 5 if limit <= 100 else 10 if limit <= 500 else 20
        return await self.request("GET", "v1/depth", {"symbol": symbol, "limit": limit}, weight=weight)

    # -- orders ----------------------------------------------------------------------------------

    async def new_order(self, params: Mapping[str, object], placement: Placement | None = None) -> Any:
        """Place an order; a lost answer is resolved by client id, never by sending twice.
        `placement`: the order can be withdrawn until it leaves (`Withdrawn`)."""
        return await self.place("v1/order", params, "newClientOrderId", self.query_order, placement)

    async def new_algo_order(self, params: Mapping[str, object], placement: Placement | None = None) -> Any:
        """USDⓈ-M conditional orders (stops, take-profits, trailing stops) since 2025-12-09."""
        full = {"algoType": "CONDITIONAL", **params}
        return await self.place("v1/algoOrder", full, "clientAlgoId", self.query_algo_order, placement)

    async def batch_orders(self, orders: Sequence[Mapping[str, object]]) -> list[Any]:
        """Up to 5 plain orders at once; per order the order or its `{"code","msg"}` error. A
        lost answer is settled order by order, by client id, like a single order's."""
        if not 1 <= len(orders) <= 5:
            raise ValueError("a batch holds 1 to 5 orders")
        if any(not o.get("newClientOrderId") for o in orders):
            raise ValueError("batch orders need a newClientOrderId each: it is what makes a retry safe")
        items = [{k: _json_param(v) for k, v in o.items() if v is not None} for o in orders]
        payload = {"batchOrders": orjson.dumps(items).decode()}
        try:
            return list(
                await self.request(
                    "POST",
                    "v1/batchOrders",
                    payload,
                    signed=True,
                    weight=5,
                    orders=len(orders),
                    idempotent=False,
                )
            )
        except (TransportError, ExecutionUnknown) as exc:
            self.lookups += 1
            log.warning("batch of %d orders: %s; settling each by client id", len(orders), exc)
        out: list[Any] = []
        for o in orders:
            symbol, cid = str(o["symbol"]), str(o["newClientOrderId"])
            found = await self.settle(self.query_order, symbol, cid)
            if found is None:
                self.resent += 1
                try:
                    found = await self.new_order(o)
                except BinanceError as err:
                    found = {"code": err.code, "msg": err.msg}
            out.append(found)
        return out

    async def cancel_order(self, symbol: str, client_order_id: str) -> Any:
        params = {"symbol": symbol, "origClientOrderId": client_order_id}
        return await self.request("DELETE", "v1/order", params, signed=True, idempotent=True)

    async def cancel_batch(self, symbol: str, client_order_ids: Sequence[str]) -> Any:
        """Cancel up to 10 orders; per order the order or its error."""
        ids = orjson.dumps(list(client_order_ids)).decode()
        params = {"symbol": symbol, "origClientOrderIdList": ids}
        return await self.request("DELETE", "v1/batchOrders", params, signed=True, idempotent=True)

    async def query_order(self, symbol: str, client_order_id: str) -> Any:
        params = {"symbol": symbol, "origClientOrderId": client_order_id}
        return await self.request("GET", "v1/order", params, signed=True)

    async def open_orders(self, symbol: str | None = None) -> Any:
        return await self.request("GET", "v1/openOrders", {"symbol": symbol}, signed=True, weight=1 if symbol else 40)

    async def cancel_all(self, symbol: str) -> Any:
        """Cancel every open order of the symbol, the algo service's included (USDⓈ-M)."""
        out = await self.request("DELETE", "v1/allOpenOrders", {"symbol": symbol}, signed=True, idempotent=True)
        if self.endpoints.routed:
            await self.request("DELETE", "v1/algoOpenOrders", {"symbol": symbol}, signed=True, idempotent=True)
        return out

    async def countdown_cancel_all(self, symbol: str, countdown_ms: int) -> Any:
        """Binance's dead man's switch: cancel the symbol's orders unless renewed within
        `countdown_ms` (0 switches it off)."""
        params = {"symbol": symbol, "countdownTime": countdown_ms}
        return await self.request("POST", "v1/countdownCancelAll", params, signed=True, weight=10, idempotent=True)

    # -- the algo service (USDⓈ-M) -------------------------------------------------------------

    async def cancel_algo_order(self, symbol: str, client_algo_id: str) -> Any:
        params = {"symbol": symbol, "clientAlgoId": client_algo_id}
        return await self.request("DELETE", "v1/algoOrder", params, signed=True, idempotent=True)

    async def query_algo_order(self, symbol: str, client_algo_id: str) -> Any:
        params = {"symbol": symbol, "clientAlgoId": client_algo_id}
        return await self.request("GET", "v1/algoOrder", params, signed=True)

    async def open_algo_orders(self, symbol: str | None = None) -> Any:
        weight = 1 if symbol else 40
        return await self.request("GET", "v1/openAlgoOrders", {"symbol": symbol}, signed=True, weight=weight)

    # -- account ---------------------------------------------------------------------------------

    async def set_leverage(self, symbol: str, leverage: int) -> Any:
        params = {"symbol": symbol, "leverage": leverage}
        return await self.request("POST", "v1/leverage", params, signed=True, idempotent=True)

    async def set_margin_type(self, symbol: str, margin_type: str) -> Any:
        params = {"symbol": symbol, "marginType": margin_type}
        return await self.request("POST", "v1/marginType", params, signed=True, idempotent=True)

    async def set_position_mode(self, hedge: bool) -> Any:
        params = {"dualSidePosition": hedge}
        return await self.request("POST", "v1/positionSide/dual", params, signed=True, idempotent=True)

    async def position_mode(self) -> bool:
        """True in hedge mode."""
        data = await self.request("GET", "v1/positionSide/dual", signed=True, weight=30)
        return bool(data["dualSidePosition"])

    def _v(self, name: str) -> str:
        return f"v2/{name}" if self.endpoints.routed else f"v1/{name}"

    async def account(self) -> Any:
        return await self.request("GET", self._v("account"), signed=True, weight=5)

    async def balance(self) -> Any:
        return await self.request("GET", self._v("balance"), signed=True, weight=5)

    async def position_risk(self, symbol: str | None = None) -> Any:
        weight = 5 if self.endpoints.routed else 1
        return await self.request("GET", self._v("positionRisk"), {"symbol": symbol}, signed=True, weight=weight)

    async def user_trades(
        self,
        symbol: str,
        start: int | None = None,
        end: int | None = None,
        from_id: int | None = None,
        limit: int = 500,
    ) -> Any:
        params = {
            "symbol": symbol,
            "startTime": start,
            "endTime": end,
            "fromId": from_id,
            "limit": limit,
        }
        weight = 5 if self.endpoints.routed else 20
        return await self.request("GET", "v1/userTrades", params, signed=True, weight=weight)

    async def income(
        self,
        symbol: str | None = None,
        income_type: str | None = None,
        start: int | None = None,
        end: int | None = None,
        limit: int = 100,
    ) -> Any:
        params = {
            "symbol": symbol,
            "incomeType": income_type,
            "startTime": start,
            "endTime": end,
            "limit": limit,
        }
        weight = 30 if self.endpoints.routed else 20
        return await self.request("GET", "v1/income", params, signed=True, weight=weight)

    async def commission_rate(self, symbol: str) -> Any:
        return await self.request("GET", "v1/commissionRate", {"symbol": symbol}, signed=True, weight=20)

    # -- user data stream ------------------------------------------------------------------------

    async def create_listen_key(self) -> str:
        data = await self.request("POST", "v1/listenKey", key=True, idempotent=True)
        return str(data["listenKey"])

    async def keepalive_listen_key(self) -> None:
        await self.request("PUT", "v1/listenKey", key=True, idempotent=True)

    async def close_listen_key(self) -> None:
        await self.request("DELETE", "v1/listenKey", key=True, idempotent=True)


def _json_param(value: object) -> object:
    if isinstance(value, bool):
        return "true" if value else "false"
    return format(value, "f") if isinstance(value, Decimal) else str(value)


__all__ = ["MAX_RETRIES", "BinanceRest", "TransportError"]
