"""A cancel the exchange refused without executing it is sent again.

A refused cancel leaves the order as the engine knows it (`session.refusal`): working. When the
refusal says the order is gone (-2011, -2013), the order's own updates say what became of it.
Any other refusal (-1021 again after the clock resync, 503 on every try, a rate limit, a broken
connection) left the order working on the exchange, and nothing else would cancel it: a rule's
`exit` whose resting entry had to be cancelled first waited for good, its state held and the
given-up entry resting on the exchange, free to fill. Such a cancel is sent again, 1 s, 2 s,
4 s … up to a minute apart, for as long as the order works.

A refused cancel-all (a rule's `cancel: all`, a flatten) is sent again as a cancel of each order
it was asked for that still works (`refused_all`), with the same back-off: sent again as a
cancel-all, it would also take the orders placed since (the new stop a rule placed right after
its `cancel: all`). So is a cancel whose outcome stayed unknown (-1007 on every try): should it
have executed, the order's update says so and nothing is sent again.
"""

from __future__ import annotations

from rulebot.core.commands import CancelAllOrders, CancelOrder
from rulebot.engine.binding import retry_delay_ms
from rulebot.engine.state import EngineState

__all__ = ["GONE_CODES", "due", "refused", "refused_all"]

GONE_CODES = frozenset({-2011, -2013})  # the order is not open on the exchange: its updates tell the rest
_AGAIN = " (sent again)"


def refused(state: EngineState, cmd: CancelOrder, code: int | None, time: int) -> int | None:
    """A refused cancel: when it is sent again (ms from `time`), or None if it is not (the order
    is gone, or no longer working as the engine knows it)."""
    cid = cmd.client_order_id
    record = state.oms.get(cid)
    time = max(time, state.time)  # live, `time` is the cancel's: its answer came after the transport's tries
    if code in GONE_CODES or record is None or not record.is_open:
        state.cancel_retries.pop(cid, None)
        return None
    tries = state.cancel_retries.get(cid, (0, 0))[0] + 1
    wait = retry_delay_ms(tries)
    state.cancel_retries[cid] = (tries, time + wait)
    state.next_retry = min(state.next_retry, time + wait)
    return wait


def refused_all(state: EngineState, cmd: CancelAllOrders, time: int) -> tuple[list[str], int]:
    """A refused (or unknown) cancel-all: the orders it was asked for that still work, each now
    cancelled on its own when due (ms from `time`, the second value). Those are the ones it marked
    with its reason (`OrderManager.cancel_all`); an order placed since carries no such mark, and one
    cancelled since on its own carries that cancel's reason."""
    wait = retry_delay_ms(1)
    time = max(time, state.time)
    ids: list[str] = []
    for record in state.oms.open_orders(cmd.symbol):
        if record.cancel_reason != cmd.reason:
            continue
        cid = record.client_order_id
        ids.append(cid)
        state.cancel_retries.setdefault(cid, (1, time + wait))
    if ids:
        state.next_retry = min(state.next_retry, time + wait)
    return ids, wait


def due(state: EngineState, time: int) -> list[CancelOrder]:
    """The refused cancels due by `time`, of orders still working; the next one not yet due is
    kept in `next_retry`."""
    out: list[CancelOrder] = []
    for cid, (tries, at) in list(state.cancel_retries.items()):
        record = state.oms.get(cid)
        if record is None or not record.is_open:
            del state.cancel_retries[cid]
        elif at <= time:
            # Sent; looked at again after the next back-off: gone by then, it is forgotten; still
            # working (its answer lost, or refused again), it is sent once more.
            watch = time + retry_delay_ms(tries + 1)
            state.cancel_retries[cid] = (tries, watch)
            state.next_retry = min(state.next_retry, watch)
            reason = (record.cancel_reason or "cancel").removesuffix(_AGAIN) + _AGAIN
            out.append(state.oms.cancel_id(record.command.symbol, cid, time, reason))
        else:
            state.next_retry = min(state.next_retry, at)
    return out
