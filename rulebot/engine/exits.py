"""Exits: reduce-only closes of a position, whole or in part, from a rule (`exit`, `reduce`,
`deleverage`), a guard (margin ratio, volatility breaker) or the kill switch (`flatten`).

Exits are never blocked by a guard: closing must always be possible. A second `exit` while
one already closes the position is not sent (the exchange would refuse it).
"""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING

from rulebot.core.enums import Direction, OrderStatus, OrderType, PositionSide, Side, WorkingType
from rulebot.core.instruments import ZERO, Instrument
from rulebot.core.intents import DeleverageIntent, ExitIntent
from rulebot.core.order_filters import check_order
from rulebot.engine import records as rec
from rulebot.engine.binding import CLOSING_PURPOSES, PendingExit, retry_delay_ms
from rulebot.engine.oms import OrderRecord, Purpose
from rulebot.engine.risk import Verdict
from rulebot.engine.sizing import SizingError, to_decimal
from rulebot.engine.state import Step
from rulebot.rulebook.expr import CompiledExpr

if TYPE_CHECKING:
    from rulebot.engine.engine import Engine


# A share of a position (`Exits._rounded_share`): the amount, fraction, order type and instrument it
# was computed for, the quantity rounded (None: the sizing fails), and whether that is nothing.
_Share = tuple[Decimal, Decimal, OrderType, Instrument, Decimal | None, bool]
_LONG, _SHORT = Direction.LONG, Direction.SHORT  # slow lookups on Python 3.11 (EnumType.__getattr__)
# The position's stops that Binance refuses with -2021 when the price has passed their trigger: the
# rulebook (or the protective-stop guard) wanted the position closed there, so it is closed at market.
PASSED_PURPOSES = frozenset({"stop_loss", "take_profit", "protective"})
PASSED_TYPES = frozenset({OrderType.STOP_MARKET, OrderType.TAKE_PROFIT_MARKET})
# "Order would immediately trigger" (-2021), and its strategy form, "take profit or stop order will be
# triggered immediately" (-4142, STRATEGY_INVALID_TRIGGER_PRICE in shared FACTS.md).
PASSED_CODES = frozenset({-2021, -4142})


def _parts(qty: Decimal, max_qty: Decimal) -> list[Decimal]:
    """`qty` in orders of at most `max_qty` (the lot filter's maxQty; 0: no maximum), largest first.

    A position may be larger than one order may close (BTCUSDT: 120 BTC a market order, 1,000 a limit;
    several entries or limits build more): sent whole, the close is refused with -4005 every time.
    """
    if max_qty <= 0 or qty <= max_qty:
        return [qty]
    whole, rest = divmod(qty, max_qty)
    return [max_qty] * int(whole) + ([rest] if rest else [])


class Exits:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.state = engine.state
        self.book = engine.book
        self._share: _Share | None = None

    def exit(
        self,
        symbol: str,
        rule: str,
        fraction: Decimal | None,
        size: CompiledExpr | None,
        order: OrderType,
        price_expr: CompiledExpr | None,
        purpose: Purpose,
        step: Step,
        verdict: Verdict | None = None,
        leg: PositionSide | None = None,
        qty: Decimal | None = None,
    ) -> str | None:
        """Close `fraction` (or `size`, or all) of the position (in hedge mode of the leg `leg`, when
        given, else of the open one, long first); `qty`, when given, is the quantity already on the lot
        grid (the deleverage rounds its own); the closing order's id, or None."""
        eng, st = self.engine, self.state
        pos = st.portfolio.net_position(symbol) if leg is None or not eng.hedge else st.portfolio.position(symbol, leg)
        if pos.amount == 0:
            return None
        run = st.runs[symbol]
        if purpose == "exit" and run.exiting is not None and self.closing(symbol):
            return None  # the position is already being closed: a second exit would only be refused
        inst = eng.instruments[symbol]
        rounded = None  # a share of the position, rounded: asked again and again by a `reduce` on every trade
        if qty is not None:
            rounded = min(qty, pos.size)
        elif fraction is not None and size is None and price_expr is None:
            before = self._share
            share = self._rounded_share(pos.amount, fraction, order, inst)
            if share[5]:
                # As the sizing below ends (nothing to close), without its Decimal work. Said once per
                # position and share (not on every trade of an `on: trade` reduce): the rule fired and
                # its log ran, and half of 1 contract closes nothing.
                if share is not before:
                    self._too_small(symbol, rule, fraction, pos.size, order, inst, purpose, verdict, step)
                return None
            rounded = share[4]
        env = run.market.env
        time = st.time
        try:
            if size is not None:
                qty = min(to_decimal(size.fn(env), f"size {size.text!r}"), pos.size)
            elif fraction is not None:
                qty = pos.size * fraction
            else:
                qty = pos.size
            price = None
            if price_expr is not None:
                price = to_decimal(price_expr.fn(env), f"price {price_expr.text!r}")
        except (SizingError, ArithmeticError) as exc:
            step.records.append(rec.sizing_refused(time, symbol, rule, "exit", exc))
            return None
        direction = _LONG if pos.amount > 0 else _SHORT
        qty = inst.round_qty(qty, order) if rounded is None else rounded
        if qty <= 0:
            return None
        if price is not None:
            price = inst.round_price(price, direction.exit_side)
            refused = self._refused_price(symbol, inst, direction.exit_side, order, price)
            if refused is not None:
                what = f"{purpose} {qty} reduce-only limit {price}"
                verdict = Verdict("reject", "exchange_filters", f"Binance would reject it: {refused}")
                step.records.append(rec.GuardRecord(time, symbol, rule, what, (verdict,), None))
                run.exit_held_at = time  # a move to a flat state sends it again at market, as after a refusal
                return None
        cid = None
        for part in _parts(qty, inst.lot(order).max_qty):
            intent = ExitIntent(
                symbol,
                direction,
                part,
                order,
                price,
                None,
                rule,
                time,
                position_side=pos.position_side,
                reduce_only=not eng.hedge,
            )
            cmd = st.oms.place_exit(intent, purpose)
            cid = cmd.client_order_id
            step.records.append(
                rec.GuardRecord(
                    time,
                    symbol,
                    rule,
                    f"{purpose} {part} reduce-only",
                    (verdict or Verdict("allow", "reduce_only", "exits are always allowed"),),
                    cid,
                )
            )
            eng.send(cmd, step)
        return cid

    def _refused_price(self, symbol: str, inst: Instrument, side: Side, order: OrderType, price: Decimal) -> str | None:
        """Why Binance would refuse a limit exit at `price` (PERCENT_PRICE against the mark, -4016/-4024,
        as an entry is checked: risk/exchange_filters.py), or None."""
        mark = self.state.runs[symbol].market.mark
        if order is not OrderType.LIMIT or mark is None or inst.percent_price is None:
            return None
        violations = check_order(
            inst, side=side, order_type=order, quantity=None, mark_price=mark, price=price, reduce_only=True
        )
        bad = next((v for v in violations if v.filter == "PERCENT_PRICE"), None)
        if bad is None:
            return None
        pp = inst.percent_price
        bound, word = (pp.multiplier_up, "over") if side is Side.BUY else (pp.multiplier_down, "under")
        pct = format((bound * 100).normalize(), "f")
        return f"{bad}: the limit {price} is {word} {pct}% of the mark {mark} ({inst.round_price(mark * bound, side)})"

    def exit_all(
        self, symbol: str, rule: str, order: OrderType, price_expr: CompiledExpr | None, purpose: Purpose, step: Step
    ) -> str | None:
        """Close the whole position: in hedge mode every open leg at once (else the second leg would
        wait for the first one's outcome and the backoff of a refused exit); the last closing order's
        id, or None when nothing was sent."""
        if not self.engine.hedge:
            return self.exit(symbol, rule, None, None, order, price_expr, purpose, step)
        legs = [side for (s, side), p in self.state.portfolio.positions.items() if s == symbol and p.amount != 0]
        cid = None
        for leg in legs:
            cid = self.exit(symbol, rule, None, None, order, price_expr, purpose, step, None, leg) or cid
        return cid

    def _too_small(
        self,
        symbol: str,
        rule: str,
        fraction: Decimal,
        size: Decimal,
        order: OrderType,
        inst: Instrument,
        purpose: Purpose,
        verdict: Verdict | None,
        step: Step,
    ) -> None:
        what = f"{'reduce' if purpose == 'exit' else purpose} {float(fraction) * 100:.4g}%"
        lot = inst.lot(order).step_size
        reason = f"{what} of {size} is less than one lot step ({lot}): nothing was closed"
        guard = verdict.guard if verdict is not None else "sizing"
        step.records.append(
            rec.GuardRecord(self.state.time, symbol, rule, what, (Verdict("reject", guard, reason),), None)
        )

    def _rounded_share(self, amount: Decimal, fraction: Decimal, order: OrderType, inst: Instrument) -> _Share:
        """`fraction` of a position of `amount`, rounded as the sizing in `exit` rounds it (None when
        that sizing would fail: it then says why), and whether that leaves nothing to close. Kept
        with the Decimals it was given (they never change in place) and the instrument: a rule may
        reduce the same position on every trade."""
        last = self._share
        if last is not None and last[0] is amount and last[1] is fraction and last[2] is order and last[3] is inst:
            return last
        try:
            qty = abs(amount) * fraction
            rounded = inst.round_qty(qty, order) if qty >= 0 else None
        except ArithmeticError:
            rounded = None
        share = self._share = (amount, fraction, order, inst, rounded, rounded is not None and rounded <= 0)
        return share

    def close_passed(self, refused: OrderRecord, step: Step) -> str:
        """`refused`, a stop-loss or take-profit of a position, was refused because the price had already
        passed its trigger (-2021): close what is left of that position (its hedge leg) at market, as the
        stop would have. What is already being closed by a market close of ours is not closed twice;
        nothing is sent for a position that is flat or turned since. What was done, for the journal."""
        st = self.state
        was = refused.command
        symbol, leg = was.symbol, was.position_side
        pos = st.portfolio.position(symbol, leg) if self.engine.hedge else st.portfolio.net_position(symbol)
        direction = pos.direction
        if direction is None or was.side is not direction.exit_side:
            return "the position it was for is gone: nothing to close"
        left = pos.size - self._closing_now(symbol, pos.position_side)
        if left <= 0:
            return "a market close of the position is already working"
        market = st.runs[symbol].market
        mark = was.working_type is WorkingType.MARK_PRICE
        price = market.mark if mark else market.last
        what = {"take_profit": "take-profit", "protective": "protective stop"}.get(refused.purpose, "stop-loss")
        seen = f" ({'mark' if mark else 'last'} {price})" if price is not None else ""
        reason = f"{what} {was.trigger_price} had already passed{seen}: closed at market"
        verdict = Verdict("allow", "reduce_only", reason)
        cid = self.exit(
            symbol, refused.rule, None, None, OrderType.MARKET, None, "exit", step, verdict, pos.position_side, left
        )
        if cid is None:
            return "its trigger price was already passed, but nothing could be closed"
        ex = st.runs[symbol].exiting
        if ex is not None:  # a rule's exit waits to be sent again: this close is the one it watches
            ex.order_id = cid
        return f"its trigger price was already passed: the position is closed at market ({cid})"

    def going(self, symbol: str, leg: PositionSide) -> bool:
        """The position (its hedge leg `leg`; the net one in one-way mode) is flat, or our working market
        closes take all of it: its stops are cancelled with it (`Protections.cancel_leftovers`)."""
        st = self.state
        pos = st.portfolio.position(symbol, leg) if self.engine.hedge else st.portfolio.net_position(symbol)
        return pos.amount == 0 or pos.size <= self._closing_now(symbol, pos.position_side)

    def closing(self, symbol: str) -> bool:
        """An order of ours that closes (part of) the position is working."""
        return any(r.purpose in CLOSING_PURPOSES for r in self.state.oms.open_orders(symbol))

    def deleverage(self, intent: DeleverageIntent, step: Step) -> None:
        """Cut the position to `target_leverage` times equity, if it is above that."""
        st = self.state
        symbol = intent.symbol
        pos = st.portfolio.net_position(symbol)
        inst = self.engine.instruments[symbol]
        mark = st.portfolio.marks.get(symbol)
        equity = st.portfolio.equity(inst.margin_asset)
        if pos.amount == 0 or mark is None or equity <= 0:
            return
        # What market closes of ours already take out (a `reduce` of the same moment) is gone before this
        # one fills: sized on the whole position, the two reduce-only orders together closed all of it.
        size = pos.size - self._closing_now(symbol, pos.position_side)
        if size <= 0:
            return
        target = intent.target_leverage
        notional = abs(inst.notional(size, mark))
        if notional <= target * equity:
            return
        # The closes pay the taker fee on all they close (the working ones too), and that fee leaves the
        # equity the target is a multiple of: keep K (notional) of the position's N with
        # K <= target * (equity - (N - K) * taker), so K <= target * (equity - N * taker) / (1 - target * taker).
        # The kept quantity rounds down (the close up) to the lot step: rounded the other way, 1.499 BTC on
        # 10,000 USDT cut to 3x kept 3.01x and the rule fired again and again for one more step each time.
        taker = self.engine.fee_rates.taker
        room = 1 - target * taker
        fees = abs(inst.notional(pos.size, mark)) * taker
        keep_notional = notional if room <= 0 else max(ZERO, target * (equity - fees) / room)
        keep_qty = keep_notional * mark / inst.contract_size if inst.is_inverse else keep_notional / mark
        kept = inst.round_qty(min(keep_qty, size), OrderType.MARKET)
        close = size - kept
        if close <= 0:
            return
        fraction = close / pos.size
        self.exit(symbol, intent.rule, fraction, None, OrderType.MARKET, None, "deleverage", step, qty=close)

    def _closing_now(self, symbol: str, leg: PositionSide) -> Decimal:
        """The unfilled quantity of our working market closes of the position (`leg`): they fill before
        anything sized now. A resting limit exit may never fill, and a stop waits for its trigger."""
        total = ZERO
        for r in self.state.oms.open_orders(symbol):
            cmd = r.command
            if r.purpose in CLOSING_PURPOSES and cmd.order_type is OrderType.MARKET and cmd.position_side is leg:
                total += (cmd.quantity or ZERO) - r.filled_qty
        return total

    def flatten(self, step: Step, rule: str) -> None:
        """Cancel every order and close every position, watched like a rule's exit."""
        for symbol in self.state.runs:
            self.flatten_symbol(symbol, rule, step)

    def flatten_symbol(self, symbol: str, rule: str, step: Step) -> None:
        """`flatten` for one symbol."""
        st = self.state
        time, run = st.time, st.runs[symbol]
        step.commands.append(st.oms.cancel_all(symbol, time, f"flatten ({rule})"))
        run.protections.clear()
        ex = run.exiting
        if ex is not None and ex.order_id is not None and run.fill_time > run.account_time:
            sent = st.oms.get(ex.order_id)
            if sent is not None and sent.status is OrderStatus.FILLED:
                # The close already filled, and the account update it made is on its way (a `fill`
                # rule that halts fires on the flatten's own fill): another close finds nothing to
                # reduce (-2022). Should a position be left, the pending exit sends its close again
                # when that update arrives (binding.check).
                ex.then, ex.then_rule = (), None  # no reversal's entry after a flatten
                return
        cid = self.exit_all(symbol, rule, OrderType.MARKET, None, "flatten", step)
        if cid is None:
            return
        # Sent again while the exchange refuses it.
        if run.exiting is None:
            target = self.book.states[run.state].on_close or run.state
            run.exiting = PendingExit(target, f"flattened ({rule})", rule, cid, 1, time + retry_delay_ms(1))
        else:
            run.exiting.order_id = cid
            run.exiting.then, run.exiting.then_rule = (), None  # no reversal's entry after a flatten
