"""`rulebot run --live` from the command line against the fake exchange: what it states before
the first order, the key file it refuses, and `rulebot status`/`kill` reaching it."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

from click.testing import CliRunner

from rulebot.cli import main
from rulebot.core.enums import Market
from rulebot.core.events import Trade
from rulebot.testing.fake_binance import FakeBinance

ROOT = Path(__file__).resolve().parents[2]

BOOK = """\
rulebook: cli-live
market: usdm
symbols: [BTCUSDT]
account: {leverage: 2}
rules:
  - name: buy
    on: trade
    in: flat
    do: [{enter: {side: long, size: "0.01"}}, {stop_loss: {distance: 5%}}, {goto: long}]
  - name: never
    on: trade
    in: long
    when: price > 100000000
    do: [exit]
"""


def key_file(tmp_path: Path, fake: FakeBinance, mode: int) -> Path:
    path = tmp_path / "keys"
    path.write_text(f"BINANCE_API_KEY={fake.api_key}\nBINANCE_API_SECRET={fake.api_secret}\n")
    path.chmod(mode)
    return path


def run_args(book: Path, fake: FakeBinance, keys: Path, run_dir: Path) -> list[str]:
    return [
        "run",
        str(book),
        "--live",
        "--base-url",
        fake.rest_url,
        "--ws-url",
        fake.ws_url,
        "--key-file",
        str(keys),
        "--run-dir",
        str(run_dir),
        "--no-watch",
    ]


async def test_run_states_the_account_and_guards_then_trades_until_killed(tmp_path):
    book = tmp_path / "book.yaml"
    book.write_text(BOOK)
    run_dir = tmp_path / "run"
    async with FakeBinance(Market.USDM, balances={"USDT": Decimal(2500)}) as fake:
        keys = key_file(tmp_path, fake, 0o600)
        env = {k: v for k, v in os.environ.items() if not k.startswith("BINANCE_")}
        proc = subprocess.Popen(
            [sys.executable, "-m", "rulebot.cli", *run_args(book, fake, keys, run_dir)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env={**env, "PYTHONPATH": str(ROOT)},
        )
        try:
            i = 0
            while not fake.placed_ids:
                i += 1
                assert i < 500 and proc.poll() is None, proc.communicate()[1].decode()
                await fake.feed(Trade("BTCUSDT", Decimal(60000), Decimal("0.01"), 0, True, i))
                await asyncio.sleep(0.02)
            cli = CliRunner()
            st = await asyncio.to_thread(cli.invoke, main, ["status", "--run-dir", str(run_dir)])
            assert st.exit_code == 0 and "cli-live" in st.output and "live" in st.output
            killed = await asyncio.to_thread(cli.invoke, main, ["kill", "--run-dir", str(run_dir), "--keep"])
            assert killed.exit_code == 0 and "policy keep" in killed.output
            out, err = await asyncio.to_thread(proc.communicate, timeout=20)
        finally:
            proc.kill()
    assert proc.returncode == 0, err.decode()
    text = out.decode()
    first = text.index("LIVE on")  # stated first: where, which account, which margin mode, which guards
    assert first < text.index("account: USDT 2500") < text.index("guards: max_leverage=") < text.index("running")
    assert "isolated margin" in text and "one-way mode" in text and "leverage 2x" in text
    assert fake.api_secret not in text + err.decode()


async def test_a_key_file_others_can_read_stops_run_before_anything_starts(tmp_path):
    book = tmp_path / "book.yaml"
    book.write_text(BOOK)
    async with FakeBinance(Market.USDM) as fake:
        keys = key_file(tmp_path, fake, 0o640)
        res = await asyncio.to_thread(CliRunner().invoke, main, run_args(book, fake, keys, tmp_path / "run"))
        assert not fake.requests  # not even exchange info was asked for
    assert res.exit_code == 1 and "chmod 600" in res.output and fake.api_secret not in res.output
    assert not (tmp_path / "run" / "journal.sqlite").exists()


async def test_a_secret_binance_refuses_stops_the_start_with_what_to_check(tmp_path):
    book = tmp_path / "book.yaml"
    book.write_text(BOOK)
    async with FakeBinance(Market.USDM) as fake:
        keys = tmp_path / "keys"
        keys.write_text(f"BINANCE_API_KEY={fake.api_key}\nBINANCE_API_SECRET=not-the-secret\n")
        keys.chmod(0o600)
        args = [sys.executable, "-m", "rulebot.cli", *run_args(book, fake, keys, tmp_path / "run")]
        proc = await asyncio.create_subprocess_exec(
            *args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env={**os.environ, "PYTHONPATH": str(ROOT)}
        )
        _, err = await asyncio.wait_for(proc.communicate(), 30)
    text = err.decode()
    assert proc.returncode == 1 and "Traceback" not in text and "Unclosed" not in text
    assert "-1022" in text and "check the API key, secret" in text and "nothing was traded" in text
    assert "not-the-secret" not in text


def test_a_journal_that_cannot_be_read_stops_the_start_and_is_left_as_it_is(tmp_path):
    book = tmp_path / "book.yaml"
    book.write_text(BOOK)
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / "journal.sqlite").write_bytes(b"not a journal" * 100)
    res = CliRunner().invoke(main, ["dry-run", str(book), "--run-dir", str(run_dir), "--no-watch", "--hours", "1"])
    assert res.exit_code == 1 and "cannot be read" in res.output and "audit" in res.output
    assert (run_dir / "journal.sqlite").read_bytes() == b"not a journal" * 100  # evidence kept


def test_a_kill_file_left_in_the_run_directory_keeps_the_bot_from_starting(tmp_path):
    book = tmp_path / "book.yaml"
    book.write_text(BOOK)
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "KILL").write_text("flatten")
    res = CliRunner().invoke(main, ["dry-run", str(book), "--run-dir", str(tmp_path / "run"), "--hours", "1"])
    assert res.exit_code == 1 and "kill switch is on" in res.output and "nothing was traded" in res.output
    assert not (tmp_path / "run" / "journal.sqlite").exists()


def test_a_journal_edited_in_the_middle_is_refused_before_its_state_is_restored(tmp_path):
    import sqlite3

    book = tmp_path / "book.yaml"
    book.write_text(BOOK)
    args = ["dry-run", str(book), "--run-dir", str(tmp_path / "run"), "--no-watch", "--hours", "1"]
    assert CliRunner().invoke(main, [*args, "--max-events", "50"]).exit_code == 0
    journal = tmp_path / "run" / "journal.sqlite"
    db = sqlite3.connect(journal)
    db.execute("UPDATE entries SET body = replace(body, 'long', 'flat') WHERE kind = 'state'")
    db.commit()
    db.close()
    res = CliRunner().invoke(main, args)
    assert res.exit_code == 1 and "damaged at row" in res.output and "edited" in res.output
    assert "audit" in res.output and "--run-dir" in res.output and "nothing was traded" in res.output
    assert "running" not in res.output  # a refused journal is not a running bot


def test_the_run_directory_and_the_journal_are_private(tmp_path):
    book = tmp_path / "book.yaml"
    book.write_text(BOOK)
    run_dir = tmp_path / "run"
    run_dir.mkdir(mode=0o755)
    os.chmod(run_dir, 0o755)
    res = CliRunner().invoke(
        main, ["dry-run", str(book), "--run-dir", str(run_dir), "--no-watch", "--hours", "1", "--max-events", "20"]
    )
    assert res.exit_code == 0, res.output
    assert run_dir.stat().st_mode & 0o777 == 0o700
    assert {p.name: p.stat().st_mode & 0o777 for p in run_dir.glob("journal.sqlite*")} == {
        "journal.sqlite": 0o600,
        "journal.sqlite-anchor": 0o600,
    }


async def test_a_live_start_refused_by_its_run_directory_leaves_no_session_open(tmp_path):
    book = tmp_path / "book.yaml"
    book.write_text(BOOK)
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "KILL").write_text("keep")
    async with FakeBinance(Market.USDM) as fake:
        keys = key_file(tmp_path, fake, 0o600)
        args = [sys.executable, "-m", "rulebot.cli", *run_args(book, fake, keys, tmp_path / "run")]
        proc = await asyncio.create_subprocess_exec(
            *args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env={**os.environ, "PYTHONPATH": str(ROOT)}
        )
        _, err = await asyncio.wait_for(proc.communicate(), 30)
    text = err.decode()
    assert proc.returncode == 1 and "kill switch is on" in text
    assert "Unclosed" not in text  # the REST session opened for the account was closed


async def test_a_rulebook_other_users_can_write_is_refused_before_a_live_start(tmp_path):
    book = tmp_path / "book.yaml"
    book.write_text(BOOK)
    book.chmod(0o646)
    async with FakeBinance(Market.USDM) as fake:
        keys = key_file(tmp_path, fake, 0o600)
        res = await asyncio.to_thread(CliRunner().invoke, main, run_args(book, fake, keys, tmp_path / "run"))
        assert not fake.requests
    assert res.exit_code == 1 and "writable by other users" in res.output and "nothing was traded" in res.output


def test_status_finds_a_dry_run_by_its_rulebook_and_asks_which_when_both_run(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    book = tmp_path / "book.yaml"
    book.write_text(BOOK)
    paper = tmp_path / ".rulebot" / "book.dry-run"
    paper.mkdir(parents=True)
    (paper / "control.sock").touch()  # not listening: the answer says no bot answers there
    res = CliRunner().invoke(main, ["status", str(book)])
    assert res.exit_code == 1 and "book.dry-run" in res.output
    live = tmp_path / ".rulebot" / "book"
    live.mkdir()
    (live / "control.sock").touch()
    res = CliRunner().invoke(main, ["status", str(book)])
    assert res.exit_code == 2 and "--run-dir" in res.output and "dry-run" in res.output


async def test_a_password_in_the_rest_url_is_never_printed_nor_journaled(tmp_path):
    # `--rest-url http://user:pass@proxy` (a proxy that wants a login): the password was printed
    # in "LIVE on http://user:pass@…" and journaled in the run's venue, which the web page shows.
    book = tmp_path / "book.yaml"
    book.write_text(BOOK)
    run_dir = tmp_path / "run"
    async with FakeBinance(Market.USDM, balances={"USDT": Decimal(2500)}) as fake:
        keys = key_file(tmp_path, fake, 0o600)
        args = run_args(book, fake, keys, run_dir)
        args[args.index("--base-url") + 1] = fake.rest_url.replace("http://", "http://proxyuser:PROXYPASS@")
        env = {k: v for k, v in os.environ.items() if not k.startswith("BINANCE_")}
        proc = subprocess.Popen(
            [sys.executable, "-m", "rulebot.cli", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env={**env, "PYTHONPATH": str(ROOT)},
        )
        try:
            i = 0
            while not fake.placed_ids:
                i += 1
                assert i < 500 and proc.poll() is None, proc.communicate()[1].decode()
                await fake.feed(Trade("BTCUSDT", Decimal(60000), Decimal("0.01"), 0, True, i))
                await asyncio.sleep(0.02)
            killed = await asyncio.to_thread(CliRunner().invoke, main, ["kill", "--run-dir", str(run_dir), "--keep"])
            assert killed.exit_code == 0
            out, err = await asyncio.to_thread(proc.communicate, timeout=20)
        finally:
            proc.kill()
    text = out.decode() + err.decode()
    assert "LIVE on http://***@127.0.0.1" in text and "PROXYPASS" not in text, text
    exported = CliRunner().invoke(main, ["audit", "-j", str(run_dir / "journal.sqlite"), "export"])
    assert exported.exit_code == 0 and "binance:http://***@127.0.0.1" in exported.output
    assert "PROXYPASS" not in exported.output


def test_a_dry_run_on_a_symbol_no_list_knows_is_said_at_its_line_with_what_to_do(tmp_path):
    # It said "the built-in catalog has no spec for FOOUSDT", with no place in the rulebook.
    book = tmp_path / "foo.yaml"
    book.write_text(BOOK.replace("BTCUSDT", "FOOUSDT"))
    result = CliRunner().invoke(main, ["dry-run", str(book), "--run-dir", str(tmp_path / "run")])
    assert result.exit_code == 1
    assert f"{book}:3:11: error: unknown usdm symbol 'FOOUSDT'" in result.output
    assert "dry-run it with --market binance" in result.output and "--exchange-info" not in result.output
    assert not (tmp_path / "run").exists()  # nothing started


COINM_BOOK = """\
rulebook: cli-coinm
market: coinm
symbols: [BTCUSD_PERP]
account: {leverage: 2}
rules:
  - name: buy
    on: trade
    in: flat
    do: [{enter: {side: long, size: 2%}}, {stop_loss: {distance: 5%}}, {goto: long}]
  - name: never
    on: trade
    in: long
    when: price > 100000000
    do: [exit]
"""


def _start_equity(journal: Path) -> dict[str, Decimal]:
    import json
    import sqlite3

    db = sqlite3.connect(journal)
    (body,) = db.execute("SELECT body FROM entries WHERE kind = 'daily' ORDER BY id LIMIT 1").fetchone()
    return {asset: Decimal(v) for asset, v in json.loads(body)["start_equity"].items()}


def test_a_coinm_dry_run_starts_with_one_coin_as_a_backtest_does(tmp_path):
    # A COIN-M dry-run started with 10,000 BTC of paper (USD-M's 10,000 USDT, in the coin): `size:
    # 2%` then sized 200 BTC of margin, and the daily cap of 5% allowed 500 BTC of loss, while the
    # backtest of the same rulebook starts with 1 BTC and says so.
    book = tmp_path / "book.yaml"
    book.write_text(COINM_BOOK)
    args = ["dry-run", str(book), "--run-dir", str(tmp_path / "run"), "--no-watch", "--hours", "1"]
    res = CliRunner().invoke(main, [*args, "--max-events", "200"])
    assert res.exit_code == 0, res.output
    assert _start_equity(tmp_path / "run" / "journal.sqlite") == {"BTC": Decimal(1)}


def test_a_dry_run_balance_given_is_the_wallet_in_the_margin_asset(tmp_path):
    book = tmp_path / "book.yaml"
    book.write_text(COINM_BOOK)
    args = ["dry-run", str(book), "--run-dir", str(tmp_path / "run"), "--no-watch", "--hours", "1"]
    res = CliRunner().invoke(main, [*args, "--max-events", "200", "--balance", "2.5"])
    assert res.exit_code == 0, res.output
    assert _start_equity(tmp_path / "run" / "journal.sqlite") == {"BTC": Decimal("2.5")}


async def test_a_live_start_beside_an_order_the_journal_does_not_know_says_which_and_how_to_go_on(tmp_path):
    from rulebot.core.commands import PlaceOrder
    from rulebot.core.enums import OrderType, Side

    book = tmp_path / "book.yaml"
    book.write_text(BOOK)
    async with FakeBinance(Market.USDM) as fake:
        await fake.feed(Trade("BTCUSDT", Decimal(60000), Decimal("0.01"), 0, True, 1))
        stop = PlaceOrder(
            "old-bot-stop",
            "BTCUSDT",
            Side.SELL,
            OrderType.STOP_MARKET,
            None,
            trigger_price=Decimal(57000),
            close_position=True,
        )
        assert fake.sim.execute_algo(stop, fake.now()).ok  # a stop left by a bot whose journal is gone
        keys = key_file(tmp_path, fake, 0o600)
        args = [sys.executable, "-m", "rulebot.cli", *run_args(book, fake, keys, tmp_path / "run")]
        proc = await asyncio.create_subprocess_exec(
            *args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env={**os.environ, "PYTHONPATH": str(ROOT)}
        )
        _, err = await asyncio.wait_for(proc.communicate(), 30)
        assert not fake.placed_ids and fake.sim.open_algo_orders("BTCUSDT")  # nothing sent, the stop untouched
    text = err.decode()
    assert proc.returncode == 1 and "Traceback" not in text, text
    assert "BTCUSDT STOP_MARKET SELL close-position trigger 57000 (old-bot-stop)" in text
    assert "--foreign-orders cancel" in text and "nothing was sent" in text
