"""Each symbol's state stays bound to the position the exchange reports (issue 11).

A state with `position: none` never holds while the account holds a position: a rule's
`goto: flat` after an `exit` waits (the state stays `long`) until the exchange reports the
position closed, and the exit is sent again while the exchange refuses it; a state is moved to
match a position it did not expect (a restart, a fresh journal on a held position). Entries on
a symbol go one at a time: the next one waits until the last one's outcome is in the position.
"""

from __future__ import annotations

from dataclasses import dataclass

from rulebot.rulebook.compiled import CompiledAction, CompiledRule, CompiledRulebook

# Orders that close (part of) a position: while one works, the position is being closed.
CLOSING_PURPOSES = frozenset({"exit", "flatten", "deleverage"})
_FIRST_RETRY_MS = 1_000
_MAX_RETRY_MS = 60_000


@dataclass(slots=True)
class PendingExit:
    """A move to a position-less state that waits for the exchange to confirm the close."""

    target: str  # the state to enter once the position is gone
    why: str  # as the rule said it, for the state change when it happens
    rule: str  # whose exit it is (a resent exit carries its name)
    order_id: str | None  # the closing order now working, or the last one sent
    attempts: int  # closing orders sent for it so far
    retry_at: int = 0  # no new closing order before this time (backoff after a refusal)
    # Stop and reverse (`do: [exit, {enter: …}, {goto: …}]`, one-way mode): the rest of the rule,
    # run once the exchange reports the position flat. Sent at once, the entry would flip the
    # position if the exit filled, and add to it (or hold both sides' orders) if it was refused.
    then: tuple[CompiledAction, ...] = ()
    then_rule: CompiledRule | None = None


def retry_delay_ms(attempts: int) -> int:
    """1 s, 2 s, 4 s … up to a minute between two tries: an exit keeps being tried, within the
    order budget, for as long as the exchange refuses it."""
    return min(_FIRST_RETRY_MS << max(attempts - 1, 0), _MAX_RETRY_MS)


def state_for(book: CompiledRulebook, side: str) -> str | None:
    """The state that holds a `side` position: the initial state first, then in file order, as a
    reload chooses; a `position: any` state if none is bound to the side; None without either."""
    order = [book.initial_state] + [s for s in book.states if s != book.initial_state]
    for binding in (side, "any"):
        found = next((s for s in order if book.states[s].position == binding), None)
        if found is not None:
            return found
    return None


def state_for_flat(book: CompiledRulebook, current: str) -> str:
    """Where a stop and reverse waits between its exit and its entry: the state's `on_close`, else
    the first position-less state (the initial state first); `current` if the rulebook has none."""
    return book.states[current].on_close or state_for(book, "none") or current
