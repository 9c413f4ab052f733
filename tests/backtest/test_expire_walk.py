"""An order's `expire` holds inside a walked candle: the engine cancels the rest at its time, before
the simulator fills it at a later price of the candle (session.py `expire_before`)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from rulebot.backtest.api import backtest
from rulebot.backtest.result import BacktestResult
from rulebot.backtest.runner import BacktestConfig
from rulebot.core.commands import PlaceOrder
from rulebot.testing.shared import ARCHIVE, require
from tests.backtest.test_fast_path import both

HOURLY = ARCHIVE / "futures/um/daily/klines/ADAUSDT/1h/ADAUSDT-1h-2022-12-13.zip"

BOOK = """\
rulebook: expiring-bids
market: usdm
symbols: [ADAUSDT]
timeframes: [1h]
rules:
  - name: bid
    on: candle_close 1h
    in: flat
    do:
      - enter: {side: long, size: 100, order: limit, price: "close@1h * 0.995", expire: 10m}
      - stop_loss: {distance: 5%}
      - goto: long
  - {name: closed, on: position_closed, in: long, do: [{cancel: all}, {goto: flat}]}
  - {name: unfilled, on: candle_close 1h, in: long, when: position.size == 0, do: [{cancel: all}, {goto: flat}]}
  - {name: out, on: candle_close 1h, in: long, when: position.size > 0, do: [exit, {cancel: all}, {goto: flat}]}
"""


def test_a_limit_entry_does_not_fill_after_its_expire_inside_an_hourly_candle(tmp_path: Path) -> None:
    """Each bid rests at a candle's close for 10 minutes; the walk visits the next candle at :00, :20,
    :40 and :59.999. Three bids filled at :39:59, 30 minutes after they expired (07:39, 15:39, 17:39
    on 2022-12-13), on both paths alike."""
    book = tmp_path / "book.yaml"
    book.write_text(BOOK)
    placed: dict[str, int] = {}

    def run(path: str, record: Callable[[object], None]) -> BacktestResult:
        def seen(r: object) -> None:
            if isinstance(r, PlaceOrder) and r.expire_at is not None:
                placed[r.client_order_id] = r.expire_at
            record(r)

        result, _, _ = backtest(str(book), [str(require(HOURLY))], config=BacktestConfig(path=path), on_record=seen)
        return result

    event, _fast = both(run)
    assert len(placed) > 10  # a bid after nearly every candle: the test means something
    late = [(f.client_order_id, f.time - placed[f.client_order_id]) for f in event.fills if f.purpose == "entry"]
    assert [cid for cid, after in late if after > 0] == []
