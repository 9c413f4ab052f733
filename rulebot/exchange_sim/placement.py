"""Everything Binance checks before it accepts an order, in roughly its order, as `Rejected`.

Symbol (-1121), client id (-4015, -1100, duplicate -4116), endpoint (-4120: a conditional
type sent as a plain USDⓈ-M order), position side (-4061), reduceOnly/closePosition
(-1106, -4137), timeInForce (-1102), exchange filters via `check_order` (-4164, -4014, ...),
a MARKET order's best price against the mark's band (-4131), trigger state (-2021, trailing
callbackRate), reduce-only (-2022), position cap at the leverage (-2027) and the order cost,
initial margin plus open loss, against the available margin (-2019; `order_cost.py`).
Conditional orders get no reduce-only and no margin check until they trigger (FACTS §0: the
algo service checks nothing before the trigger; the same is assumed of COIN-M stops).
A reduce-only order larger than its position is accepted with its quantity shrunk to it.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal

from rulebot.core.commands import PlaceOrder
from rulebot.core.enums import Market, OrderType, PositionSide, Side, TimeInForce
from rulebot.core.frozen import fast_init
from rulebot.core.instruments import Instrument
from rulebot.core.margin import BracketTable
from rulebot.core.order_filters import check_order
from rulebot.exchange_sim import conditional
from rulebot.exchange_sim.account import Account, closes, reducible
from rulebot.exchange_sim.book import OrderStore
from rulebot.exchange_sim.errors import CLIENT_ID_PATTERN, from_violation, rejected
from rulebot.exchange_sim.exposure import Exposure, Pending
from rulebot.exchange_sim.market import Level, Quotes
from rulebot.exchange_sim.order_cost import assumed_market_price, open_loss, outside_market_band
from rulebot.exchange_sim.orders import Trigger

ZERO = Decimal(0)
_CLIENT_ID = re.compile(CLIENT_ID_PATTERN)
_CLOSE_POSITION_TYPES = frozenset({OrderType.STOP_MARKET, OrderType.TAKE_PROFIT_MARKET})
# priceProtect is "used with STOP/STOP_MARKET or TAKE_PROFIT/TAKE_PROFIT_MARKET orders" (API docs).
_PROTECTABLE = frozenset({OrderType.STOP, OrderType.STOP_MARKET, OrderType.TAKE_PROFIT, OrderType.TAKE_PROFIT_MARKET})
# Members at hand: a member read through its class is a slow lookup on Python 3.11 (EnumType.__getattr__),
# and every order placed asks a dozen such questions.
_BUY, _BOTH, _USDM = Side.BUY, PositionSide.BOTH, Market.USDM
_LIMIT, _MARKET, _GTC = OrderType.LIMIT, OrderType.MARKET, TimeInForce.GTC

# The notional cap of each (bracket table, leverage) asked: every opening order asks, and the answer
# walks the table. Keyed by the table's identity with the table kept beside the cap (as
# quiet.table_floats): a table is frozen, a new one (leverageBracket reloaded) is a new key, its id
# cannot be reused while it is kept, and a leverage change asks for another key.
_CAPS: dict[tuple[int, int], tuple[BracketTable, Decimal]] = {}


def max_notional(table: BracketTable, leverage: int) -> Decimal:
    """`table.max_notional(leverage)`, worked out once per table and leverage (a refusal is not kept)."""
    hit = _CAPS.get((id(table), leverage))
    if hit is not None and hit[0] is table:
        return hit[1]
    cap = table.max_notional(leverage)
    if len(_CAPS) >= 256:  # reloads bring new tables: keep the cache small
        _CAPS.clear()
    _CAPS[(id(table), leverage)] = (table, cap)
    return cap


@fast_init
@dataclass(frozen=True, slots=True)
class Accepted:
    """A PlaceOrder that passed every check, with what the checks decided."""

    inst: Instrument
    quantity: Decimal  # shrunk to the position for a reduce-only order; 0 with closePosition
    closing: bool  # may only reduce (reduceOnly, closePosition, or a hedge-mode close)
    time_in_force: TimeInForce
    trigger: Trigger | None
    levels: list[Level] | None = None  # a market order's taker levels, as its margin check read them


def is_closing(hedge_mode: bool, cmd: PlaceOrder) -> bool:
    """Whether the order may only reduce its position."""
    if hedge_mode:
        return closes(cmd.position_side, cmd.side)
    return cmd.reduce_only or cmd.close_position


class Gatekeeper:
    """Checks a PlaceOrder against the instrument, the account and the market."""

    # A paper account saved before the gatekeeper read the matcher's levels has none: it asks
    # `expected_price` to build them, as it did then (runtime/paper_account.py pickles the simulator).
    _taker_levels: Callable[[str, Side], list[Level]] | None = None

    def __init__(
        self,
        market: Market,
        instruments: Mapping[str, Instrument],
        brackets: Mapping[str, BracketTable],
        account: Account,
        exposure: Exposure,
        store: OrderStore,
        quotes: Mapping[str, Quotes],
        expected_price: Callable[[str, Side, list[Level] | None], Decimal | None],
        taker_levels: Callable[[str, Side], list[Level]],
    ) -> None:
        self._market = market
        self._instruments = instruments
        self._brackets = brackets
        self._account = account
        self._exposure = exposure
        self._store = store
        self._quotes = quotes
        self._expected_price = expected_price
        self._taker_levels = taker_levels

    def instrument(self, symbol: str) -> Instrument:
        inst = self._instruments.get(symbol)
        if inst is None:
            raise rejected(-1121)
        return inst

    def check(self, cmd: PlaceOrder, *, algo: bool) -> Accepted:
        """Raise the reject Binance would send, or return the accepted order's terms."""
        inst = self._instruments.get(cmd.symbol)  # `instrument`, without the call
        if inst is None:
            raise rejected(-1121)
        self._check_endpoint(cmd, algo)
        self._check_client_id(cmd)
        self._check_sides(cmd)
        tif = self._time_in_force(cmd)
        closing = is_closing(self._account.hedge_mode, cmd)
        self._check_filters(inst, cmd, tif, closing)
        if cmd.order_type is _MARKET:
            self._check_market_band(inst, cmd)
        quantity = cmd.quantity if cmd.quantity is not None else ZERO
        if cmd.order_type.is_conditional:
            trigger = Trigger(
                cmd.order_type,
                cmd.side,
                cmd.working_type,
                cmd.trigger_price,
                cmd.callback_rate,
                cmd.activation_price,
                False,  # activated
                None,  # extreme
                cmd.price_protect and cmd.order_type in _PROTECTABLE,  # price_protect
            )
            quotes = self._quotes[cmd.symbol]
            conditional.arm(trigger, quotes.trigger_source(cmd.working_type), inst)
            return Accepted(inst, quantity, closing, tif, trigger)
        if closing:
            pos = self._account.position(cmd.symbol, cmd.position_side)
            can_close = reducible(pos, cmd.side)
            if can_close == 0:
                raise rejected(-2022)
            return Accepted(inst, min(quantity, can_close), closing, tif, None)
        levels = self._check_exposure(inst, cmd, quantity)
        return Accepted(inst, quantity, closing, tif, None, levels)

    def _check_client_id(self, cmd: PlaceOrder) -> None:
        cid = cmd.client_order_id
        if not cid:
            return  # Binance makes one up
        if len(cid) > 36:
            raise rejected(-4015)
        if not _CLIENT_ID.match(cid):
            raise rejected(-1100)
        if self._store.client_id_in_use(cmd.symbol, cid):
            raise rejected(-4116)

    def _check_endpoint(self, cmd: PlaceOrder, algo: bool) -> None:
        if algo:
            if self._market is not _USDM:
                raise rejected(-1020)  # COIN-M has no algo service for conditionals
            if not cmd.order_type.is_conditional:
                raise rejected(-1116)
        elif cmd.order_type.is_conditional and self._market is _USDM:
            raise rejected(-4120)

    def _check_sides(self, cmd: PlaceOrder) -> None:
        hedge = self._account.hedge_mode
        if hedge == (cmd.position_side is _BOTH):
            raise rejected(-4061)
        if cmd.reduce_only and (hedge or cmd.close_position):
            raise rejected(-1106, "reduceOnly")
        if cmd.close_position:
            if cmd.order_type not in _CLOSE_POSITION_TYPES:
                raise rejected(-1106, "closePosition")
            if cmd.quantity is not None:
                raise rejected(-4137)
            # Hedge mode: closePosition only on the closing side (not BUY+LONG, SELL+SHORT).
            if hedge and not is_closing(hedge, cmd):
                raise rejected(-2022)

    def _time_in_force(self, cmd: PlaceOrder) -> TimeInForce:
        if cmd.order_type is _LIMIT and cmd.time_in_force is None:
            raise rejected(-1102, "timeInForce")
        # Market types ignore timeInForce; Binance reports them as GTC.
        return cmd.time_in_force or _GTC

    def _check_filters(self, inst: Instrument, cmd: PlaceOrder, tif: TimeInForce, closing: bool) -> None:
        quotes = self._quotes[cmd.symbol]
        # With no market data yet, the order's own prices stand in for the mark; a market
        # order then skips MIN_NOTIONAL (check_order ignores a 0 reference).
        mark = quotes.reference() or cmd.price or cmd.trigger_price or ZERO
        plain, conditionals = self._store.open_counts(cmd.symbol)
        violations = check_order(
            inst,
            side=cmd.side,
            order_type=cmd.order_type,
            quantity=cmd.quantity,
            mark_price=mark,
            price=cmd.price if cmd.order_type.has_limit_price else None,
            stop_price=cmd.trigger_price,
            time_in_force=tif.value if cmd.time_in_force is not None else None,
            reduce_only=closing,
            close_position=cmd.close_position,
            open_orders=plain,
            open_algo_orders=conditionals,
        )
        if violations:
            raise from_violation(violations[0])

    def _check_market_band(self, inst: Instrument, cmd: PlaceOrder) -> None:
        """-4131: the best price a MARKET order would take is outside the band around the
        mark (`order_cost` docstring). Closing orders too: a panic exit can be refused live."""
        quotes = self._quotes[cmd.symbol]
        quote = quotes.ask if cmd.side is _BUY else quotes.bid
        best = quote if quote is not None else quotes.last
        if outside_market_band(inst, cmd.side, best, quotes.mark):
            raise rejected(-4131)

    def _check_exposure(self, inst: Instrument, cmd: PlaceOrder, quantity: Decimal) -> list[Level] | None:
        """-2027 past the leverage's notional cap, -2019 past the available margin. Returns a
        market order's taker levels, which the matcher then fills against (quotes do not move
        between the check and the fill)."""
        market = cmd.order_type is _MARKET
        quotes = self._quotes[cmd.symbol]
        price = cmd.price
        levels = None
        if market:
            taker = self._taker_levels
            levels = taker(cmd.symbol, cmd.side) if taker is not None else None
            first = self._expected_price(cmd.symbol, cmd.side, levels)
            price = assumed_market_price(cmd.side, quotes.bid, quotes.ask, quotes.mark, first)
        if price is None:
            return levels  # no price anywhere yet: a market order will expire unfilled anyway
        symbol, exposure = cmd.symbol, self._exposure
        pos = self._account.position(symbol, cmd.position_side)
        opening = quantity - min(quantity, reducible(pos, cmd.side))
        pending = exposure.pending(symbol)  # the open orders, once for the three questions below
        size = exposure.opening_qty(symbol, cmd.position_side, cmd.side, pending) + opening
        table, lev = self._brackets[symbol], self._account.leverage[symbol]
        if abs(inst.notional(size, price)) > max_notional(table, lev):
            raise rejected(-2027)
        # A market order closes first (priority -1); a limit queues behind the open orders.
        priority = -1 if market else self._store.ids.priority + 1
        candidate = Pending(cmd.side, cmd.position_side, quantity, price, priority)
        working = exposure.order_margin(symbol, None, pending)
        needed = exposure.order_margin(symbol, candidate, pending) - working
        # Order cost = initial margin + open loss (`order_cost` docstring): only the opening part.
        needed += open_loss(inst, cmd.side, opening, price, quotes.mark)
        if needed > 0 and needed > exposure.available(inst.margin_asset, {symbol: working}):
            raise rejected(-2019)
        return levels
