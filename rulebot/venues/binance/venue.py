"""The Binance venue: engine commands out as REST calls; the account read back for reconciliation.

Order and account *events* come from the user data stream only (`user_stream.py`), never from
REST replies: Binance sends an ORDER_TRADE_UPDATE / ALGO_UPDATE / ACCOUNT_UPDATE for everything
an accepted command does, so building events from replies as well would apply them twice.
What a reply alone tells is whether Binance accepted the command: `execute` returns it as a
`VenueResult` (a refused order never reaches the stream, so the runner must hand the refusal to
the engine), with `unknown` set when the order's fate could not be settled (reconcile then).
After a user-stream reconnect `reconcile()` reads open orders, positions and balances by REST.

USDⓈ-M conditional orders go to the algo service (`triggerPrice`, FACTS §0); COIN-M keeps them
on the plain order endpoint (`stopPrice`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from rulebot.binance.codes import (
    BinanceError,
    ExecutionUnknown,
    NoChangeNeeded,
    UnknownOrder,
)
from rulebot.binance.encode.requests import order_params, uses_algo
from rulebot.binance.payloads.account_state import (
    parse_balances,
    parse_position_risk,
    reconciled_balance,
    reconciled_position,
)
from rulebot.binance.payloads.orders import AlgoOrderView, OrderView, parse_algo_order, parse_orders
from rulebot.core.account_events import RECONCILE, AccountUpdate, AlgoUpdate, OrderUpdate
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
from rulebot.core.enums import MarginType, Market, OrderStatus
from rulebot.venues.binance.limiter import RateBudgetExceeded
from rulebot.venues.binance.rest import BinanceRest, TransportError
from rulebot.venues.binance.transport import WITHDRAWN, Placement, Withdrawn

log = logging.getLogger("rulebot.binance.venue")
DEFAULT_COUNTDOWN_MS = 60_000
DEFAULT_HEARTBEAT_S = 20.0
ZERO = Decimal(0)
_GONE = ("CANCELED", "EXPIRED", "EXPIRED_IN_MATCH")  # statuses in which a cancel has nothing left to do


@dataclass(frozen=True, slots=True)
class VenueResult:
    """Whether Binance accepted a command; its code and message when it did not.

    `unknown`: the request may have executed but could not be confirmed (the connection broke
    and the lookup failed too); do not treat it as refused: reconcile.
    """

    ok: bool
    code: int | None = None
    message: str | None = None
    unknown: bool = False


@dataclass(frozen=True, slots=True)
class Reconciliation:
    """The account as the exchange sees it, read by REST after a (re)connect."""

    orders: tuple[OrderView, ...]
    algo_orders: tuple[AlgoOrderView, ...]
    account: AccountUpdate  # balances and positions (flat ones too), as the user stream's event
    time: int


class AccountSetupError(RuntimeError):
    """The exchange account is not set up as the rulebook requires and could not be changed."""


class BinanceVenue:
    def __init__(self, rest: BinanceRest, hedge: bool = False) -> None:
        self.rest = rest
        self.market = rest.endpoints.market
        self.hedge = hedge
        self._heartbeat: asyncio.Task[None] | None = None
        self._wake: asyncio.Event | None = None  # the dead man's switch looks at its orders again
        self.heartbeats = 0
        self.heartbeat_failures = 0

    async def execute(self, cmd: Command, placement: Placement | None = None) -> VenueResult:
        """Send one command; never raises for what Binance or the network did. `placement`: an
        order's, for withdrawing it while it waits to leave (then it is refused here, unsent)."""
        if self._wake is not None and isinstance(cmd, PlaceOrder):
            self._wake.set()  # the switch asks `armed` again now (an entry may rest), not at the next beat
        try:
            await self._send(cmd, placement)
        except Withdrawn as exc:
            return VenueResult(False, None, str(exc))
        except NoChangeNeeded:
            return VenueResult(True)
        except ExecutionUnknown as exc:
            return VenueResult(False, exc.code, exc.msg, unknown=True)
        except BinanceError as exc:
            return VenueResult(False, exc.code, exc.msg)
        except TransportError as exc:
            return VenueResult(False, None, str(exc), unknown=isinstance(cmd, PlaceOrder))
        except RateBudgetExceeded as exc:
            return VenueResult(False, None, str(exc))
        return VenueResult(True)

    async def _send(self, cmd: Command, placement: Placement | None = None) -> Any:
        rest = self.rest
        if isinstance(cmd, PlaceOrder):
            params, algo = order_params(cmd, self.market, self.hedge)
            return await (rest.new_algo_order(params, placement) if algo else rest.new_order(params, placement))
        if isinstance(cmd, CancelOrder):
            return await self._cancel(cmd)
        if isinstance(cmd, CancelAllOrders):
            return await rest.cancel_all(cmd.symbol)
        if isinstance(cmd, SetLeverage):
            return await rest.set_leverage(cmd.symbol, cmd.leverage)
        if isinstance(cmd, SetMarginType):
            return await rest.set_margin_type(cmd.symbol, cmd.margin_type.value)
        if isinstance(cmd, SetPositionMode):
            try:
                out = await rest.set_position_mode(cmd.hedge)
            except NoChangeNeeded:
                out = None
            self.hedge = cmd.hedge  # only once Binance has it: orders are built for this mode
            return out
        if isinstance(cmd, SetCountdownCancelAll):
            return await rest.countdown_cancel_all(cmd.symbol, cmd.countdown_ms)
        raise TypeError(f"not a command: {cmd!r}")

    async def _cancel(self, cmd: CancelOrder) -> Any:
        """Cancel by client id: a plain order, else (USDⓈ-M) a stop or take-profit in the algo service.

        Neither open: Binance is asked what became of the order. Already cancelled or expired, the
        cancel is done (a send whose answer was lost, 503 -1007, did it; its resend was told -2011):
        saying "refused" would tell the journal the order may still work. Otherwise (filled,
        triggered, never placed) the refusal stands, with the answer of the service that has it."""
        rest, symbol, cid = self.rest, cmd.symbol, cmd.client_order_id
        try:
            return await rest.cancel_order(symbol, cid)
        except UnknownOrder as exc:
            refused: UnknownOrder = exc
        if self.market is Market.USDM:
            try:
                return await rest.cancel_algo_order(symbol, cid)
            except UnknownOrder as exc:
                algo_refused = exc
        status, plain = await self._final_status(symbol, cid)
        if status in _GONE:
            log.info("cancel of %s: Binance has it %s already; nothing is working", cid, status)
            return None
        raise refused if plain or self.market is not Market.USDM else algo_refused

    async def _final_status(self, symbol: str, cid: str) -> tuple[str | None, bool]:
        """The order's status on Binance and whether it is a plain order (None: not found or not asked)."""
        with contextlib.suppress(BinanceError, TransportError, RateBudgetExceeded):
            return str((await self.rest.query_order(symbol, cid))["status"]), True
        if self.market is Market.USDM:
            with contextlib.suppress(BinanceError, TransportError, RateBudgetExceeded):
                return str((await self.rest.query_algo_order(symbol, cid))["algoStatus"]), False
        return None, False

    def withdrawn_report(self, cmd: PlaceOrder, time: int) -> OrderUpdate | AlgoUpdate:
        """What the user stream says of an order canceled before anything filled, for an order
        withdrawn before it left (Binance never saw it, so it will never say so itself)."""
        if uses_algo(cmd, self.market):  # the algo service's order
            return AlgoUpdate(
                symbol=cmd.symbol,
                client_algo_id=cmd.client_order_id,
                algo_id=0,  # Binance never numbered it
                order_type=cmd.order_type,
                side=cmd.side,
                position_side=cmd.position_side,
                status="CANCELED",
                quantity=cmd.quantity or ZERO,
                trigger_price=cmd.trigger_price,
                price=cmd.price,
                reduce_only=cmd.reduce_only,
                close_position=cmd.close_position,
                working_type=cmd.working_type,
                order_id=None,
                reason=WITHDRAWN,
                time=time,
            )
        return OrderUpdate(
            symbol=cmd.symbol,
            client_order_id=cmd.client_order_id,
            order_id=0,
            side=cmd.side,
            order_type=cmd.order_type,
            status=OrderStatus.CANCELED,
            execution_type="CANCELED",
            quantity=cmd.quantity or ZERO,
            price=cmd.price or ZERO,
            average_price=ZERO,
            filled_qty=ZERO,
            last_filled_qty=ZERO,
            last_filled_price=ZERO,
            commission=ZERO,
            commission_asset="",
            realized_pnl=ZERO,
            is_maker=False,
            reduce_only=cmd.reduce_only,
            position_side=cmd.position_side,
            time_in_force=cmd.time_in_force,
            trigger_price=cmd.trigger_price,
            working_type=cmd.working_type,
            trade_id=None,
            time=time,
            reject_reason=WITHDRAWN,
        )

    async def ensure_account_setup(
        self, symbols: Iterable[str], margin: MarginType, hedge: bool, leverage: int
    ) -> None:
        """Set position mode, margin type and leverage before the first order; stop with a clear
        message when the exchange refuses (positions or orders of another mode are open)."""
        steps: list[tuple[str, Command]] = [("position mode", SetPositionMode(hedge))]
        for s in symbols:
            steps += [
                ("margin type", SetMarginType(s, margin)),
                ("leverage", SetLeverage(s, leverage)),
            ]
        mode = "hedge" if hedge else "one-way"
        for what, cmd in steps:
            res = await self.execute(cmd)
            if not res.ok:
                symbol = getattr(cmd, "symbol", "")
                raise AccountSetupError(
                    f"Binance refused to set the {what}{' of ' + symbol if symbol else ''} "
                    f"({res.code}: {res.message}). Nothing was traded. The rulebook needs {mode} "
                    f"mode, {margin.value.lower()} margin and leverage {leverage}: close the "
                    "positions and open orders that hold the account otherwise, or change the "
                    "rulebook's account settings"
                )

    async def reconcile(self, symbols: Iterable[str]) -> Reconciliation:
        """Open orders, positions and balances as the exchange has them now."""
        wanted = list(symbols)
        orders: list[OrderView] = []
        algos: list[AlgoOrderView] = []
        for s in wanted:
            orders.extend(parse_orders(await self.rest.open_orders(s)))
            if self.market is Market.USDM:
                algos.extend(parse_algo_order(a) for a in await self.rest.open_algo_orders(s))
        now = self.rest.now_ms()
        risk = parse_position_risk(await self.rest.position_risk())
        positions = [p for p in risk if p.symbol in wanted]
        balances = parse_balances(await self.rest.balance())
        account = AccountUpdate(
            RECONCILE,
            tuple(reconciled_balance(b) for b in balances),
            tuple(reconciled_position(p) for p in positions),
            now,
        )
        return Reconciliation(tuple(orders), tuple(algos), account, now)

    # -- the exchange-side dead man's switch ------------------------------------------------
    # Binance's countdown cancels every open order of the symbol when it runs out: a resting entry,
    # and also the stops that protect a position (plain orders on COIN-M, and the simulator's algo
    # orders too). Armed for as long as the bot runs, a bot that died took its positions' stops
    # with it 60 s later and left them unprotected for as long as it stayed dead. So the switch is
    # armed only while `armed(symbol)` says an order rests that could open a position, and switched
    # off otherwise: a dead bot's positions keep their stops, and its resting entries still die.

    def start_heartbeat(
        self,
        symbols: Iterable[str],
        countdown_ms: int = DEFAULT_COUNTDOWN_MS,
        every_s: float = DEFAULT_HEARTBEAT_S,
        armed: Callable[[str], bool] | None = None,
    ) -> None:
        """Keep Binance's countdown cancel-all running while `armed(symbol)` (None: always), so that,
        if the bot dies, its resting entries die too (within `countdown_ms`); switch it off (0) when
        not. Renewed every `every_s`, well inside the countdown, so one lost heartbeat does not cancel
        anything; looked at again at once when an order goes out (`execute`) and at least every second."""
        if every_s * 1000 >= countdown_ms:
            raise ValueError(f"the heartbeat ({every_s} s) must come well inside the countdown ({countdown_ms} ms)")
        wanted = list(symbols)
        wake = self._wake = asyncio.Event()
        loop = asyncio.get_running_loop()

        async def beat() -> None:
            sent: dict[str, bool] = {}  # what the exchange was last told: armed or off (none: not known)
            due: dict[str, float] = {}  # when the symbol's countdown is to be renewed, or a failure retried
            while True:
                wake.clear()
                renewed = False
                for s in wanted:
                    want, told, now = armed is None or armed(s), sent.get(s), loop.time()
                    if told is want and (not want or now < due[s]):
                        continue  # told already; an armed countdown is renewed when due
                    if told is None and now < due.get(s, 0):
                        continue  # a failure waits for its retry
                    try:
                        await self.rest.countdown_cancel_all(s, countdown_ms if want else 0)
                    except (BinanceError, TransportError, RateBudgetExceeded) as exc:
                        self.heartbeat_failures += 1
                        sent.pop(s, None)
                        due[s] = loop.time() + every_s  # retried then, not every second: one warning a beat
                        log.warning(
                            "dead man's switch for %s not %s: %s", s, "renewed" if want else "switched off", exc
                        )
                        continue
                    sent[s], due[s] = want, loop.time() + every_s
                    renewed |= want
                if renewed:
                    self.heartbeats += 1
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(wake.wait(), min(every_s, 1.0))

        self.stop_heartbeat_task()
        self._heartbeat = asyncio.create_task(beat())

    def stop_heartbeat_task(self) -> None:
        """Stop renewing (the countdown then runs out: orders are cancelled)."""
        if self._heartbeat is not None:
            self._heartbeat.cancel()
            self._heartbeat = None

    async def stop_heartbeat(self, symbols: Iterable[str]) -> None:
        """A clean stop: no more heartbeats, and the countdown switched off (orders stay)."""
        self.stop_heartbeat_task()
        for s in symbols:
            with contextlib.suppress(BinanceError, TransportError, RateBudgetExceeded):
                await self.rest.countdown_cancel_all(s, 0)


__all__ = ["AccountSetupError", "BinanceVenue", "Reconciliation", "VenueResult"]
