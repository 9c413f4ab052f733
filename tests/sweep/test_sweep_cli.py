"""`rulebot sweep` as a user runs it: the table, the files, the report, and the errors."""

from __future__ import annotations

import csv
import itertools
import json
import os
import shlex
import signal
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from rulebot.cli import main


def run(*args: str) -> tuple[int, str]:
    res = CliRunner().invoke(main, list(args), catch_exceptions=False)
    return res.exit_code, res.output


def test_sweep_prints_the_ranked_table_and_writes_csv_parquet_and_the_report(rulebook, data, tmp_path):
    args = [
        "sweep",
        rulebook,
        *(a for d in data for a in ("--data", d)),
        "--param",
        "fast=3:9:3",
        "--param",
        "slow=10,20",
        "--param",
        "atr_len=0,14",
        "--constraint",
        "fast < slow",
        "--workers",
        "1",
    ]
    code, out = run(*args, "--out", str(tmp_path / "t.csv"), "--report", str(tmp_path / "r.html"))
    assert code == 0, out
    assert "best 6 of 12 trials by net_pnl" in out and "12 trials (6 failed)" in out
    assert "failed: trial" in out and "n of atr must be at least 1" in out
    assert "sharpe, sortino, calmar: from hourly equity returns" in out  # `backtest` reports daily ones
    rows = list(csv.DictReader((tmp_path / "t.csv").open()))
    assert len(rows) == 12 and {"param.fast", "param.slow", "net_pnl", "sharpe", "error"} <= set(rows[0])
    report = (tmp_path / "r.html").read_text()
    assert report.count("<rect") == 6  # the heatmap: one cell per (fast, slow) pair that ran
    assert report.count("<polyline") == 5  # the equity curves of the best five
    assert "rulebot backtest" in report and "Failed trials" in report
    # The replay line printed for the best trial reproduces it with `rulebot backtest --set`.
    replay = next(line for line in out.splitlines() if line.startswith("replay the best: "))
    code, doc = run(*shlex.split(replay.removeprefix("replay the best: "))[1:], "--format", "json")
    best = min((r for r in rows if not r["error"]), key=lambda r: (-float(r["net_pnl"]), int(r["trial"])))
    assert code == 0 and json.loads(doc)["net_pnl"] == best["net_pnl_exact"]

    code, out = run(*args, "--out", str(tmp_path / "t.parquet"))
    table = pq.read_table(tmp_path / "t.parquet")
    assert code == 0 and table.num_rows == 12
    assert str(table.schema.field("param.fast").type) == "int64" and str(table.schema.field("sharpe").type) == "double"


def test_a_sweep_whose_every_trial_failed_exits_1_and_still_writes_them(rulebook, data, tmp_path):
    """An empty table is not a result: a script or CI job must see the failure."""
    out_file = tmp_path / "t.csv"
    args = ["sweep", rulebook, "--data", data[0], "--param", "atr_len=0", "--workers", "1", "--out", str(out_file)]
    code, out = run(*args)
    assert code == 1, out
    assert "1 trials (1 failed)" in out and "every trial failed" in out and "replay the best" not in out
    [row] = list(csv.DictReader(out_file.open()))
    assert "n of atr must be at least 1" in row["error"]


def test_a_param_outside_its_declared_range_exits_1_before_running_anything(rulebook, data):
    code, out = run("sweep", rulebook, "--data", data[0], "--param", "fast=2:60:2", "--param", "slow=7.5")
    assert code == 1
    assert "fast=2:60:2: 32 is above the declared max 30" in out and "7.5 is not an int" in out
    assert "nothing was run" in out and "Traceback" not in out


def test_a_range_that_ends_before_it_starts_is_named_not_taken_for_empty_data(rulebook, data):
    args = ["--param", "fast=3", "--from", "2025-06-08", "--to", "2025-06-07"]
    code, out = run("sweep", rulebook, "--data", data[0], *args)
    assert code == 1 and "--to must be after --from" in out and "no events" not in out, out


def test_usage_errors_exit_2(rulebook, data):
    base = ["sweep", rulebook, "--data", data[0], "--param", "fast=3,6"]
    assert run(*base, "--out", "results.xlsx")[0] == 2
    assert run(*base, "--engine", "spark")[0] == 2
    assert run(*base, "--train", "three days", "--test", "1d")[0] == 2
    assert run(*base, "--heatmap", "slow")[0] == 2
    assert run(*base, "--balance", "0")[0] == 2
    # optuna's sampler takes 0 to 2**32 - 1: numpy's "Seed must be between..." did not say which option
    code, out = run(*base, "--search", "optuna", "--trials", "2", "--seed", "-1")
    assert code == 2 and "--seed" in out
    # A report that cannot be written is found before the trials run, not after.
    code, out = run(*base, "--report", "/nonexistent/folder/r.html")
    assert code == 2 and "does not exist" in out


def test_bad_times_and_short_windows_exit_1_naming_the_option(rulebook, data):
    base = ["sweep", rulebook, "--data", data[0], "--param", "fast=3,6"]
    code, out = run(*base, "--from", "garbage")
    assert code == 1 and "--from garbage: not a UTC date or ISO time" in out
    code, out = run(*base, "--walk-forward", "1000")
    assert code == 1 and "shorter than an hour" in out


def test_walk_forward_shows_in_sample_against_out_of_sample(rulebook, data):
    code, out = run(
        "sweep",
        rulebook,
        *(a for d in data for a in ("--data", d)),
        "--param",
        "fast=3,6,9",
        "--param",
        "slow=10,20",
        "--walk-forward",
        "2",
        "--workers",
        "1",
    )
    assert code == 0, out
    assert "walk-forward: net_pnl per day, in-sample (tuned) against out-of-sample" in out
    assert "replay the best: rulebot backtest" in out and "--from" in out


def test_a_broken_rulebook_is_reported_like_validate_does(tmp_path, data):
    bad = tmp_path / "bad.yaml"
    bad.write_text("rulebook: x\nmarket: usdm\nsymbols: [BTCUSDT]\nrules: []\n")
    code, out = run("sweep", str(bad), "--data", data[0], "--param", "fast=1,2")
    assert code == 1 and "invalid" in out


def test_the_replay_command_carries_the_balance_and_slippage_the_sweep_ran_with(rulebook, data, tmp_path):
    code, out = run(
        "sweep",
        rulebook,
        "--data",
        data[0],
        "--param",
        "fast=3,6",
        "--param",
        "slow=20",
        "--balance",
        "2500",
        "--slippage-bps",
        "3",
        "--workers",
        "1",
        "--out",
        str(tmp_path / "t.csv"),
    )
    replay = next(line for line in out.splitlines() if line.startswith("replay the best: "))
    assert code == 0 and "--balance 2500 --slippage-bps 3" in replay
    code, doc = run(*shlex.split(replay.removeprefix("replay the best: "))[1:], "--format", "json")
    rows = [r for r in csv.DictReader((tmp_path / "t.csv").open()) if not r["error"]]
    best = min(rows, key=lambda r: (-float(r["net_pnl"]), int(r["trial"])))
    assert code == 0 and json.loads(doc)["net_pnl"] == best["net_pnl_exact"]


def test_more_trials_than_any_sweep_could_run_is_a_usage_error(rulebook, data):
    code, out = run(
        "sweep",
        rulebook,
        "--data",
        data[0],
        "--param",
        "stop=0.01:0.05",
        "--search",
        "random",
        "--trials",
        "1000000000",
    )
    assert code == 2 and "--trials" in out


def test_the_report_may_not_be_written_over_the_trials_file(rulebook, data, tmp_path):
    same = str(tmp_path / "same.csv")
    code, out = run("sweep", rulebook, "--data", data[0], "--param", "fast=3", "--out", same, "--report", same)
    assert code == 2 and "is also the --out file" in out and not (tmp_path / "same.csv").exists()


@pytest.mark.skipif(not Path("/proc/self").is_dir(), reason="needs Linux /proc: a folder nobody can write, even root")
def test_an_out_file_in_a_folder_that_takes_no_file_is_refused_before_the_trials(rulebook, data):
    code, out = run("sweep", rulebook, "--data", data[0], "--param", "fast=3", "--out", "/proc/trials.csv")
    assert code == 2 and "cannot write in /proc" in out and "trials (" not in out


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full")
def test_a_report_that_fails_mid_write_is_named_in_the_error(rulebook, data):
    code, out = run(
        "sweep", rulebook, "--data", data[0], "--param", "fast=3", "--workers", "1", "--report", "/dev/full"
    )
    assert code == 1 and "could not write /dev/full: No space left on device" in out
    # --format json: the trials ran, so their document still comes, with the exit code saying the rest
    args = ["sweep", rulebook, "--data", data[0], "--param", "fast=3", "--workers", "1", "--report", "/dev/full"]
    res = CliRunner().invoke(main, [*args, "--format", "json"])
    assert res.exit_code == 1 and json.loads(res.stdout)["trials"][0]["param.fast"] == 3


def _reading(pid: int, folder: str) -> bool:
    try:
        return any(os.readlink(f"/proc/{pid}/fd/{fd}").startswith(folder) for fd in os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return False


@pytest.fixture(scope="module")
def months(tmp_path_factory: pytest.TempPathFactory) -> str:
    """Three monthly archives of 1m candles (130,000 rows): read for long enough that the test sees
    them open. Two real days were read in a few milliseconds, often between two looks."""
    folder = Path(tmp_path_factory.mktemp("months"))
    price, minute = 60_000.0, 60_000
    start = 1_704_067_200_000  # 2024-01-01
    for month, days in (("2024-01", 31), ("2024-02", 29), ("2024-03", 31)):
        rows = []
        for _ in range(days * 1440):
            close = price * (1.0005 if (start // minute) % 7 < 3 else 0.9996)
            hi, lo = max(price, close) + 5, min(price, close) - 5
            rows.append(
                f"{start},{price:.1f},{hi:.1f},{lo:.1f},{close:.1f},1.5,{start + minute - 1},90000,10,0.7,42000,0"
            )
            price, start = close, start + minute
        with zipfile.ZipFile(folder / f"BTCUSDT-1m-{month}.zip", "w", zipfile.ZIP_DEFLATED) as z:
            z.writestr(f"BTCUSDT-1m-{month}.csv", "\n".join(rows) + "\n")
    return str(folder)


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="needs Linux /proc to see the archive being read")
def test_ctrl_c_while_the_archives_are_read_exits_130_not_1(rulebook, months):
    """README: `sweep` exits 130 after Ctrl-C. Before the engine started, click said "Aborted!", exit 1."""
    folder = months
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "rulebot.cli",
            "sweep",
            rulebook,
            "--data",
            folder,
            "--param",
            "fast=3",
            "--workers",
            "1",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    deadline = time.monotonic() + 60
    while not _reading(proc.pid, folder) and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.001)
    assert proc.poll() is None, "the sweep ended before it was seen reading"
    proc.send_signal(signal.SIGINT)
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 130, out
    assert "Aborted!" not in out and "Traceback" not in out


def test_a_constraint_that_divides_by_zero_says_so_instead_of_allowing_nothing(rulebook, data):
    """It said "no parameter set satisfies the --constraint(s)" when the constraint had only raised."""
    base = ["sweep", rulebook, "--data", data[0], "--param", "fast=3,6", "--param", "slow=10", "--workers", "1"]
    code, out = run(*base, "--constraint", "fast / (slow - 10) > 0")
    assert code == 1 and "could not be evaluated for 2 parameter set(s)" in out, out
    assert "fast=3, slow=10: ZeroDivisionError" in out
    # Some sets run, the ones it raised for are named: a walk-forward asks each set once per fold.
    code, out = run(*base[:-4], "--param", "slow=6,10", "--constraint", "slow / (fast - 3) > 1", "--walk-forward", "2")
    assert code == 0, out
    assert "warning: --constraint 'slow / (fast - 3) > 1' could not be evaluated for 2 parameter set(s)" in out


def test_the_sweep_writes_neither_file_over_the_rulebook_or_an_archive(tmp_path, data):
    from tests.sweep.conftest import RULEBOOK

    book = tmp_path / "book.yaml"
    book.write_text(RULEBOOK)
    with zipfile.ZipFile(data[0]) as z:  # an archive as CSV, the kind --out writes
        [name] = z.namelist()
        z.extract(name, tmp_path)
    archive = tmp_path / name
    original = archive.read_bytes()
    for extra in (["--report", str(book)], ["--out", str(archive)], ["--report", str(archive)]):
        code, out = run("sweep", str(book), "--data", str(archive), "--param", "fast=3", "--workers", "1", *extra)
        assert code == 2 and "is an input of this command" in out, out
    assert book.read_text() == RULEBOOK and archive.read_bytes() == original


def test_the_csv_keeps_a_text_parameter_from_running_as_a_spreadsheet_formula(rulebook, data, tmp_path):
    # A text value was written as it is: "=1+1" or "@SUM(A1)" in trials.csv ran as a formula when
    # the file was opened in a spreadsheet (CSV injection).
    book = tmp_path / "labelled.yaml"
    book.write_text(Path(rulebook).read_text().replace("  atr_len: 14", "  label: {default: plain}\n  atr_len: 14"))
    out_file = tmp_path / "t.csv"
    labels = "=1+1,@SUM(A1),-2+3,+cmd,plain"
    args = ["sweep", str(book), "--data", data[0], "--param", f"label={labels}", "--param", "atr_len=-5,14"]
    code, out = run(*args, "--workers", "1", "--out", str(out_file))
    assert code == 0, out
    rows = list(csv.DictReader(out_file.open()))
    assert {r["param.label"] for r in rows} == {"'=1+1", "'@SUM(A1)", "'-2+3", "'+cmd", "plain"}
    assert {r["param.atr_len"] for r in rows} == {"-5", "14"}  # a number stays a number
    code, out = run(*args, "--workers", "1", "--out", str(tmp_path / "t.parquet"))
    table = pq.read_table(tmp_path / "t.parquet").to_pydict()
    assert code == 0 and set(table["param.label"]) == set(labels.split(","))  # Parquet has types: as it is


def test_the_replay_line_gives_a_text_parameter_back_as_it_is_when_a_shell_splits_it(rulebook, data, tmp_path):
    # The line is pasted into a shell: quoting aside, rich turned `:rocket:` into an emoji on the
    # way out, so the replay ran a value the sweep never tried.
    book = tmp_path / "labelled.yaml"
    book.write_text(Path(rulebook).read_text().replace("  atr_len: 14", "  label: {default: plain}\n  atr_len: 14"))
    value = "go :rocket: now; echo $HOME 'x' \"y\" [bold]z"
    code, out = run("sweep", str(book), "--data", data[0], "--param", f"label={value}", "--workers", "1")
    assert code == 0, out
    replay = next(line for line in out.splitlines() if line.startswith("replay the best: "))
    args = shlex.split(replay.removeprefix("replay the best: "))
    assert f"label={value}" in [b for a, b in itertools.pairwise(args) if a == "--set"]


def test_an_unknown_symbol_and_a_range_outside_the_data_are_said_as_backtest_says_them(rulebook, data, tmp_path):
    foo = tmp_path / "foo.yaml"
    foo.write_text(Path(rulebook).read_text().replace("BTCUSDT", "FOOUSDT"))
    code, out = run("sweep", str(foo), "--data", data[0], "--param", "fast=3,6")
    assert code == 1 and f"{foo}:3:11: error: unknown usdm symbol 'FOOUSDT'" in out, out
    code, out = run("sweep", rulebook, "--data", data[0], "--param", "fast=3,6", "--from", "2030-01-01")
    text = " ".join(out.split())
    assert code == 1 and "no data for BTCUSDT from 2030-01-01 00:00 UTC" in text, out
    assert "the files for it cover 2025-06-07 00:00 to 2025-06-08 00:00 UTC" in text


def test_the_best_trials_backtest_warnings_are_said_and_every_trials_are_written(rulebook, data, tmp_path):
    # Held across funding times with no fundingRate file, every trial counted funding as 0: its
    # `rulebot backtest` warns so, the sweep ranked the flattered net PnL without a word.
    out = tmp_path / "t.csv"
    code, text = run("sweep", rulebook, "--data", data[0], "--data", data[1], "--param", "fast=3,6", "--out", str(out))
    text = " ".join(text.split())
    assert code == 0, text
    assert "warning: the best trial (#" in text and "the data has no funding rate for them" in text
    rows = list(csv.DictReader(out.open()))
    assert all("funding counts as 0" in r["warnings"] for r in rows), rows


def test_format_json_puts_one_document_on_stdout_and_the_messages_on_stderr(rulebook, data):
    res = CliRunner().invoke(
        main, ["sweep", rulebook, "--data", data[0], "--param", "fast=3,6", "--format", "json"], catch_exceptions=False
    )
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    assert [t["param.fast"] for t in doc["trials"]] == [3, 6] and sorted(doc["ranked"]) == [0, 1]
    best = doc["trials"][doc["ranked"][0]]
    assert f"fast={best['param.fast']}" in doc["replay"] and doc["interrupted"] is False
    assert "replay the best:" in res.stderr and "┃" not in res.stdout
