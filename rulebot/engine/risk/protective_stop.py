"""Protective stop (event time): a position still without a working stop for all of it when its
countdown ends gets a close-position stop-market from the engine. This module prices it and says
why; the engine places it."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

from rulebot.core.enums import Side
from rulebot.core.instruments import Instrument
from rulebot.engine.portfolio import PositionState
from rulebot.engine.risk.event import GuardAct, GuardView, Protect
from rulebot.engine.risk.verdict import Verdict

_BUY, _SELL = Side.BUY, Side.SELL  # slow lookups on Python 3.11 (EnumType.__getattr__)


def protective_trigger(inst: Instrument, pos: PositionState, mark: Decimal, distance: Decimal) -> Decimal:
    """The stop's trigger price, `distance` beyond the worse of entry and mark."""
    long = pos.amount > 0
    # From the worse of entry and mark, so the stop never sits on the wrong side of the
    # market (Binance would refuse it with -2021).
    base = min(pos.entry_price, mark) if long else max(pos.entry_price, mark)
    return inst.round_price(base * (1 - distance) if long else base * (1 + distance), _BUY if long else _SELL)


def protective_verdict(
    pos: PositionState,
    trigger: Decimal,
    distance: Decimal,
    within_ms: int,
    covered: Decimal = Decimal(0),
    why: str = "",
) -> Verdict:
    """Why the stop goes out: the position had no stop, or (`covered` > 0) its stops closed only part
    of it (a trailing stop placed before it grew, whose resize the exchange refused); `why`: what
    started the countdown when not the position's opening (a stop that stopped working)."""
    placed = f"placed a stop-market at {trigger} ({distance * 100:.1f}% away, mark price)"
    # No countdown (`within_ms` 0): `why` says when, as "when the bot started again"; else how long after what.
    when = (
        why
        if not within_ms
        else f"{within_ms / 1000:g}s after {why or ('it grew past them' if covered else 'it opened')}"
    )
    if covered > 0:
        return Verdict(
            "act",
            "protective_stop",
            f"the {pos.side} position's stops on the exchange closed only {covered} of the {pos.size} held "
            f"{when}: {placed} for all of it",
        )
    return Verdict("act", "protective_stop", f"the {pos.side} position had no stop on the exchange {when}: {placed}")


def on_clock(view: GuardView, symbol: str, fresh: bool) -> Sequence[GuardAct]:
    """The clock moved: each position (hedge mode: each leg) whose countdown ran out without a working
    stop gets one."""
    memory = view.memory(symbol)
    now = view.time
    if memory.protect_deadline > now:
        return ()
    due = memory.protect_due
    acts: list[GuardAct] = []
    for leg, (deadline, why, within_ms) in list(due.items()):
        if deadline > now:
            continue  # another leg's countdown, still running
        del due[leg]
        pos = view.unprotected(symbol, leg)
        if pos is None:
            continue
        risk = view.risk
        mark = view.mark(symbol) or pos.entry_price
        trigger = protective_trigger(view.instrument(symbol), pos, mark, risk.protective_stop)
        verdict = protective_verdict(pos, trigger, risk.protective_stop, within_ms, view.covered(pos), why)
        acts.append(Protect(symbol, trigger, verdict, pos.position_side))
    memory.due_again()
    return acts
