"""The columnar parser's arrays of a run of its candles are exactly the candles' fields (floats as
`float(Decimal)`), and a run with any candle it did not make gets none."""

from __future__ import annotations

import dataclasses

import numpy as np

from rulebot.core.events import CandleClosed
from rulebot.feeds import bar_arrays
from rulebot.feeds.replay import read_events
from rulebot.testing.shared import ARCHIVE, require

DAY = ARCHIVE / "futures/um/daily/klines/BTCUSDT/1m/BTCUSDT-1m-2025-06-14.zip"


def _candles() -> list[CandleClosed]:
    out = [e for e in read_events(require(DAY)) if isinstance(e, CandleClosed)]
    assert len(out) == 1440
    return out


def test_a_run_of_the_parsers_candles_gets_its_fields_bit_for_bit() -> None:
    candles = _candles()
    for lo, hi in ((0, 1440), (5, 6), (700, 1439)):
        run = candles[lo:hi]
        cols = bar_arrays.columns(run)
        assert cols is not None
        for name in ("open", "high", "low", "close", "volume"):
            expected = np.array([float(getattr(c, name)) for c in run])
            assert cols[name].tobytes() == expected.tobytes(), name
        assert cols["open_time"].tolist() == [c.open_time for c in run]
        assert cols["close_time"].tolist() == [c.close_time for c in run]


def test_a_run_with_a_candle_the_parser_did_not_make_gets_none() -> None:
    candles = _candles()
    twin = dataclasses.replace(candles[10])  # equal, but not the parser's object
    assert bar_arrays.columns([*candles[:10], twin, *candles[11:20]]) is None
    assert bar_arrays.columns([twin]) is None
    assert bar_arrays.columns(candles[:5] + candles[6:9]) is None  # not consecutive
