"""`QuietWalk.due_first(at)` names what falls due first at `quiet_until`, as `min` over the deadlines in
their order named them before it took the time `quiet_until` had just found: every deadline, ties
included, against that reading (fails if a test is dropped or the order changes)."""

from __future__ import annotations

from types import SimpleNamespace

from hypothesis import given, settings
from hypothesis import strategies as st

from rulebot.engine.quiet_walk import QuietWalk
from rulebot.engine.risk.event import NEVER


def reference(engine: SimpleNamespace) -> str:
    """The reading `due_first` replaced: the first of the named deadlines with the least time."""
    state = engine.state
    due, expiry = engine._timers.next_due, state.oms.next_expiry
    retry = state.next_retry if any(run.exiting is not None for run in state.runs.values()) else NEVER
    named = [
        (state.next_day, "the day roll"),
        (state.next_timeout, "a state timeout"),
        (state.next_protect, "the protective-stop deadline"),
        (retry, "an exit's retry"),
        (state.time if due is None else due, "a timer"),
        (NEVER if expiry is None else expiry, "an order's expiry"),
    ]
    return min(named, key=lambda x: x[0])[1]


# Few distinct times, so that ties are frequent; NEVER as often as a time.
times = st.sampled_from([5, 7, 9, NEVER])


@settings(max_examples=1000, deadline=None)
@given(
    day=times,
    timeout=times,
    protect=times,
    retry=times,
    now=st.sampled_from([5, 7, 9]),
    due=st.one_of(st.none(), times),
    expiry=st.one_of(st.none(), times),
    exiting=st.lists(st.booleans(), max_size=3),
)
def test_due_first_names_the_deadline_min_picks(
    day: int, timeout: int, protect: int, retry: int, now: int, due: int | None, expiry: int | None, exiting: list[bool]
) -> None:
    state = SimpleNamespace(
        next_day=day,
        next_timeout=timeout,
        next_protect=protect,
        next_retry=retry,
        time=now,
        oms=SimpleNamespace(next_expiry=expiry),
        runs={f"S{i}": SimpleNamespace(exiting=object() if e else None) for i, e in enumerate(exiting)},
    )
    engine = SimpleNamespace(state=state, _timers=SimpleNamespace(next_due=due))
    engine._exit_pending = lambda: QuietWalk._exit_pending(engine)  # type: ignore[arg-type]
    at = QuietWalk.quiet_until(engine)  # type: ignore[arg-type]
    assert QuietWalk.due_first(engine, at) == reference(engine)  # type: ignore[arg-type]
