"""The fake exchange's REST endpoints: Binance's paths, weights and answers, over the simulator.

This module: market data, account settings and reports, the listen key; `fake_orders` has the
order endpoints and `fake_api` the plumbing they share.

Each route names its method, path (after `/fapi` or `/dapi`), security (public, API key only,
or signed), IP weight and order count as FACTS §5 gives them; the server (`fake_binance`)
checks the key, signature and timestamp, counts usage and injects faults before a handler runs.
Answers have the shapes of the real payloads in `shared/binance/payloads/rest_*.json`; refusals
are Binance's `{"code", "msg"}` with its codes and messages.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from aiohttp import web

from rulebot.binance import encode as enc
from rulebot.binance.payloads.account_state import AssetBalance
from rulebot.core.commands import (
    SetLeverage,
    SetMarginType,
    SetPositionMode,
)
from rulebot.core.enums import (
    MarginType,
    Market,
)
from rulebot.exchange_sim.model import AccountView
from rulebot.testing.fake_api import (
    Api,
    Handler,
    Params,
    Refusal,
    Route,
    Security,
    Weight,
    depth_weight,
    fixed_weight,
    int_param,
    klines_weight,
    limit_param,
    missing,
    routes,
    symbol_weight,
)
from rulebot.testing.fake_info import brackets_json, exchange_info_json

ZERO = Decimal(0)


class RestApi(Api):
    """Market data, account settings and reports, the listen key."""

    def routes(self) -> list[Route]:
        usdm = self.market is Market.USDM
        table: list[tuple[str, str, Handler, Security, Weight]] = [
            ("GET", "/v1/ping", self.ping, "NONE", fixed_weight(1)),
            ("GET", "/v1/time", self.time, "NONE", fixed_weight(1)),
            ("GET", "/v1/exchangeInfo", self.exchange_info, "NONE", fixed_weight(1)),
            ("GET", "/v1/depth", self.depth, "NONE", depth_weight),
            ("GET", "/v1/klines", self.klines, "NONE", klines_weight),
            ("GET", "/v1/aggTrades", self.agg_trades, "NONE", fixed_weight(20)),
            ("GET", "/v1/premiumIndex", self.premium_index, "NONE", symbol_weight(1, 10)),
            ("GET", "/v1/fundingRate", self.funding_rate, "NONE", fixed_weight(1)),
            ("GET", "/v1/leverageBracket" if usdm else "/v2/leverageBracket", self.brackets, "SIGNED", fixed_weight(1)),
            ("POST", "/v1/leverage", self.leverage, "SIGNED", fixed_weight(1)),
            ("POST", "/v1/marginType", self.margin_type, "SIGNED", fixed_weight(1)),
            ("POST", "/v1/positionSide/dual", self.set_dual, "SIGNED", fixed_weight(1)),
            ("GET", "/v1/positionSide/dual", self.get_dual, "SIGNED", fixed_weight(30)),
            ("GET", "/v1/userTrades", self.user_trades, "SIGNED", fixed_weight(5 if usdm else 20)),
            ("GET", "/v1/income", self.income, "SIGNED", fixed_weight(30 if usdm else 20)),
            ("GET", "/v1/commissionRate", self.commission_rate, "SIGNED", fixed_weight(20)),
            ("POST", "/v1/listenKey", self.listen_key, "USER_STREAM", fixed_weight(1)),
            ("PUT", "/v1/listenKey", self.listen_key, "USER_STREAM", fixed_weight(1)),
            ("DELETE", "/v1/listenKey", self.listen_key, "USER_STREAM", fixed_weight(1)),
        ]
        for v in ("/v2", "/v3") if usdm else ("/v1",):
            table += [
                ("GET", f"{v}/account", self.account, "SIGNED", fixed_weight(5)),
                ("GET", f"{v}/balance", self.balance, "SIGNED", fixed_weight(5)),
                ("GET", f"{v}/positionRisk", self.position_risk, "SIGNED", fixed_weight(5 if usdm else 1)),
            ]
        return routes(table)

    # -- market data -----------------------------------------------------------------------------

    async def ping(self, request: web.Request, p: Params) -> Any:
        return {}

    async def time(self, request: web.Request, p: Params) -> Any:
        return {"serverTime": self.fake.now()}

    async def exchange_info(self, request: web.Request, p: Params) -> Any:
        fake = self.fake
        return exchange_info_json(fake.instruments.values(), fake.market, fake.now(), fake.rate_limits)

    async def brackets(self, request: web.Request, p: Params) -> Any:
        symbol = self.symbol(p) if "symbol" in p else None
        return brackets_json(self.fake.brackets, self.market, symbol)

    async def depth(self, request: web.Request, p: Params) -> Any:
        return self.fake.depth_snapshot(self.symbol(p), limit_param(p, 500, 1000))

    async def klines(self, request: web.Request, p: Params) -> Any:
        symbol, interval = self.symbol(p), p.get("interval", "")
        try:
            return self.fake.history.klines(
                symbol, interval, int_param(p, "startTime"), int_param(p, "endTime"), limit_param(p, 500, 1500)
            )
        except ValueError:
            raise Refusal(400, -1120, "Invalid interval.") from None

    async def agg_trades(self, request: web.Request, p: Params) -> Any:
        return self.fake.history.agg_trades(
            self.symbol(p),
            int_param(p, "fromId"),
            int_param(p, "startTime"),
            int_param(p, "endTime"),
            limit_param(p, 500, 1000),
        )

    async def premium_index(self, request: web.Request, p: Params) -> Any:
        if "symbol" not in p:
            return [self._premium(s) for s in self.fake.instruments]
        one = self._premium(self.symbol(p))
        return one if self.market is Market.USDM else [one]  # /dapi always answers an array

    def _premium(self, symbol: str) -> dict[str, Any]:
        q, now = self.sim.quotes(symbol), self.fake.now()
        mark = q.mark or q.last or ZERO
        rate = self.fake.funding.get(symbol, Decimal("0.0001"))
        out = {
            "symbol": symbol,
            "markPrice": format(mark, "f"),
            "indexPrice": format(q.index or mark, "f"),
            "estimatedSettlePrice": format(mark, "f"),
            "lastFundingRate": format(rate, "f"),
            "interestRate": "0.00010000",
            "nextFundingTime": (now // 28_800_000 + 1) * 28_800_000,
            "time": now,
        }
        if self.market is Market.COINM:
            out["pair"] = symbol.split("_")[0]
        return out

    async def funding_rate(self, request: web.Request, p: Params) -> Any:
        symbol = self.symbol(p) if "symbol" in p else None
        start, end = int_param(p, "startTime"), int_param(p, "endTime")
        return self.fake.history.funding_rates(symbol, start, end, limit_param(p, 100, 1000))

    # -- account ---------------------------------------------------------------------------------

    async def leverage(self, request: web.Request, p: Params) -> Any:
        symbol, lev = self.symbol(p), int_param(p, "leverage", 0) or 0
        await self.run(SetLeverage(symbol, lev, self.fake.now()))
        cap = "maxNotionalValue" if self.market is Market.USDM else "maxQty"
        return {"leverage": lev, cap: format(self.sim.max_notional(symbol), "f"), "symbol": symbol}

    async def margin_type(self, request: web.Request, p: Params) -> Any:
        symbol = self.symbol(p)
        try:
            margin = MarginType(p.get("marginType", "").upper())
        except ValueError:
            raise missing("marginType") from None
        await self.run(SetMarginType(symbol, margin, self.fake.now()))
        return {"code": 200, "msg": "success"}

    async def set_dual(self, request: web.Request, p: Params) -> Any:
        value = p.get("dualSidePosition")
        if value not in ("true", "false"):
            raise missing("dualSidePosition")
        await self.run(SetPositionMode(value == "true", self.fake.now()))
        return {"code": 200, "msg": "success"}

    async def get_dual(self, request: web.Request, p: Params) -> Any:
        return {"dualSidePosition": self.sim.hedge_mode}

    async def balance(self, request: web.Request, p: Params) -> Any:
        return [enc.balance_json(b, self.market) for b in self.sim.balances()]

    async def position_risk(self, request: web.Request, p: Params) -> Any:
        symbol = self.symbol(p) if "symbol" in p else None
        rows = [enc.position_json(v) for v in self.sim.positions(symbol, include_flat=True)]
        if self.market is Market.COINM:  # /dapi/v1/positionRisk prints no isolatedWallet (shared payload)
            for row in rows:
                row.pop("isolatedWallet", None)
        return rows

    async def account(self, request: web.Request, p: Params) -> Any:
        sim = self.sim
        assets = [_asset_json(b, sim.account(b.asset)) for b in sim.balances()]
        positions = [enc.position_json(v) for v in sim.positions()]
        out: dict[str, Any] = {
            "feeTier": 0,
            "canTrade": True,
            "canDeposit": True,
            "canWithdraw": True,
            "updateTime": 0,
            "assets": assets,
            "positions": positions,
        }
        main = next((a for a in assets if a["asset"] == "USDT"), None)
        if self.market is Market.USDM and main is not None:
            # Single-asset mode: the totals are the USDT asset's (FACTS §5).
            out |= {"total" + k[0].upper() + k[1:]: main[k] for k in _TOTALLED}
            out |= {k: main[k] for k in ("availableBalance", "maxWithdrawAmount")}
            out["multiAssetsMargin"] = False
        return out

    async def user_trades(self, request: web.Request, p: Params) -> Any:
        return self.fake.history.user_trades(
            self.symbol(p),
            int_param(p, "startTime"),
            int_param(p, "endTime"),
            int_param(p, "fromId"),
            limit_param(p, 500, 1000),
        )

    async def income(self, request: web.Request, p: Params) -> Any:
        symbol = self.symbol(p) if "symbol" in p else None
        return self.fake.history.income(
            symbol,
            p.get("incomeType"),
            int_param(p, "startTime"),
            int_param(p, "endTime"),
            limit_param(p, 100, 1000),
        )

    async def commission_rate(self, request: web.Request, p: Params) -> Any:
        rates = self.fake.fee_rates
        out = {"symbol": self.symbol(p), "makerCommissionRate": _f(rates.maker), "takerCommissionRate": _f(rates.taker)}
        if self.market is Market.USDM:  # RPI orders exist on USDⓈ-M only; never placed here
            out["rpiCommissionRate"] = _f(rates.maker)
        return out

    # -- the user stream's key ---------------------------------------------------------------------

    async def listen_key(self, request: web.Request, p: Params) -> Any:
        fake, now = self.fake, self.fake.now()
        if request.method == "POST":
            key, created = fake.listen_key.open(now)
            if created:
                fake.hub.register_listen_key(key)
            return {"listenKey": key}
        if request.method == "PUT":
            if not fake.listen_key.keepalive(now):
                raise Refusal(400, -1125, "This listenKey does not exist.")
            return {"listenKey": fake.listen_key.key}
        await fake.end_listen_key()
        return {}


def _f(value: Decimal) -> str:
    return format(value, "f")


_TOTALLED = (
    "walletBalance",
    "unrealizedProfit",
    "marginBalance",
    "maintMargin",
    "initialMargin",
    "positionInitialMargin",
    "openOrderInitialMargin",
    "crossWalletBalance",
    "crossUnPnl",
)


def _asset_json(b: AssetBalance, a: AccountView) -> dict[str, Any]:
    """One of `account`'s assets."""
    return {
        "asset": b.asset,
        "walletBalance": _f(a.wallet_balance),
        "unrealizedProfit": _f(a.unrealized_pnl),
        "marginBalance": _f(a.margin_balance),
        "maintMargin": _f(a.maint_margin),
        "initialMargin": _f(a.initial_margin),
        "positionInitialMargin": _f(a.position_initial_margin),
        "openOrderInitialMargin": _f(a.open_order_initial_margin),
        "crossWalletBalance": _f(b.cross_wallet_balance),
        "crossUnPnl": _f(b.cross_unrealized_pnl),
        "availableBalance": _f(a.available_balance),
        "maxWithdrawAmount": _f(a.available_balance),
        "updateTime": b.update_time,
    }


__all__ = ["RestApi"]
