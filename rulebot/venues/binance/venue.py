"""The Binance venue: engine commands out as REST calls; the account read back for reconciliation.

Order and account *events* come from the user data stream only (`user_stream.py`), never from
REST replies, so nothing is applied twice; `execute` reports whether Binance accepted the
command, with its code and message when it did not. USDⓈ-M conditional orders go to the algo
service (`triggerPrice`, FACTS §0); COIN-M keeps them on the plain order endpoint (`stopPrice`).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from rulebot.core.account_events import AccountUpdate, BalanceChange, PositionChange
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
from rulebot.core.enums import MarginType, Market
from rulebot.venues.binance.errors import BinanceError
from rulebot.venues.binance.parse_rest import (
    AlgoOrderView,
    OrderView,
    parse_algo_order,
    parse_balances,
    parse_orders,
    parse_position_risk,
)
from rulebot.venues.binance.rest import BinanceRest, TransportError

# "No need to change margin type / position side": already as asked.
ALREADY_SET = frozenset({-4046, -4059})


@dataclass(frozen=True, slots=True)
class VenueResult:
    ok: bool
    code: int | None = None
    message: str | None = None


@dataclass(frozen=True, slots=True)
class Reconciliation:
    """The account as the exchange sees it, read by REST after a (re)connect."""

    orders: tuple[OrderView, ...]
    algo_orders: tuple[AlgoOrderView, ...]
    account: AccountUpdate  # balances and positions, in the user stream's own event type
    time: int


class AccountSetupError(RuntimeError):
    """The exchange account is not set up as the rulebook requires and could not be changed."""


def order_params(cmd: PlaceOrder, market: Market, hedge: bool) -> tuple[dict[str, object], bool]:
    """REST parameters for a PlaceOrder, and whether it goes to the algo service."""
    algo = cmd.is_conditional and market is Market.USDM
    p: dict[str, object] = {"symbol": cmd.symbol, "side": cmd.side.value, "positionSide": cmd.position_side.value}
    p["type"] = cmd.order_type.value
    if cmd.close_position:
        p["closePosition"] = True
    elif cmd.quantity is not None:
        p["quantity"] = cmd.quantity
    if cmd.reduce_only and not hedge and not cmd.close_position:
        p["reduceOnly"] = True  # hedge mode refuses reduceOnly: the side and positionSide say it
    if cmd.price is not None:
        p["price"] = cmd.price
    if cmd.time_in_force is not None:
        p["timeInForce"] = cmd.time_in_force.value
    if cmd.is_conditional:
        p["workingType"] = cmd.working_type.value
        if cmd.trigger_price is not None:
            p["triggerPrice" if algo else "stopPrice"] = cmd.trigger_price
        if cmd.callback_rate is not None:
            p["callbackRate"] = cmd.callback_rate
        if cmd.activation_price is not None:
            p["activatePrice" if algo else "activationPrice"] = cmd.activation_price
    p["clientAlgoId" if algo else "newClientOrderId"] = cmd.client_order_id
    return p, algo


class BinanceVenue:
    def __init__(self, rest: BinanceRest, hedge: bool = False) -> None:
        self.rest = rest
        self.market = rest.endpoints.market
        self.hedge = hedge
        self._heartbeat: asyncio.Task[None] | None = None
        self.heartbeats = 0

    async def execute(self, cmd: Command) -> VenueResult:
        try:
            await self._send(cmd)
        except BinanceError as exc:
            if exc.code in ALREADY_SET:
                return VenueResult(True)
            return VenueResult(False, exc.code, exc.msg)
        except TransportError as exc:
            return VenueResult(False, None, str(exc))
        return VenueResult(True)

    async def _send(self, cmd: Command) -> Any:
        rest = self.rest
        if isinstance(cmd, PlaceOrder):
            params, algo = order_params(cmd, self.market, self.hedge)
            return await (rest.new_algo_order(params) if algo else rest.new_order(params))
        if isinstance(cmd, CancelOrder):
            try:
                return await rest.cancel_order(cmd.symbol, cmd.client_order_id)
            except BinanceError as exc:
                if exc.code in (-2011, -2013) and self.market is Market.USDM:
                    return await rest.cancel_algo_order(cmd.symbol, cmd.client_order_id)
                raise
        if isinstance(cmd, CancelAllOrders):
            return await rest.cancel_all(cmd.symbol)
        if isinstance(cmd, SetLeverage):
            return await rest.set_leverage(cmd.symbol, cmd.leverage)
        if isinstance(cmd, SetMarginType):
            return await rest.set_margin_type(cmd.symbol, cmd.margin_type.value)
        if isinstance(cmd, SetPositionMode):
            self.hedge = cmd.hedge
            return await rest.set_position_mode(cmd.hedge)
        if isinstance(cmd, SetCountdownCancelAll):
            return await rest.countdown_cancel_all(cmd.symbol, cmd.countdown_ms)
        raise TypeError(f"not a command: {cmd!r}")

    async def ensure_account_setup(
        self, symbols: Iterable[str], margin: MarginType, hedge: bool, leverage: int
    ) -> None:
        """Set position mode, margin type and leverage before the first order; stop with a clear
        message when the exchange refuses (positions or orders of another mode are open)."""
        steps: list[tuple[str, Command]] = [("position mode", SetPositionMode(hedge))]
        for s in symbols:
            steps += [("margin type", SetMarginType(s, margin)), ("leverage", SetLeverage(s, leverage))]
        for what, cmd in steps:
            res = await self.execute(cmd)
            if not res.ok:
                raise AccountSetupError(
                    f"Binance refused to set the {what} ({res.code}: {res.message}); nothing was traded. The account "
                    "must be in " + ("hedge" if hedge else "one-way") + f" mode with {margin.value.lower()} margin: "
                    "close the positions and orders that keep it otherwise, or change the rulebook's account block"
                )

    async def reconcile(self, symbols: Iterable[str]) -> Reconciliation:
        """Open orders, positions and balances as the exchange has them now."""
        symbols = list(symbols)
        orders: list[OrderView] = []
        algos: list[AlgoOrderView] = []
        for s in symbols:
            orders.extend(parse_orders(await self.rest.open_orders(s)))
            if self.market is Market.USDM:
                algos.extend(parse_algo_order(a) for a in await self.rest.open_algo_orders(s))
        now = self.rest.now_ms()
        positions = [p for p in parse_position_risk(await self.rest.position_risk()) if p.symbol in symbols]
        balances = parse_balances(await self.rest.balance())
        account = AccountUpdate(
            "RECONCILE",
            tuple(BalanceChange(b.asset, b.balance, b.cross_wallet_balance, Decimal(0)) for b in balances),
            tuple(PositionChange(p.symbol, p.position_side, p.amount, p.entry_price, p.break_even_price, Decimal(0),
                                 p.unrealized_pnl, p.margin_type, p.isolated_wallet) for p in positions),
            now,
        )  # fmt: skip
        return Reconciliation(tuple(orders), tuple(algos), account, now)

    # -- the exchange-side dead man's switch ---------------------------------------------------------

    def start_heartbeat(self, symbols: Iterable[str], countdown_ms: int = 60_000, every_s: float = 20.0) -> None:
        """Renew Binance's countdown cancel-all so that, if the bot dies, its orders die too."""
        symbols = list(symbols)

        async def beat() -> None:
            while True:
                for s in symbols:
                    with contextlib.suppress(BinanceError, TransportError):
                        await self.rest.countdown_cancel_all(s, countdown_ms)
                self.heartbeats += 1
                await asyncio.sleep(every_s)

        self.stop_heartbeat_task()
        self._heartbeat = asyncio.create_task(beat())

    def stop_heartbeat_task(self) -> None:
        if self._heartbeat is not None:
            self._heartbeat.cancel()
            self._heartbeat = None

    async def stop_heartbeat(self, symbols: Iterable[str]) -> None:
        """A clean stop: no more heartbeats, and the countdown switched off (orders stay)."""
        self.stop_heartbeat_task()
        for s in symbols:
            with contextlib.suppress(BinanceError, TransportError):
                await self.rest.countdown_cancel_all(s, 0)


__all__ = ["AccountSetupError", "BinanceVenue", "Reconciliation", "VenueResult", "order_params"]
