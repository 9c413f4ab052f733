"""The daily loss cap's own orders and its breach (the numbers are daily_cap.py's; the check
at every price is the guard risk/daily_loss_cap.py).

Per open position, one reduce-only stop on the exchange at the mark price where the daily loss
cap would be reached: it holds through gaps and while the bot is dead. Re-priced when the
position, the wallet or the day changes, and only when that moves the loss at its trigger by
more than `_CAP_SLACK` of the cap.
"""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING

from rulebot.core.enums import Direction, PositionSide, WorkingType
from rulebot.core.intents import ProtectIntent
from rulebot.engine import records as rec
from rulebot.engine.daily_cap import amount_text, cap_amount, cap_price, cap_trigger
from rulebot.engine.oms import OrderRecord
from rulebot.engine.risk import Verdict
from rulebot.engine.state import DAY_MS, Step

if TYPE_CHECKING:
    from rulebot.engine.engine import Engine

ZERO = Decimal(0)
# A daily-cap stop is re-priced only when that moves the loss at its trigger by more than this
# share of the cap: another symbol's fee must not cancel and re-place it on every fill. The
# engine's own check at every price holds the exact cap; the slack only matters while it is dead.
_CAP_SLACK = Decimal("0.005")


class CapStops:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.state = engine.state
        self.book = engine.book

    def daily_cap(self, asset: str) -> Decimal | None:
        """Today's daily loss cap in `asset` (None before the first event or without equity)."""
        today = self.state.portfolio.today
        start = today.start_equity.get(asset) if today is not None else None
        if start is None or start <= 0:
            return None
        r = self.book.risk
        return cap_amount(start, r.daily_loss_cap_fraction, r.daily_loss_cap_amount)

    def daily_pnl_closed(self, asset: str) -> Decimal:
        """Daily PnL as if every open position of `asset` were closed now at its mark by a
        market order: the fee to get out is as lost as the fee that got in (the cap stop is
        priced the same way, daily_cap.py)."""
        pf = self.state.portfolio
        today = pf.today
        if today is None:  # `Portfolio.daily_pnl` is 0 then: only the fees count
            return ZERO - pf.equity_and_exit_fees(asset, self.engine.fee_rates.taker)[1]
        equity, fees = pf.equity_and_exit_fees(asset, self.engine.fee_rates.taker)
        return (equity - today.start_equity.get(asset, ZERO)) - fees

    def refresh(self, step: Step) -> None:
        """Price every symbol's cap stops again (not once the cap was breached or trading halted)."""
        st = self.state
        if st.daily_breach_day is not None or st.halted is not None:
            return
        for symbol in st.runs:
            self._cap_stop(symbol, step)

    def _cap_stop(self, symbol: str, step: Step) -> None:
        st = self.state
        pf = st.portfolio
        inst = self.engine.instruments[symbol]
        asset = inst.margin_asset
        cap = self.daily_cap(asset)
        mark = pf.marks.get(symbol)
        if cap is None or pf.today is None:
            return
        if mark is None:  # cannot price it yet (a restart): leave what works, try again at the next check
            st.cap_stale = True
            return
        time = st.time
        wanted: dict[PositionSide, tuple[Decimal, Decimal]] = {}  # trigger, size
        floor = pf.today.start_equity[asset] - cap
        equity = pf.equity(asset)
        taker = self.engine.fee_rates.taker
        for (s, side), pos in pf.positions.items():
            if s != symbol or pos.amount == 0:
                continue
            at = cap_price(inst, pos.amount, pos.entry_price, equity - pf.unrealized(s, side), floor, taker)
            if at is None:
                continue
            long = pos.amount > 0
            trig = cap_trigger(inst, at, long)
            if (trig < mark) if long else (trig > mark):  # else the cap is reached: the check flattens
                wanted[side] = (trig, pos.size)
        for record in st.oms.open_orders(symbol):
            cid = record.client_order_id
            if record.purpose != "daily_cap" or cid in st.cap_cancels:
                continue
            side = record.command.position_side
            want, working = wanted.get(side), record.command.trigger_price
            # The loss the move of the trigger makes, in the margin asset: size x |move| on a linear
            # contract, contracts x size x |1/a - 1/b| coin on an inverse one (not USD x contracts).
            if (
                want is not None
                and working is not None
                and abs(inst.signed_pnl(want[1], working, want[0])) <= (cap * _CAP_SLACK)
            ):
                del wanted[side]
                continue
            st.cap_cancels.add(cid)
            why = "re-priced: the daily loss cap moved" if want is not None else "no position to cap"
            step.commands.append(st.oms.cancel(record, time, why))
        for side, (trig, _) in wanted.items():
            long = side is PositionSide.LONG or (side is PositionSide.BOTH and pf.position(symbol, side).amount > 0)
            stop = ProtectIntent(
                symbol,
                Direction.LONG if long else Direction.SHORT,
                "stop_loss",
                trig,
                WorkingType.MARK_PRICE,  # daily PnL is valued at the mark
                "daily_loss_cap",
                "daily_loss_cap",
                time,
                side,
            )
            cmd = st.oms.place_stop(stop, "daily_cap")
            step.records.append(
                rec.GuardRecord(
                    time,
                    symbol,
                    "daily_loss_cap",
                    f"daily_cap stop {trig}",  # the first word is the purpose a restart adopts it as
                    (
                        Verdict(
                            "act",
                            "daily_loss_cap",
                            f"stop-market at mark {trig}, where daily PnL would reach the cap "
                            f"{amount_text(-cap, asset)}",
                        ),
                    ),
                    cmd.client_order_id,
                )
            )
            self.engine.send(cmd, step)

    def on_order(self, record: OrderRecord, filled: bool, step: Step) -> None:
        """A report on one of the cap stops."""
        st = self.state
        if filled:
            st.cap_hits.add(self.engine.instruments[record.command.symbol].margin_asset)
        if not record.is_open:
            ours = record.client_order_id in st.cap_cancels
            st.cap_cancels.discard(record.client_order_id)
            if record.filled_qty == 0 and not ours:
                self.refresh(step)  # canceled by someone else (a rule's `cancel`): put it back

    def breach(self, asset: str, pnl: Decimal, cap: Decimal, step: Step) -> None:
        """Today's loss reached the cap (risk/daily_loss_cap.py decided): cancel, flatten or halt."""
        st = self.state
        st.cap_hits.clear()
        st.daily_breach_day = st.time // DAY_MS
        step.records.append(
            rec.EngineNotice(
                st.time,
                "",
                "daily-loss-cap",
                f"daily loss {amount_text(pnl, asset)} reached the cap {amount_text(cap, asset)}: "
                f"orders canceled, positions flattened, no entries until 00:00 UTC",
            )
        )
        if self.book.risk.on_breach == "halt":
            self.engine.halt("daily loss cap", step, holds=True)  # on_breach: halt is for good, not the day
        else:
            self.engine.exits.flatten(step, "daily_loss_cap")
