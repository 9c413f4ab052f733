"""bench/peers.py still runs: tiny generated data, rulebot only (the peers are the `bench` extra
and take minutes; the benchmark itself is never a timed test)."""

from __future__ import annotations

import re
import subprocess
import sys
import zipfile
from pathlib import Path

PEERS = Path(__file__).resolve().parents[2] / "bench" / "peers.py"


def test_peers_benchmark_runs_rulebot_on_its_generated_archive_files(tmp_path: Path) -> None:
    out = subprocess.run(
        [
            sys.executable,
            str(PEERS),
            "--months",
            "1,2",
            "--month-days",
            "1",
            "--agg-rows",
            "3000",
            "--peers",
            "",
            "--data",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    # Files in Binance's layout, with the archive's header row.
    klines = sorted((tmp_path / "futures/um/monthly/klines/BTCUSDT/1m").glob("*.zip"))
    assert [p.name for p in klines] == ["BTCUSDT-1m-2023-01.zip", "BTCUSDT-1m-2023-02.zip"]
    with zipfile.ZipFile(klines[0]) as archive:
        lines = archive.read("BTCUSDT-1m-2023-01.csv").decode().splitlines()
    assert lines[0].startswith("open_time,open,high,low,close,volume,close_time")
    assert len(lines) == 1 + 1440  # one day of 1m bars
    # One line per run and a summary table naming rulebot's trades on each data set.
    for label in ("1 month of 1m candles", "2 months of 1m candles", "3,000 aggTrades"):
        row = re.search(
            rf"^{re.escape(label)}\s.*rulebot\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)\s+(\d+)\s+(\d+)", out.stdout, re.M
        )  # best s, median s, cpu s, peak MB, trades
        assert row, out.stdout
        assert float(row[1]) > 0 and float(row[3]) > 0 and int(row[5]) > 0, row[0]
    assert "cost per month" in out.stdout


def test_the_quiet_strategy_runs_the_same_rules_and_trades_nothing(tmp_path: Path) -> None:
    """--strategy quiet keeps the cross's indicators and tests, scaled out of reach: the same bars
    that trade a few times with the cross trade none (the cost per bar alone)."""
    sys.path.insert(0, str(PEERS.parent))
    try:
        import peers
    finally:
        sys.path.remove(str(PEERS.parent))
    cross, _ = peers.rulebook_text("cross")
    quiet, _ = peers.rulebook_text("quiet")
    assert quiet.count("on: candle_close 1m") == cross.count("on: candle_close 1m") == 4
    assert "fast > slow * 1000" in quiet and "crossover(fast, slow * 1000)" in quiet
    args = ["--months", "1", "--month-days", "1", "--agg-rows", "0", "--peers", "", "--strategy", "quiet"]
    out = subprocess.run(
        [sys.executable, str(PEERS), *args, "--data", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    row = re.search(r"^1 month of 1m candles\s+rulebot\s.*?(\d+)\s*$", out.stdout, re.M)
    assert row and int(row[1]) == 0, out.stdout
    assert "nothing trades" in out.stdout
    assert (tmp_path / "ema-quiet.yaml").read_text() == quiet


def test_a_band_trades_less_than_the_cross_on_the_same_bars(tmp_path: Path) -> None:
    """--strategy band:S: long above slow * S, short below slow / S: the cost of a trade apart from
    the cost of a bar, on the same rules (fewer trades the wider the band)."""

    def trades(strategy: str) -> int:
        args = ["--months", "1", "--month-days", "2", "--agg-rows", "0", "--peers", "", "--strategy", strategy]
        out = subprocess.run(
            [sys.executable, str(PEERS), *args, "--data", str(tmp_path)],
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        assert out.returncode == 0, out.stderr[-2000:]
        row = re.search(r"^1 month of 1m candles\s+rulebot\s.*?(\d+)\s*$", out.stdout, re.M)
        assert row, out.stdout
        return int(row[1])

    cross, band = trades("cross"), trades("band:1.0005")
    assert 0 < band < cross
    assert "slow * 1.0005" in (tmp_path / "ema-band-1.0005.yaml").read_text()
    bad = subprocess.run([sys.executable, str(PEERS), "--strategy", "band:0.9"], capture_output=True, text=True)
    assert bad.returncode != 0 and "above 1" in bad.stderr
