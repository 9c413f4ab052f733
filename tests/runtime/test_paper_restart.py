"""A dry-run killed and restarted on its run directory keeps its paper account: balances,
positions and working stops, exactly as a live bot finds its Binance account again."""

from __future__ import annotations

import contextlib
import json
import os
import pickle
import signal
import sqlite3
import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path

import pytest
from click.testing import CliRunner

from rulebot.cli import main
from rulebot.journal.writer import read_only_uri
from rulebot.runtime import paper_account
from rulebot.testing.shared import ARCHIVE

KLINES = ARCHIVE / "futures/um/daily/klines/BTCUSDT/1m"
DAY1, DAY2 = KLINES / "BTCUSDT-1m-2025-06-07.zip", KLINES / "BTCUSDT-1m-2025-06-08.zip"
ROOT = Path(__file__).resolve().parents[2]

BOOK = """\
rulebook: keeps
market: usdm
symbols: [BTCUSDT]
timeframes: [1m]
account: {leverage: 2}
rules:
  - name: buy
    on: candle_close 1m
    in: flat
    do: [{enter: {side: long, size: "0.01"}}, {stop_loss: {distance: 20%}}, {goto: long}]
  - name: sell
    on: candle_close 1m
    in: long
    when: hour == 2
    do: [exit, {goto: flat}]
"""


def _rows(journal: Path, sql: str, *args: object) -> list[tuple]:
    with contextlib.closing(sqlite3.connect(read_only_uri(journal), uri=True)) as db:
        return db.execute(sql, args).fetchall()


def _fills(journal: Path, run_id: str | None = None) -> list[tuple]:
    if not journal.exists():
        return []
    sql = "SELECT run_id, side, quantity, client_order_id FROM fills"
    return _rows(journal, sql + (" WHERE run_id = ?" if run_id else "") + " ORDER BY id", *([run_id] if run_id else []))


def _protected_position_kept(run_dir: Path) -> bool:
    """The paper account, as saved, holds a position and its stop (the moment to kill the bot)."""
    kept = paper_account.load(run_dir / paper_account.PAPER_FILE, ["BTCUSDT"])
    return kept is not None and bool(kept.positions()) and bool(kept.open_algo_orders())


def _second_run(tmp_path: Path, book: Path, run_dir: Path) -> tuple[str, str]:
    res = CliRunner().invoke(
        main,
        [
            "dry-run",
            str(book),
            "--market",
            f"replay:{DAY2}",
            "--max-events",
            "180",
            "--run-dir",
            str(run_dir),
            "--no-watch",
        ],
    )
    assert res.exit_code == 0, res.output
    journal = run_dir / "journal.sqlite"
    (run_id,) = _rows(journal, "SELECT run_id FROM runs ORDER BY id DESC LIMIT 1")[0]
    return run_id, res.stderr


def test_a_killed_dry_run_restarts_with_its_position_and_stop_and_trades_on(tmp_path):
    """Restarted, a dry-run said `long` but held nothing: the exit never filled."""
    book = tmp_path / "keeps.yaml"
    book.write_text(BOOK)
    run_dir = tmp_path / "run"
    journal = run_dir / "journal.sqlite"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "rulebot.cli",
            "dry-run",
            str(book),
            "--market",
            f"replay:{DAY1}",
            "--speed",
            "600",
            "--run-dir",
            str(run_dir),
            "--no-watch",
        ],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 30
        while not _protected_position_kept(run_dir):
            assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
            assert time.monotonic() < deadline, "no stop-protected position in the first run"
            time.sleep(0.05)
        os.kill(proc.pid, signal.SIGKILL)  # no shutdown, no last save
        proc.wait(10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
    [(_, side, qty, _)] = _fills(journal)
    assert (side, Decimal(qty)) == ("BUY", Decimal("0.01"))
    kept = paper_account.load(run_dir / paper_account.PAPER_FILE, ["BTCUSDT"])
    assert kept is not None and [p.amount for p in kept.positions()] == [Decimal("0.01")]
    stops = {a.order_type.value for a in kept.open_algo_orders()}
    assert stops == {"STOP_MARKET"}  # killed at any moment: the stop, or the stop and its replacement

    run_id, err = _second_run(tmp_path, book, run_dir)
    working = len(kept.open_algo_orders())
    assert "paper account restored" in err and f"1 position(s), {working} working order(s)" in err
    notes = [
        json.loads(b)
        for (b,) in _rows(journal, "SELECT body FROM entries WHERE run_id = ? AND kind = 'notice'", run_id)
    ]
    assert any(n["kind"] == "order-adopted" and "stop_loss" in n["message"] for n in notes), notes
    assert not any(n["kind"] == "foreign-order" for n in notes), notes
    # The kept position is sold at 02:00 by the rule, reduce-only, and nothing else was bought first.
    first, *_ = _fills(journal, run_id)
    assert (first[1], Decimal(first[2])) == ("SELL", Decimal("0.01"))


# A path is a name, not a URI: `#`, `?` and `%41` in it once cut or changed the journal SQLite opened
# read-only (the restart found "no such table" in an empty file it had just created beside it).
@pytest.mark.parametrize("run_name", ["run", "C#bots/run?x %41"])
def test_a_gracefully_stopped_dry_run_keeps_its_wallet_and_position(tmp_path, run_name):
    book = tmp_path / "keeps.yaml"
    book.write_text(BOOK)
    run_dir = tmp_path / run_name
    res = CliRunner().invoke(
        main,
        [
            "dry-run",
            str(book),
            "--market",
            f"replay:{DAY1}",
            "--max-events",
            "30",
            "--run-dir",
            str(run_dir),
            "--no-watch",
        ],
    )
    assert res.exit_code == 0, res.output
    before = paper_account.load(run_dir / paper_account.PAPER_FILE, ["BTCUSDT"])
    assert before is not None
    wallet = before.balances()[0].wallet_balance
    assert wallet != 10_000  # the entry's fee was paid
    run_id, err = _second_run(tmp_path, book, run_dir)
    assert f"paper account restored from {run_dir / paper_account.PAPER_FILE}: {wallet} USDT" in " ".join(err.split())
    first, *_ = _fills(run_dir / "journal.sqlite", run_id)
    assert (first[1], Decimal(first[2])) == ("SELL", Decimal("0.01"))
    audit = CliRunner().invoke(main, ["audit", "-j", str(run_dir / "journal.sqlite"), "verify"])
    assert audit.exit_code == 0, audit.output
    assert {p.name for p in tmp_path.iterdir()} == {"keeps.yaml", run_name.split("/")[0]}  # no stray file


def test_a_paper_account_file_others_could_have_written_is_not_loaded(tmp_path):
    path = tmp_path / paper_account.PAPER_FILE
    path.write_bytes(b"whatever")
    path.chmod(0o666)
    with pytest.raises(paper_account.PaperAccountError, match="only you can write"):
        paper_account.load(path, ["BTCUSDT"])


def test_a_paper_account_file_that_would_run_code_is_refused(tmp_path):
    class Evil:
        def __reduce__(self):
            return (os.system, ("touch " + str(tmp_path / "pwned"),))

    path = tmp_path / paper_account.PAPER_FILE
    path.write_bytes(pickle.dumps(Evil()))
    path.chmod(0o600)
    with pytest.raises(paper_account.PaperAccountError, match="cannot be read"):
        paper_account.load(path, ["BTCUSDT"])
    assert not (tmp_path / "pwned").exists()


def test_a_damaged_paper_account_stops_the_dry_run_with_a_message_not_a_traceback(tmp_path):
    book = tmp_path / "keeps.yaml"
    book.write_text(BOOK)
    run_dir = tmp_path / "run"
    run_dir.mkdir(mode=0o700)
    (run_dir / paper_account.PAPER_FILE).write_bytes(b"\x80\x05truncated")
    (run_dir / paper_account.PAPER_FILE).chmod(0o600)
    res = CliRunner().invoke(
        main,
        [
            "dry-run",
            str(book),
            "--market",
            f"replay:{DAY1}",
            "--max-events",
            "5",
            "--run-dir",
            str(run_dir),
            "--no-watch",
        ],
    )
    assert res.exit_code == 1 and "cannot be read" in res.stderr and "Traceback" not in res.output
