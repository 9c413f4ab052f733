"""The cells of a chunk's string columns (pyarrow, `columnar.py`) read as numbers, with the checks
that let the columnar parser vouch for a chunk: plain digits, times in order, bars' numbers.

Anything not plainly valid raises `Unsure`, and the row parser reads the file instead (it names the
line and the fault). Shared by the event builders (`columnar.py`), the kline chunks
(`kline_chunks.py`) and the trade runs (`trade_runs.py`).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from rulebot.core.events import MarketEvent
from rulebot.feeds.archive_format import LAST_MS, MICROS

_TO_INT64 = pc.CastOptions(pa.int64())
_TO_FLOAT64 = pc.CastOptions(pa.float64())
_TO_INT8 = pc.CastOptions(pa.int8())
Columns = list[Any]  # pyarrow string arrays, one per column of the kind
# The chunk's events, made as they are read (a chunk of live events makes the garbage collector
# walk them again and again: a third of the time), how many, and True once a row at or after
# `end` is seen. Everything that can fail is done before: the constructors cannot.
Batch = tuple[Iterator[MarketEvent], int, bool]


class Unsure(Exception):
    """The chunk is not plainly valid: the row parser reads the file and says what is wrong."""


@dataclass(slots=True)
class Cursor:
    prev: int  # the time of the last row read (the floor of the next)
    prev_id: int = -1  # the id of the last row read, for kinds whose ids must rise


def _ints(col: Any) -> Any:
    # Only cells of ASCII digits, which int() and pyarrow's cast read alike (pyarrow also takes
    # "0x1f", int() also takes " 5", "+5" and "1_000": neither is vouched for here); past int64
    # the cast fails.
    if len(col) and not pc.all(pc.ascii_is_decimal(col)).as_py():
        raise Unsure("not plain digits")
    return _numpy(pc.call_function("cast", [col], _TO_INT64))


def _numpy(ints: Any) -> Any:
    """An Arrow integer array (no nulls) as numpy's, without a copy. Not `to_numpy()` nor `pc.cast`:
    they import pandas to look for its types, 120 MB more at the peak for nothing."""
    dtype = np.dtype(str(ints.type))  # int64, int32, int8 or double
    return np.frombuffer(ints.buffers()[1], dtype=dtype, count=len(ints), offset=ints.offset * dtype.itemsize)


def _times(col: Any) -> Any:
    t = _ints(col)
    return np.where(t > MICROS, t // 1000, t)


def _window(t: Any, cursor: Cursor, strict: bool, start: int, end: int, ids: Any = None) -> tuple[int, int, bool]:
    """Check the chunk's rows up to the first at or after `end` (the row parser stops there) and
    return the rows [lo, hi) that become events, and whether the file ends here."""
    n = len(t)
    late = np.flatnonzero(t >= end)
    hi = int(late[0]) if len(late) else n
    seen = t[: hi + 1]
    steps = np.diff(seen, prepend=cursor.prev)
    if (steps <= 0).any() if strict else (steps < 0).any():
        raise Unsure("time order")
    if seen[-1] > LAST_MS:
        raise Unsure("after 2100")
    if ids is not None:
        seen_ids = ids[: hi + 1]
        if (np.diff(seen_ids, prepend=cursor.prev_id) <= 0).any():
            raise Unsure("ids not rising")
        cursor.prev_id = int(seen_ids[-1])
    cursor.prev = int(seen[-1])
    lo = int(np.searchsorted(seen[:hi], start, side="left"))
    return lo, hi, hi < n


def _bar_decimals(col: Any) -> list[Decimal]:
    """A column of bars as Decimals: a bar's prices seldom repeat, so no dictionary."""
    return list(map(Decimal, col.to_pylist()))


def _floats(col: Any) -> Any:
    """A column of number texts as float64, correctly rounded (so each is float(Decimal(text)));
    pyarrow refuses what is not a number."""
    return _numpy(pc.call_function("cast", [col], _TO_FLOAT64))


def _same(a: Any, b: Any) -> Any:
    """Whether the cells of two string columns are the same text, as a numpy bool array."""
    return _numpy(pc.call_function("cast", [pc.equal(a, b)], _TO_INT8)).astype(bool)
