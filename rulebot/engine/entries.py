"""Entries: a rule's `enter` sized, checked by every entry guard, and placed by the order manager.

Entries go one at a time per symbol, each once the last one's outcome is in the position the
exchange reported, and never add to a position that the state does not expect (binding.py).
"""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING

from rulebot.core.enums import Direction, PositionSide
from rulebot.core.intents import EnterIntent
from rulebot.engine import records as rec
from rulebot.engine.account_view import margin_available
from rulebot.engine.portfolio import PositionState
from rulebot.engine.risk import AccountView, Verdict
from rulebot.engine.sizing import SizingError, entry_quantity, to_decimal
from rulebot.engine.state import Step
from rulebot.rulebook import compiled as c

if TYPE_CHECKING:
    from rulebot.engine.engine import Engine

ZERO = Decimal(0)
_LONG, _SHORT, _BOTH = Direction.LONG, Direction.SHORT, PositionSide.BOTH  # slow lookups on 3.11


class Entries:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.state = engine.state
        self.book = engine.book

    def enter(self, symbol: str, rule: c.CompiledRule, action: c.Enter, step: Step) -> str | None:
        """The entry's client order id, or None when it was refused (the reason is journaled)."""
        eng, st = self.engine, self.state
        time = st.time
        run = st.runs[symbol]
        blocked = self.blocked(symbol)
        if blocked is not None:
            verdict = Verdict("reject", "one_entry_at_a_time", blocked)
            step.records.append(rec.GuardRecord(time, symbol, rule.name, f"enter {action.side.word}", (verdict,), None))
            return None
        market = run.market
        inst = eng.instruments[symbol]
        env = market.env
        pf = st.portfolio
        eng.account_values[symbol](env)
        try:
            price = None
            if action.price is not None:
                price = to_decimal(action.price.fn(env), f"price {action.price.text!r}")
            ref = price if price is not None else (market.last or ZERO)
            equity = pf.equity(inst.margin_asset)
            qty = entry_quantity(action.size, inst, env, ref, equity, run.leverage)
        except (SizingError, ArithmeticError) as exc:
            step.records.append(rec.sizing_refused(time, symbol, rule.name, f"enter {action.side.word}", exc))
            return None
        position_side = _BOTH
        if eng.hedge:
            position_side = action.side.hedge_leg
        intent = EnterIntent(
            symbol,
            action.side,
            qty,
            action.order,
            price,
            action.time_in_force,
            action.expire_ms,
            action.tag,
            rule.name,
            time,
            position_side,
        )
        # net_position(symbol).direction, without building a flat position to read None from
        # (an entry goes out flat: a stop and reverse enters once the exit's fill is reported).
        held = pf.net_amount(symbol)
        direction = _LONG if held > 0 else _SHORT if held < 0 else None
        mark = market.mark or ZERO
        funding_rate = env.get("funding_rate")
        nft = market.next_funding_time
        # Positional, in the fields' order (named in the comments): 26 keywords cost ~2 us a call (issue 14).
        view = AccountView(
            time,
            inst,  # instrument
            market.last or ZERO,  # last_price
            mark,  # mark_price
            equity,  # as sized above: nothing moved since
            pf.notional(symbol),  # position_notional
            direction,  # position_direction
            len(st.oms.open_orders(symbol)),  # open_orders
            market.last_data_time,
            run.leverage,
            st.halted or st.stopping,  # halted (a keep stop refuses entries too)
            st.daily_breach_day is not None,  # daily_loss_breached
            eng.cap_stops.daily_pnl_closed(inst.margin_asset),  # daily_pnl
            st.order_budget.used(time),  # orders_last_minute
            tuple(sorted(st.streams_down)),  # streams_down
            Decimal(repr(funding_rate))  # funding_rate
            if isinstance(funding_rate, float) and funding_rate == funding_rate
            else None,
            nft - time if nft is not None else None,  # funding_in_ms
            run.volatility.ratio(),  # volatility_ratio
            eng.brackets[symbol],  # brackets
            eng.holding(symbol, position_side) if mark > 0 else None,  # holding (hedge: the leg it enters)
            self.book.margin_type,
            st.received,
            eng.cap_stops.daily_cap(inst.margin_asset),  # daily_loss_cap
            eng.fee_rates,
            margin_available(  # available
                inst.margin_asset, pf, eng.instruments, st.runs, self.book.margin_type, st.oms, eng.hedge
            ),
        )
        checked = eng.risk.check_entry(intent, view)
        described = f"enter {action.side.word} {qty:.8g} {action.order.lower()}" + (
            f" @ {price}" if price is not None else ""
        )
        if checked.quantity is None:
            step.records.append(rec.GuardRecord(time, symbol, rule.name, described, tuple(checked.verdicts), None))
            return None
        cmd = st.oms.place_entry(intent, checked.quantity, checked.price, checked.order_type, checked.time_in_force)
        run.entry_pending.add(cmd.client_order_id)
        step.records.append(
            rec.GuardRecord(time, symbol, rule.name, described, tuple(checked.verdicts), cmd.client_order_id)
        )
        eng.send(cmd, step)
        return cmd.client_order_id

    def blocked(self, symbol: str) -> str | None:
        """Why no entry may go out on the symbol now (None: it may)."""
        run = self.state.runs[symbol]
        if run.exiting is not None:
            return f"the position is being closed ({run.exiting.why}): no entry until the exchange confirms it"
        if run.entry_pending:
            return (
                f"entry {min(run.entry_pending)} is still working: one entry at a time on {symbol} "
                "until the exchange reports its outcome"
            )
        if run.fill_time > run.account_time:
            return "the last fill is not in the position the exchange reported yet: one entry at a time"
        binding = self.book.states[run.state].position
        for pos in open_legs(self.engine, symbol):
            if not binding.admits(pos.direction):
                return (
                    f"the exchange holds a {pos.side} position of {pos.size} and state {run.state} is bound to "
                    f"position {binding.word}: no entry adds to a position the state does not expect"
                )
        return None


def open_legs(engine: Engine, symbol: str) -> list[PositionState]:
    """The symbol's open positions (one in one-way mode; a long and a short leg in hedge mode)."""
    positions = engine.state.portfolio.positions
    if len(positions) == 1:  # one symbol, one-way (the binding asks several times a report): no comprehension
        for (s, _), p in positions.items():
            return [p] if s == symbol and p.amount != 0 else []
    return [p for (s, _), p in positions.items() if s == symbol and p.amount != 0]
