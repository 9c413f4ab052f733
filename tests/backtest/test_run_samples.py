"""The samples due inside a jumped run (run_samples._due): the stretch form is the runner's test at each candle."""

from __future__ import annotations

import numpy as np
from hypothesis import example, given, settings
from hypothesis import strategies as st

from rulebot.backtest.run_samples import _due


def _one_by_one(times: list[int], next_sample: int, every: int) -> tuple[list[int], int]:
    """The runner's take_sample test at each candle but the last: due at or after `next_sample`, which
    then moves to the next multiple of `every` after the candle."""
    due = []
    for j, t in enumerate(times[:-1]):
        if t >= next_sample:
            next_sample = t - t % every + every
            due.append(j)
    return due, next_sample


@settings(max_examples=500, deadline=None)
@given(
    start=st.integers(-(10**6), 10**13),
    steps=st.lists(st.sampled_from([60_000, 60_000, 60_000, 1, 30_000, 59_999, 120_000, 0, -5]), max_size=40),
    every=st.sampled_from([60_000, 1_000, 300_000, 7]),
    lag=st.integers(-200_000, 200_000),
)
@example(start=59_999, steps=[60_000] * 10, every=60_000, lag=0)  # a minute's candles, sampled once a minute
@example(start=59_999, steps=[60_000] * 10, every=60_000, lag=300_001)  # the first samples not yet due
def test_the_samples_due_in_a_run_are_the_runners_test_at_each_candle(
    start: int, steps: list[int], every: int, lag: int
) -> None:
    times = [start]
    for step in steps:
        times.append(times[-1] + step)
    next_sample = start + lag
    due, after = _due(times, np.array(times, dtype=np.int64), next_sample, every)
    assert (list(due), after) == _one_by_one(times, next_sample, every)
