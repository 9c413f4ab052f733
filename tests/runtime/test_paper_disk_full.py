"""A full disk in a dry-run: the journal and the kept paper account must not part ways (issue 27).

The journal is written first and the paper account saved after it. Two ways a full disk can
strike, both followed by a restart on the same run directory:

- the journal step that holds a fill cannot be written (after the entry's NEW was): the
  simulator goes back to the account last saved (`PaperRunVenue.forget`), so the restart finds
  the entry still working and no fill is missing from `audit fills` or `pnl`;
- the journal step is written and the account's save after it fails: the file then holds an
  account older than the journal (a position the journal says was bought is not in it, or one
  it says was sold still is). Adopting it would trade on an account that contradicts the
  journal; the restart refuses it, saying why and what to do.
"""

from __future__ import annotations

import contextlib
import errno
import os
import sqlite3
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from rulebot.cli import main
from rulebot.journal.encode import Row
from rulebot.journal.writer import Journal, JournalWriteError
from rulebot.runtime import paper_account
from rulebot.testing.shared import ARCHIVE

KLINES = ARCHIVE / "futures/um/daily/klines/BTCUSDT/1m"
DAY1, DAY2 = KLINES / "BTCUSDT-1m-2025-06-07.zip", KLINES / "BTCUSDT-1m-2025-06-08.zip"
DATA_FROM, DATA_TO = 1_749_254_400_000, 1_749_427_200_000  # 2025-06-07 00:00 to 06-09 00:00 UTC
ROOT = Path(__file__).resolve().parents[2]

# A limit entry below the price: journaled as NEW when placed, filled by a later candle's low.
RESTING = """\
rulebook: resting
market: usdm
symbols: [BTCUSDT]
timeframes: [1m]
account: {leverage: 2}
rules:
  - name: bid
    on: candle_close 1m
    in: flat
    do: [{enter: {side: long, size: "0.01", order: limit, price: "close@1m - 20"}}, {stop_loss: {distance: 20%}},
         {goto: long}]
"""

# A market entry: its command, NEW and fill are one journal step.
AT_ONCE = """\
rulebook: at-once
market: usdm
symbols: [BTCUSDT]
timeframes: [1m]
account: {leverage: 2}
rules:
  - name: buy
    on: candle_close 1m
    in: flat
    do: [{enter: {side: long, size: "0.01"}}, {stop_loss: {distance: 20%}}, {goto: long}]
"""


def _dry_run(book: Path, run_dir: Path, day: Path, events: int) -> Any:
    args = ["dry-run", str(book), "--market", f"replay:{day}", "--max-events", str(events)]
    return CliRunner().invoke(main, [*args, "--run-dir", str(run_dir), "--no-watch"])


def _rows(journal: Path, sql: str) -> list[tuple[Any, ...]]:
    with contextlib.closing(sqlite3.connect(f"file:{journal}?mode=ro", uri=True)) as db:
        return db.execute(sql).fetchall()


def _filled(journal: Path) -> Decimal:
    """The position the journal's fills build."""
    rows = _rows(journal, "SELECT side, quantity FROM fills ORDER BY id")
    return sum((Decimal(q) if side == "BUY" else -Decimal(q) for side, q in rows), Decimal(0))


def _kept(run_dir: Path) -> Decimal:
    sim = paper_account.load(run_dir / paper_account.PAPER_FILE, ["BTCUSDT"])
    assert sim is not None
    return sum((p.amount for p in sim.positions()), Decimal(0))


def test_a_fill_whose_journal_step_fails_is_not_kept_and_the_restart_journals_it(tmp_path, monkeypatch):
    book = tmp_path / "resting.yaml"
    book.write_text(RESTING)
    run_dir = tmp_path / "run"
    journal = run_dir / "journal.sqlite"
    write_step = Journal.write_step
    seen_new = []

    async def full_after_the_new(self: Journal, rows: list[Row], durable: bool = False) -> None:
        filled = [r for r in rows if r.kind == "order" and Decimal(str(r.body.get("last_filled_qty", 0))) > 0]
        if seen_new and filled:
            self.broken = f"the journal {self.path} cannot be written (database or disk is full): is the disk full?"
            raise JournalWriteError(self.broken)
        await write_step(self, rows, durable)
        seen_new.extend(r for r in rows if r.kind == "order" and r.body.get("execution_type") == "NEW")

    with monkeypatch.context() as m:
        m.setattr(Journal, "write_step", full_after_the_new)
        first = _dry_run(book, run_dir, DAY1, 600)
    assert first.exit_code == 5 and "is the disk full?" in first.stderr, first.output
    assert seen_new and _filled(journal) == 0  # the entry was journaled as NEW, its fill was not
    assert _kept(run_dir) == 0  # ... and the kept account does not hold it either

    # The same day again: the entry's price comes again (the next day never comes down to it).
    second = _dry_run(book, run_dir, DAY1, 600)
    assert second.exit_code == 0, second.output
    assert "paper account restored" in second.stderr
    # The entry still working was adopted and filled in the restarted run: journaled there.
    assert _filled(journal) == _kept(run_dir) == Decimal("0.01")
    [(fee,)] = _rows(journal, "SELECT fee FROM fills")
    assert Decimal(fee) > 0
    # The restarted run's rows are in the data's time (the kept account's, then the replay's): none
    # at 0 (the adoption of a flat account with a working order was) nor at the wall clock's time.
    [(run,)] = _rows(journal, "SELECT run_id FROM runs ORDER BY id DESC LIMIT 1")
    wall = {"run_start", "run_stop", "rulebook"}  # a run's start and stop are wall-clock times
    rows = [
        (k, t) for k, t in _rows(journal, f"SELECT kind, time FROM entries WHERE run_id = '{run}'") if k not in wall
    ]
    assert {k for k, _ in rows} >= {"notice", "order"}
    assert all(DATA_FROM <= t < DATA_TO for _, t in rows), [r for r in rows if not DATA_FROM <= r[1] < DATA_TO]


def test_an_account_whose_save_failed_after_its_journal_step_is_not_adopted(tmp_path, monkeypatch):
    book = tmp_path / "at-once.yaml"
    book.write_text(AT_ONCE)
    run_dir = tmp_path / "run"
    journal = run_dir / "journal.sqlite"
    save = paper_account.save

    def disk_full_once_held(sim: Any, path: Path) -> None:
        if sim.positions():  # the account after the entry's fill cannot be saved
            raise OSError(errno.ENOSPC, "No space left on device", str(path))
        save(sim, path)

    with monkeypatch.context() as m:
        m.setattr(paper_account, "save", disk_full_once_held)
        first = _dry_run(book, run_dir, DAY1, 30)
    assert first.exit_code != 0 and "Traceback" not in first.output
    assert _filled(journal) == Decimal("0.01") and _kept(run_dir) == 0  # the file lags the journal

    second = _dry_run(book, run_dir, DAY2, 30)
    assert second.exit_code == 1, second.output
    text = " ".join(second.stderr.split())
    assert "does not match its journal" in text and "BTCUSDT" in text and "0.01" in text, text
    assert "Traceback" not in second.output
    assert _filled(journal) == Decimal("0.01")  # nothing was traded on the stale account


@pytest.mark.parametrize("book_text", [AT_ONCE])
def test_an_account_saved_after_every_journal_step_restarts(tmp_path, book_text):
    """The check does not refuse a sound account: stopped and restarted, it trades on."""
    book = tmp_path / "book.yaml"
    book.write_text(book_text)
    run_dir = tmp_path / "run"
    assert _dry_run(book, run_dir, DAY1, 30).exit_code == 0
    second = _dry_run(book, run_dir, DAY2, 30)
    assert second.exit_code == 0 and "paper account restored" in second.stderr, second.output
    assert _filled(run_dir / "journal.sqlite") == _kept(run_dir) == Decimal("0.01")


def test_a_dry_run_on_the_simulated_market_pays_each_funding_once(tmp_path):
    """The simulated market's marks announce the coming funding (as Binance's stream does) and it
    also settles with a FundingRate event: the paper account paid both, twice the funding, at
    00:00 UTC of 2024-06-02 for this rulebook's long."""
    run_dir = tmp_path / "run"
    res = CliRunner().invoke(
        main,
        ["dry-run", str(ROOT / "rules/ema-trend-btc.yaml"), "--hours", "30", "--run-dir", str(run_dir), "--no-watch"],
    )
    assert res.exit_code == 0, res.output
    times = [t for (t,) in _rows(run_dir / "journal.sqlite", "SELECT time FROM funding ORDER BY id")]
    assert times and len(times) == len(set(times)), times
    # The kept account paid what the journal says it paid.
    assert _filled(run_dir / "journal.sqlite") == _kept(run_dir)


def test_a_save_on_a_full_disk_keeps_the_last_account_whole_and_says_why(tmp_path, monkeypatch):
    """A write on a nearly full disk writes what fits and returns its length (no error): the save
    took that for the whole account and renamed a cut file over the last good one."""
    from rulebot.core.enums import Market
    from rulebot.core.fees import DEFAULT_FEE_RATES
    from rulebot.feeds.catalog import builtin_brackets, builtin_instruments
    from rulebot.rulebook.compiler import compile_text
    from rulebot.session import paper_venue

    book = compile_text(AT_ONCE)
    inst = builtin_instruments(Market.USDM)
    brackets = builtin_brackets(Market.USDM)
    sim = paper_venue(book, inst, brackets, {"USDT": Decimal(10_000)}, fee_rates=DEFAULT_FEE_RATES).sim
    path = tmp_path / paper_account.PAPER_FILE
    paper_account.save(sim, path)
    good = path.read_bytes()
    room = [len(good) // 2]
    write = os.write

    def nearly_full(fd: int, data: Any) -> int:
        if room[0] <= 0:
            raise OSError(errno.ENOSPC, "No space left on device")
        n = write(fd, bytes(data[: room[0]]))
        room[0] -= n
        return n

    monkeypatch.setattr(paper_account.os, "write", nearly_full)
    with pytest.raises(OSError, match=r"cannot be saved .*is the disk full\?") as raised:
        paper_account.save(sim, path)
    assert raised.value.errno == errno.ENOSPC
    assert path.read_bytes() == good and not path.with_name(path.name + ".tmp").exists()
