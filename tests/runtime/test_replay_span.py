"""A dry-run on archive files covers the time the price files cover, as `rulebot backtest` does
(backtest/api.py `clip_to_prices`): fundingRate files come by the month only, and a month's file
beside a day of klines must not stretch the run to the whole month."""

from __future__ import annotations

import contextlib
import sqlite3
from pathlib import Path

from click.testing import CliRunner

from rulebot.cli import main
from rulebot.journal.writer import read_only_uri
from rulebot.testing.shared import ARCHIVE

DAY = ARCHIVE / "futures/um/daily/klines/BTCUSDT/1m/BTCUSDT-1m-2025-06-08.zip"
FUNDING = ARCHIVE / "futures/um/monthly/fundingRate/BTCUSDT/BTCUSDT-fundingRate-2025-06.zip"
DAY_START, DAY_END = 1_749_340_800_000, 1_749_427_200_000  # 2025-06-08 00:00 and 06-09 00:00 UTC

BOOK = """\
rulebook: holds
market: usdm
symbols: [BTCUSDT]
timeframes: [1m]
account: {leverage: 2}
rules:
  - name: buy
    on: candle_close 1m
    in: flat
    do: [{enter: {side: long, size: "0.01"}}, {stop_loss: {distance: 20%}}, {goto: long}]
  - name: tick
    on: every 1h
    do: [{log: "tick"}]
"""


def _rows(journal: Path, sql: str) -> list[tuple]:
    with contextlib.closing(sqlite3.connect(read_only_uri(journal), uri=True)) as db:
        return db.execute(sql).fetchall()


def test_a_replay_dry_run_stops_where_the_prices_stop_not_at_the_funding_months_end(tmp_path: Path) -> None:
    """It ran 06-01 to 06-30: the position bought on 06-08 paid 68 fundings at the frozen last price
    of 06-08 (the backtest of the same files pays 2) and `every 1h` fired 712 times, not 23."""
    book = tmp_path / "holds.yaml"
    book.write_text(BOOK)
    run_dir = tmp_path / "run"
    market = f"replay:{DAY},{FUNDING}"
    res = CliRunner().invoke(main, ["dry-run", str(book), "--market", market, "--run-dir", str(run_dir), "--no-watch"])
    assert res.exit_code == 0, res.output
    journal = run_dir / "journal.sqlite"
    funding = [t for (t,) in _rows(journal, "SELECT time FROM funding ORDER BY id")]
    assert [t // 3_600_000 * 3_600_000 for t in funding] == [DAY_START + 8 * 3_600_000, DAY_START + 16 * 3_600_000]
    ticks = [t for (t,) in _rows(journal, "SELECT time FROM decisions WHERE rule = 'tick' ORDER BY id")]
    assert len(ticks) == 23 and ticks[0] > DAY_START and ticks[-1] < DAY_END
    (first,) = _rows(journal, "SELECT MIN(time) FROM entries")[0]
    assert first >= DAY_START  # not from 06-01, six days before the first price
