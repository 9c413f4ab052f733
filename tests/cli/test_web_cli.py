"""`rulebot web` as a process: the address it prints is the one it listens on, and a port in use
is said before any address is announced."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from rulebot.backtest.api import backtest
from rulebot.testing.shared import ARCHIVE

ROOT = Path(__file__).resolve().parents[2]
DAY = ARCHIVE / "futures/um/daily/klines/BTCUSDT/1m/BTCUSDT-1m-2025-06-08.zip"


@pytest.fixture(scope="module")
def journal(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("web-cli") / "bt.journal"
    backtest(str(ROOT / "rules/ema-trend-btc.yaml"), [str(DAY)], journal_path=path)
    return path


def web(journal: Path, tmp_path: Path, port: int, host: str = "127.0.0.1") -> subprocess.Popen[str]:
    args = [
        sys.executable,
        "-m",
        "rulebot.cli",
        "web",
        "--journal",
        str(journal),
        "--host",
        host,
        "--port",
        str(port),
        "--token-file",
        str(tmp_path / "token"),
    ]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)


def announced(proc: subprocess.Popen[str]) -> str:
    """The line that gives the page's address, once `rulebot web` prints it."""
    line = ""
    while "bot(s) on" not in line:
        line = proc.stdout.readline()  # type: ignore[union-attr]
        assert line, proc.stderr.read()  # type: ignore[union-attr]
    return line


def stopped(proc: subprocess.Popen[str]) -> tuple[str, str]:
    """SIGTERM, as a service manager stops it: it must end cleanly. Its stdout and stderr."""
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=15)
    assert proc.returncode == 0, err
    return out, err


def test_port_0_prints_the_port_it_took_and_the_page_answers_there(journal: Path, tmp_path: Path) -> None:
    # It printed "on http://127.0.0.1:0/", an address nobody can open.
    proc = web(journal, tmp_path, 0)
    try:
        line = announced(proc)
        url = re.search(r"(http://\S+/)", line)
        assert url and not url.group(1).endswith(":0/"), line
        with urllib.request.urlopen(url.group(1), timeout=10) as page:
            assert page.status == 200
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(15)
    assert proc.returncode == 0


def test_a_port_in_use_is_an_error_before_any_address_is_announced(journal: Path, tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        proc = web(journal, tmp_path, busy.getsockname()[1])
        out, err = proc.communicate(timeout=30)
    assert proc.returncode == 1, err
    assert "cannot listen on 127.0.0.1" in err and "bot(s) on" not in out, (out, err)


def test_another_address_than_loopback_is_warned_that_plain_http_carries_the_token(
    journal: Path, tmp_path: Path
) -> None:
    # Off loopback the token, the sign-in link and the session cookie cross the network in the
    # clear; the start said nothing about it.
    proc = web(journal, tmp_path, 0, host="0.0.0.0")
    line = announced(proc)
    out, err = stopped(proc)
    assert "plain HTTP" in err and "ssh -L" in err, err
    # Links name this machine: "http://0.0.0.0:…" opens nothing from another one.
    assert "0.0.0.0" not in line + out and f"http://{socket.gethostname()}:" in line, (line, out)


def test_a_sigterm_right_after_the_address_is_printed_stops_it_cleanly(journal: Path, tmp_path: Path) -> None:
    # The handler was set after the announcement: a SIGTERM then killed it outright (-15), with
    # the rest of the announcement unprinted and a --demo bot left running.
    for _ in range(5):
        proc = web(journal, tmp_path, 0)
        announced(proc)
        _, err = stopped(proc)
        assert "plain HTTP" not in err, err  # loopback: nothing to warn of


def test_a_run_directory_that_is_not_there_is_noted_not_shown_silently_as_an_empty_bot(tmp_path: Path) -> None:
    # A mistyped --run-dir served a page with one bot named after it and nothing in it, unsaid.
    missing = tmp_path / "btc-trnd"
    args = [sys.executable, "-m", "rulebot.cli", "web", "--run-dir", str(missing), "--port", "0"]
    args += ["--token-file", str(tmp_path / "token")]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    announced(proc)
    _, err = stopped(proc)
    assert f"{missing} does not exist" in err, err
