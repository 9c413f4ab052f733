"""The bot's command line: keys are required and guarded, status/kill/reload reach a bot, the fake runs."""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import aiohttp
from click.testing import CliRunner

from rulebot.cli import main
from rulebot.runtime.keys import CredentialsError, load_credentials

ROOT = Path(__file__).resolve().parents[2]
EMA = ROOT / "rules" / "ema-trend-btc.yaml"


def test_run_refuses_without_live_flag_and_without_keys(tmp_path, monkeypatch):
    monkeypatch.delenv("BINANCE_API_KEY", raising=False)
    monkeypatch.delenv("BINANCE_API_SECRET", raising=False)
    res = CliRunner().invoke(main, ["run", str(EMA)])
    assert res.exit_code == 2 and "--live" in res.output
    res = CliRunner().invoke(main, ["run", str(EMA), "--live", "--run-dir", str(tmp_path)])
    assert res.exit_code == 1 and "BINANCE_API_KEY" in res.output and "nothing was started" in res.output


def test_a_key_file_others_can_read_is_refused(tmp_path):
    keys = tmp_path / "keys"
    keys.write_text("BINANCE_API_KEY=abc\nBINANCE_API_SECRET=shh\n")
    keys.chmod(0o644)
    try:
        load_credentials(keys)
    except CredentialsError as exc:
        assert "chmod 600" in str(exc) and "shh" not in str(exc)
    else:
        raise AssertionError("a world-readable key file was accepted")
    keys.chmod(0o600)
    creds = load_credentials(keys)
    assert creds.api_secret == "shh" and "shh" not in repr(creds)


def test_status_reload_and_kill_reach_a_running_dry_run(tmp_path):
    book = tmp_path / "ema.yaml"
    book.write_text(EMA.read_text())
    run_dir = tmp_path / "run"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "rulebot.cli",
            "dry-run",
            str(book),
            "--hours",
            "48",
            "--speed",
            "200",
            "--run-dir",
            str(run_dir),
            "--no-watch",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    try:
        deadline = time.monotonic() + 15
        while not (run_dir / "control.sock").exists():
            assert time.monotonic() < deadline and proc.poll() is None, proc.stderr.read().decode()  # type: ignore[union-attr]
            time.sleep(0.05)
        runner = CliRunner()
        res = runner.invoke(main, ["status", "--run-dir", str(run_dir)])
        assert res.exit_code == 0 and "ema-trend-btc" in res.output and "guards:" in res.output
        book.write_text(EMA.read_text().replace("fast: 21", "fast: 20"))
        res = runner.invoke(main, ["reload", "--run-dir", str(run_dir)])
        assert res.exit_code == 0 and res.output.startswith("reloaded: version")
        book.write_text("rulebook: broken\n")
        res = runner.invoke(main, ["reload", "--run-dir", str(run_dir)])
        assert res.exit_code == 1 and "refused" in res.output
        res = runner.invoke(main, ["kill", "--run-dir", str(run_dir), "--flatten"])
        assert res.exit_code == 0 and "policy flatten" in res.output
        assert proc.wait(15) == 0
    finally:
        proc.kill()
    res = CliRunner().invoke(main, ["status", "--run-dir", str(run_dir)])
    assert res.exit_code == 1 and "no bot is running" in res.output


def test_fake_exchange_command_serves_binance_rest(tmp_path):
    proc = subprocess.Popen(
        [sys.executable, "-m", "rulebot.cli", "fake-exchange", "--port", "0", "--speed", "50"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline().decode()
        rest = re.search(r"REST\s+(http://\S+?)/fapi", first)
        assert rest, first

        async def ping() -> dict:
            async with aiohttp.ClientSession() as s, s.get(f"{rest.group(1)}/fapi/v1/time") as r:
                return await r.json()

        assert "serverTime" in asyncio.run(ping())
    finally:
        proc.terminate()
        proc.wait(10)


def test_kill_reaches_a_bot_whose_socket_exists_but_is_not_listening_yet(tmp_path):
    # Between bind() and listen() the socket file exists and connect() is refused: `kill` right
    # after a start said "no bot answers (it stopped without removing it)" to a bot still starting.
    import json
    import socket
    import threading

    run_dir = tmp_path / "run"
    run_dir.mkdir()
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(str(run_dir / "control.sock"))

    def start_listening_late() -> None:
        time.sleep(0.5)
        server.listen()
        conn, _ = server.accept()
        with conn:
            request = json.loads(conn.makefile().readline())
            conn.sendall(json.dumps({"ok": True, "policy": request["policy"]}).encode() + b"\n")

    thread = threading.Thread(target=start_listening_late, daemon=True)
    thread.start()
    res = CliRunner().invoke(main, ["kill", "--run-dir", str(run_dir), "--keep"])
    thread.join(5)
    server.close()
    assert res.exit_code == 0 and "kill: sent (policy keep)" in res.output, res.output


def _bot_that_answers_after(run_dir: Path, delay_s: float | None) -> object:
    """A control socket that reads one request and answers it after `delay_s` (None: never)."""
    import json
    import socket
    import threading

    run_dir.mkdir()
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(str(run_dir / "control.sock"))
    server.listen()

    def serve() -> None:
        conn, _ = server.accept()
        with conn:
            conn.makefile().readline()
            if delay_s is None:
                conn.recv(1)  # until the client gives up
                return
            time.sleep(delay_s)
            conn.sendall(json.dumps({"ok": True, "version": "abc"}).encode() + b"\n")

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    return server


def test_reload_waits_as_long_as_the_bot_waits_for_the_file_to_settle(tmp_path, monkeypatch):
    """The bot waits up to 30 s for a rulebook still being written before it reloads, but
    `rulebot reload` gave up after 10 s and printed 'error: ' and nothing else (a TimeoutError has
    no message): the operator could not tell whether anything was reloaded."""
    from rulebot.cli import bot_control

    monkeypatch.setattr(bot_control, "_ANSWER_S", 0.3)
    monkeypatch.setattr(bot_control, "_RELOAD_ANSWER_S", 3.0)
    server = _bot_that_answers_after(tmp_path / "slow", 1.0)  # longer than a status answer takes
    res = CliRunner().invoke(main, ["reload", "--run-dir", str(tmp_path / "slow")])
    server.close()
    assert res.exit_code == 0 and res.output.startswith("reloaded: version abc"), res.output

    server = _bot_that_answers_after(tmp_path / "mute", None)
    res = CliRunner().invoke(main, ["status", "--run-dir", str(tmp_path / "mute")])
    server.close()
    assert res.exit_code == 1 and "did not answer" in res.output and str(tmp_path / "mute") in res.output, res.output
