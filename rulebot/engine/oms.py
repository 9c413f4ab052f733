"""The order manager: client order ids, the order lifecycle, tags and expiries, and the only
place that turns intents into `PlaceOrder` / `CancelOrder` commands (each placed order is tracked
under its purpose the moment it is built).

Every order the engine creates gets a client order id that is deterministic within a run
(`<run>-<sequence>`), so a restart can find its orders on the exchange and a backtest is
repeatable. The lifecycle is a table of allowed transitions; an update that the table does
not allow (a late NEW after FILLED, a replayed PARTIALLY_FILLED) is ignored and counted, never
allowed to resurrect a finished order.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from decimal import Decimal
from typing import Any, Literal

from rulebot.core.account_events import AlgoUpdate, OrderUpdate
from rulebot.core.commands import CancelAllOrders, CancelOrder, PlaceOrder
from rulebot.core.enums import OrderStatus, OrderType, PositionSide, Side, TimeInForce, WorkingType
from rulebot.core.intents import CancelIntent, EnterIntent, ExitIntent, ProtectIntent, TrailingStopIntent

Purpose = Literal[
    "entry", "exit", "stop_loss", "take_profit", "trailing_stop", "deleverage", "protective", "flatten", "daily_cap"
]

# Allowed status transitions. None is "not yet acknowledged by the venue".
TRANSITIONS: dict[OrderStatus | None, frozenset[OrderStatus]] = {
    None: frozenset(OrderStatus),
    OrderStatus.NEW: frozenset(
        {
            OrderStatus.PARTIALLY_FILLED,
            OrderStatus.FILLED,
            OrderStatus.CANCELED,
            OrderStatus.EXPIRED,
            OrderStatus.REJECTED,
            OrderStatus.EXPIRED_IN_MATCH,
        }
    ),
    OrderStatus.PARTIALLY_FILLED: frozenset(
        {
            OrderStatus.PARTIALLY_FILLED,
            OrderStatus.FILLED,
            OrderStatus.CANCELED,
            OrderStatus.EXPIRED,
            OrderStatus.EXPIRED_IN_MATCH,
        }
    ),
    OrderStatus.FILLED: frozenset(),
    OrderStatus.CANCELED: frozenset(),
    OrderStatus.EXPIRED: frozenset(),
    OrderStatus.REJECTED: frozenset(),
    OrderStatus.EXPIRED_IN_MATCH: frozenset(),
}
_ALGO_FINAL = frozenset({"FINISHED", "CANCELED", "EXPIRED", "REJECTED"})
# The statuses an order can still leave: a set test instead of the table's lookup (is_open runs
# for every working order each time the engine asks what is open, a dozen times a round trip).
_OPEN_STATUSES = frozenset(status for status, leaves in TRANSITIONS.items() if leaves)
# Enum members looked up once: `Enum.MEMBER` is a slow lookup on Python 3.11 (EnumType.__getattr__)
_PARTIALLY_FILLED, _REJECTED = OrderStatus.PARTIALLY_FILLED, OrderStatus.REJECTED
_LIMIT, _STOP_MARKET, _TAKE_PROFIT_MARKET = OrderType.LIMIT, OrderType.STOP_MARKET, OrderType.TAKE_PROFIT_MARKET
_GTC = TimeInForce.GTC


@dataclass(slots=True)
class OrderRecord:
    command: PlaceOrder
    purpose: Purpose
    rule: str
    status: OrderStatus | None = None
    filled_qty: Decimal = Decimal(0)
    average_price: Decimal = Decimal(0)
    algo_status: str | None = None  # USDT-M conditional orders live in the algo service
    reject_reason: str | None = None
    protections: list[object] = field(default_factory=list)  # placed when this entry fills
    accounts_before: int = 0  # OrderManager.accounts_heard when it was sent (see VenueReports.on_order)
    cancel_reason: str | None = None  # why the engine asked the exchange to cancel it (None: it did not)

    @property
    def client_order_id(self) -> str:
        return self.command.client_order_id

    @property
    def is_open(self) -> bool:
        if self.algo_status is not None:
            return self.algo_status not in _ALGO_FINAL
        return self.status in _OPEN_STATUSES

    @property
    def untriggered(self) -> bool:
        """Still waiting as placed: an algo order not yet triggered (nor final), a plain order NEW."""
        return self.algo_status in (None, "NEW") and self.status in (None, OrderStatus.NEW)


class OrderManager:
    """Tracks every order of the run by client order id."""

    def __init__(self, run_id: str = "rb") -> None:
        # Binance allows 36 characters from [.A-Z:/a-z0-9_-]; keep the prefix short.
        self.run_id = "".join(ch for ch in run_id if ch.isalnum())[:12] or "rb"
        self._seq = 0
        self.orders: dict[str, OrderRecord] = {}
        # The working ones, so that "what is open?" does not walk a run's whole history, and the
        # same by symbol: the engine asks "what is open on this symbol?" a dozen times a round trip.
        self._open: dict[str, OrderRecord] = {}
        self._open_by_symbol: dict[str, dict[str, OrderRecord]] = {}
        self.ignored_updates = 0
        # Account updates heard so far: an order remembers the count it was sent at, so that a fill
        # can tell an account update heard before its order was sent (which cannot hold it).
        self.accounts_heard = 0
        # Orders with an `expire`, so that the per-event check does not walk every order.
        self._expiring: dict[str, int] = {}
        self.next_expiry: int | None = None

    def next_id(self) -> str:
        self._seq += 1
        return f"{self.run_id}-{self._seq}"

    def sending(self, client_order_id: str) -> None:
        """The order goes to the venue now: the account updates heard so far cannot hold its fills.
        A step's orders are tracked when it is made; those of a step made on a report go out only
        once the reply's later reports (an account update among them) have been heard
        (`Session.reports`), and stamped at tracking, such an update would seem to vouch for them."""
        record = self.orders.get(client_order_id)
        if record is not None:
            record.accounts_before = self.accounts_heard

    def observe_id(self, client_order_id: str) -> None:
        """An id from before a restart: never hand out the same one again."""
        prefix, _, seq = client_order_id.rpartition("-")
        if prefix == self.run_id and seq.isdigit():
            self._seq = max(self._seq, int(seq))

    def track(self, command: PlaceOrder, purpose: Purpose, rule: str) -> OrderRecord:
        record = OrderRecord(command, purpose, rule)
        record.accounts_before = self.accounts_heard
        cid = command.client_order_id
        self.orders[cid] = record
        replaced = self._open.get(cid)
        if replaced is not None and replaced.command.symbol != command.symbol:
            self._open_by_symbol[replaced.command.symbol].pop(cid, None)
        self._open[cid] = record
        by_symbol = self._open_by_symbol.get(command.symbol)
        if by_symbol is None:
            by_symbol = self._open_by_symbol[command.symbol] = {}
        by_symbol[cid] = record
        if command.expire_at is not None:
            self._expiring[command.client_order_id] = command.expire_at
            if self.next_expiry is None or command.expire_at < self.next_expiry:
                self.next_expiry = command.expire_at
        return record

    # ------------------------------------------------------------------ intents → commands

    def place_entry(
        self,
        intent: EnterIntent,
        quantity: Decimal,
        price: Decimal | None,
        order_type: OrderType,
        tif: TimeInForce | None,
    ) -> PlaceOrder:
        """The entry as the guards let it through (size, price and type may differ from the intent's)."""
        cmd = PlaceOrder(
            client_order_id=self.next_id(),
            symbol=intent.symbol,
            side=intent.side.entry_side,
            order_type=order_type,
            quantity=quantity,
            price=price,
            time_in_force=tif,
            position_side=intent.position_side,
            expire_at=intent.time + intent.expire_ms if intent.expire_ms else None,
            tag=intent.tag,
            time=intent.time,
        )
        self.track(cmd, "entry", intent.rule)
        return cmd

    def place_exit(self, intent: ExitIntent, purpose: Purpose) -> PlaceOrder:
        cmd = PlaceOrder(
            client_order_id=self.next_id(),
            symbol=intent.symbol,
            side=intent.side.exit_side,
            order_type=intent.order,
            quantity=intent.quantity,
            price=intent.price,
            time_in_force=_GTC if intent.order is _LIMIT else None,
            position_side=intent.position_side,
            reduce_only=intent.reduce_only,
            time=intent.time,
        )
        self.track(cmd, purpose, intent.rule)
        return cmd

    def place_stop(self, intent: ProtectIntent, purpose: Purpose) -> PlaceOrder:
        """A close-position stop-market or take-profit-market."""
        cmd = PlaceOrder(
            client_order_id=self.next_id(),
            symbol=intent.symbol,
            side=intent.side.exit_side,
            order_type=_STOP_MARKET if intent.kind == "stop_loss" else _TAKE_PROFIT_MARKET,
            quantity=None,
            trigger_price=intent.trigger_price,
            position_side=intent.position_side,
            close_position=True,
            working_type=intent.working_type,
            price_protect=intent.price_protect,
            tag=intent.tag,
            time=intent.time,
        )
        self.track(cmd, purpose, intent.rule)
        return cmd

    def place_trailing_stop(self, intent: TrailingStopIntent) -> PlaceOrder:
        cmd = PlaceOrder(
            client_order_id=self.next_id(),
            symbol=intent.symbol,
            side=intent.side.exit_side,
            order_type=OrderType.TRAILING_STOP_MARKET,
            quantity=intent.quantity,
            position_side=intent.position_side,
            reduce_only=intent.reduce_only,
            working_type=intent.working_type,
            callback_rate=(intent.callback_rate * 100).normalize(),
            activation_price=intent.activation_price,
            tag=intent.tag,
            time=intent.time,
        )
        self.track(cmd, "trailing_stop", intent.rule)
        return cmd

    def cancel(self, record: OrderRecord, time: int, reason: str) -> CancelOrder:
        record.cancel_reason = reason
        return CancelOrder(record.command.symbol, record.client_order_id, time, reason)

    def cancel_id(self, symbol: str, client_order_id: str, time: int, reason: str) -> CancelOrder:
        """Cancel by id (an entry still working, whose record may have been forgotten)."""
        record = self.orders.get(client_order_id)
        if record is not None:
            record.cancel_reason = reason
        return CancelOrder(symbol, client_order_id, time, reason)

    def cancel_all(self, symbol: str, time: int, reason: str) -> CancelAllOrders:
        for record in self.open_orders(symbol):
            record.cancel_reason = reason
        return CancelAllOrders(symbol, time, reason)

    def cancel_tagged(self, intent: CancelIntent) -> list[CancelOrder | CancelAllOrders]:
        """A rule's `cancel`: every working order of the symbol (no tag), or those with the tag."""
        why = f"rule {intent.rule}: cancel" + ("" if intent.tag is None else f" tag {intent.tag}")
        if intent.tag is None:
            return [self.cancel_all(intent.symbol, intent.time, why)]
        return [self.cancel(r, intent.time, why) for r in self.open_orders(intent.symbol, intent.tag)]

    def expire(self, time: int) -> list[CancelOrder]:
        """Cancels for the unfilled rest of orders whose `expire` has passed."""
        cancels: list[CancelOrder] = []
        for record in self.expired(time):
            cancels.append(self.cancel(record, time, "expired"))
            record.command = replace(record.command, expire_at=None)
        return cancels

    # ------------------------------------------------------------------ lifecycle

    def get(self, client_order_id: str) -> OrderRecord | None:
        return self.orders.get(client_order_id)

    def apply(self, update: OrderUpdate) -> OrderRecord | None:
        """Apply an order update; None when the order is not ours or the update is stale."""
        record = self.orders.get(update.client_order_id)
        if record is None:
            return None
        if update.status not in TRANSITIONS[record.status] and not (
            update.status == record.status == _PARTIALLY_FILLED
        ):
            self.ignored_updates += 1
            return None
        if update.filled_qty < record.filled_qty:
            self.ignored_updates += 1
            return None
        record.status = update.status
        record.filled_qty = update.filled_qty
        record.average_price = update.average_price
        if update.status == _REJECTED:
            record.reject_reason = update.reject_reason
        self._settle(record)
        return record

    def _settle(self, record: OrderRecord) -> None:
        # `record.is_open`, spelled out: every update of every order settles.
        algo_status = record.algo_status
        if (algo_status not in _ALGO_FINAL) if algo_status is not None else (record.status in _OPEN_STATUSES):
            return
        cid = record.command.client_order_id
        dropped = self._open.pop(cid, None)
        if dropped is not None:  # the same entry leaves the symbol's index
            del self._open_by_symbol[dropped.command.symbol][cid]

    def apply_algo(self, update: AlgoUpdate) -> OrderRecord | None:
        record = self.orders.get(update.client_algo_id)
        if record is None or (record.algo_status in _ALGO_FINAL):
            return None
        record.algo_status = update.status
        if update.status == "REJECTED":
            record.reject_reason = update.reason
        self._settle(record)
        return record

    def rejected(self, client_order_id: str, reason: str) -> OrderRecord | None:
        """The venue refused the command itself (a REST error): the order never existed."""
        record = self.orders.get(client_order_id)
        if record is not None:
            record.status = OrderStatus.REJECTED
            record.reject_reason = reason
            if record.command.is_conditional:
                record.algo_status = "REJECTED"
            self._settle(record)
        return record

    @property
    def has_open(self) -> bool:
        """Whether any order is working (the account values skip the open orders' margin when none is)."""
        return bool(self._open)

    def open_orders(self, symbol: str | None = None, tag: str | None = None) -> list[OrderRecord]:
        if tag is None and symbol is not None:  # the engine's usual question
            # Only working orders are indexed: `_settle` drops each the moment it is final.
            by_symbol = self._open_by_symbol.get(symbol)
            return list(by_symbol.values()) if by_symbol else []
        return [
            r
            for r in self._open.values()
            if r.is_open and (symbol is None or r.command.symbol == symbol) and (tag is None or r.command.tag == tag)
        ]

    def expired(self, time: int) -> list[OrderRecord]:
        """Working orders whose `expire` has passed: the engine cancels their unfilled rest."""
        if self.next_expiry is None or time < self.next_expiry:
            return []
        due: list[OrderRecord] = []
        for cid, at in list(self._expiring.items()):
            record = self.orders.get(cid)
            if record is None or not record.is_open:
                del self._expiring[cid]
            elif at <= time:
                del self._expiring[cid]
                due.append(record)
        self.next_expiry = min(self._expiring.values(), default=None)
        return due

    def forget_finished(self, keep: int = 1000) -> None:
        """Bound memory in long runs: drop the oldest finished orders beyond `keep`.

        Walks only as far as the orders it drops (a backtest calls this as often as orders pile
        up, issue 14): the finished ones are every order not in `_open`, which holds the working."""
        excess = len(self.orders) - len(self._open) - keep
        if excess <= 0:
            return
        drop: list[str] = []
        for key, record in self.orders.items():
            if not record.is_open:
                drop.append(key)
                if len(drop) == excess:
                    break
        for key in drop:
            del self.orders[key]


def journaled_order(body: Mapping[str, Any]) -> PlaceOrder:
    """An order this manager built in an earlier run, back from its journal row (a command's
    body, `journal.encode.plain`): the same command, to be adopted under its own id."""

    def dec(v: Any) -> Decimal | None:
        return None if v in (None, "") else Decimal(str(v))

    tif = body.get("time_in_force")
    return PlaceOrder(
        client_order_id=body["client_order_id"],
        symbol=body["symbol"],
        side=Side(body["side"]),
        order_type=OrderType(body["order_type"]),
        quantity=dec(body.get("quantity")),
        price=dec(body.get("price")),
        trigger_price=dec(body.get("trigger_price")),
        time_in_force=TimeInForce(tif) if tif else None,
        position_side=PositionSide(body.get("position_side") or "BOTH"),
        reduce_only=bool(body.get("reduce_only")),
        close_position=bool(body.get("close_position")),
        working_type=WorkingType(body.get("working_type") or "CONTRACT_PRICE"),
        callback_rate=dec(body.get("callback_rate")),
        activation_price=dec(body.get("activation_price")),
        tag=body.get("tag"),
        time=int(body.get("time") or 0),
        # The engine cancels the unfilled rest at `expire_at`: adopted without it, an entry rests for good.
        expire_at=int(body["expire_at"]) if body.get("expire_at") is not None else None,
    )
