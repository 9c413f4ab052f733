"""What the kill switch does to a running engine when the bot stops (SIGINT, SIGTERM, `rulebot
kill`, the kill file): the policy `flatten`, or `keep` stop-protected positions."""

from __future__ import annotations

from typing import Literal

from rulebot.engine import records as rec
from rulebot.engine.engine import Engine, Step

Policy = Literal["flatten", "keep"]


def exit_step(engine: Engine, policy: Policy, reason: str) -> Step:
    """`flatten`: cancel every order and close every position reduce-only (the `halt` action).
    `keep`: cancel working entries and leave positions with their exchange-side stops; when a
    position has none (it opened moments ago), keeping it would leave it unguarded, so
    everything is flattened instead, and the notice says why."""
    step = Step()
    if policy == "keep":
        unprotected = _unprotected(engine)
        if not unprotected:
            t = engine.time
            # What the shutdown still hears (an exit's fill) must not open anything: a stop and
            # reverse waiting for that fill would send its entry after the kill, unprotected.
            engine.refuse_entries(reason)
            step.commands.extend(engine.entry_cancels(t))
            message = f"{reason}: entries cancelled, positions left with their stops on the exchange"
            step.records.append(rec.EngineNotice(t, "", "shutdown", message))
            return step
        reason = (
            f"{reason}: {', '.join(unprotected)} had no stop on the exchange for the whole position, so nothing is kept"
        )
    engine.halt(reason, step)
    return step


def kept_step(engine: Engine, reason: str) -> Step:
    """`keep`, once the answers still out are in: a stop counted at the kill may have been refused
    since (or a fill heard since may have no stop). Such a position is flattened, as it would have
    been had it had no stop at the kill; otherwise nothing is done."""
    step = Step()
    unprotected = _unprotected(engine)
    if unprotected:
        engine.halt(
            f"{reason}: {', '.join(unprotected)} had no stop on the exchange for the whole position at the end, "
            "so nothing is kept",
            step,
        )
    return step


def _unprotected(engine: Engine) -> list[str]:
    """The symbols holding a position with no stop working (or on its way) for all of it: a trailing
    stop placed before the position grew, its resize refused, covers part (engine/stop_cover.py), and
    in hedge mode each leg needs its own, as the protective-stop guard counts them."""
    return sorted({p.symbol for p in engine.open_positions() if engine.protections.unprotected(p.symbol) is not None})
