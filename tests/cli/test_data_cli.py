"""`rulebot data download`: options that cannot name an archive file are usage errors, before any request."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from rulebot.cli import main

# Nothing listens here: a request that went out would fail (exit 1), not be refused (exit 2).
NOWHERE = "http://127.0.0.1:9"


def download(tmp_path: Path, *args: str) -> tuple[int, str]:
    base = ["data", "download", "BTCUSDT", "--from", "2025-06-07", "--to", "2025-06-07", "--dest", str(tmp_path)]
    res = CliRunner().invoke(main, [*base, *args])
    return res.exit_code, res.output


@pytest.mark.parametrize("interval", ["7m", "1x", "60s", "2d"])
def test_an_interval_binance_does_not_publish_is_refused(tmp_path: Path, interval: str) -> None:
    # It became one 404 "missing" per day asked for, and exit 1, as if the archive had a hole.
    code, out = download(tmp_path, "--kind", "klines", "--interval", interval, "--base-url", NOWHERE)
    assert code == 2, out
    assert f"'{interval}' is not a Binance kline interval" in out and "1m, 3m, 5m" in out
    assert not any(tmp_path.iterdir())


@pytest.mark.parametrize("url", ["notaurl", "ftp://data.binance.vision", "https://", "data.binance.vision"])
def test_a_base_url_that_is_not_http_is_refused(tmp_path: Path, url: str) -> None:
    # It failed every file with the URL as the only word of explanation.
    code, out = download(tmp_path, "--kind", "trades", "--base-url", url)
    assert code == 2, out
    assert "http:// or https://" in out


def test_every_interval_binance_publishes_passes_the_check() -> None:
    from rulebot.cli.data import _interval

    for interval in ("1m", "3m", "5m", "15m", "30m", "1h", "2h", "4h", "6h", "8h", "12h", "1d", "3d", "1w", "1mo"):
        assert _interval(None, None, interval) == interval  # type: ignore[arg-type]
