"""The garbage collector's pace while a backtest runs (issue 14).

A backtest makes millions of short-lived objects (events, commands, reports, records, samples) on
top of a heap of long-lived ones (the replayed data, the compiled rulebook, the imports). At
CPython's default pace (a young collection every 700 new objects, a full one every 100 young ones)
the collector walks that heap again and again for garbage that reference counting has already
freed: ~8% of a month's trading run and ~24% of a run that never trades. Collecting young objects
every `YOUNG` new ones instead finds the same cycles a little later, costs a few MB at most and
changes no result. The pace is restored when the run returns, so a live bot sharing the process
keeps the default one.
"""

from __future__ import annotations

import gc
from collections.abc import Callable
from functools import wraps
from typing import ParamSpec, TypeVar

P = ParamSpec("P")
R = TypeVar("R")

YOUNG, MIDDLE, OLD = 20_000, 20, 20  # gc.set_threshold's three; CPython's default is 700, 10, 10


def paced(run: Callable[P, R]) -> Callable[P, R]:
    """`run` with the collector at the backtest's pace for the time of the call (never faster than
    it was: a caller's slower pace, or the collector off, is left as it is)."""

    @wraps(run)
    def paced_run(*args: P.args, **kwargs: P.kwargs) -> R:
        before = gc.get_threshold()
        if before[0] == 0 or not gc.isenabled():
            return run(*args, **kwargs)
        gc.set_threshold(max(before[0], YOUNG), max(before[1], MIDDLE), max(before[2], OLD))
        try:
            return run(*args, **kwargs)
        finally:
            gc.set_threshold(*before)

    return paced_run
