"""`rulebot data download` against a loopback archive server that serves the real shared files.

The server lays ../shared/data/binance-vision out as data.binance.vision does (`/data/futures/
...zip` plus `.zip.CHECKSUM`), generating checksum files except the two real ones Binance
published, and can drop a connection mid-file, corrupt a body or hide a day.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from functools import partial
from pathlib import Path

import pytest
from aiohttp import web
from click.testing import CliRunner

from rulebot.cli.data import data
from rulebot.feeds.download import archive_paths, download
from rulebot.testing.shared import SHARED

ARCHIVE = SHARED / "data" / "binance-vision"
AGG = "futures/cm/daily/aggTrades/BTCUSD_PERP/BTCUSD_PERP-aggTrades-2026-05-08.zip"
TRADES = "futures/um/daily/trades/BTCUSDT/BTCUSDT-trades-2024-07-{}.zip"
KLINES = "futures/um/daily/klines/BTCUSDT/1m/BTCUSDT-1m-2025-06-0{}.zip"
FUNDING = "futures/um/monthly/fundingRate/BTCUSDT/BTCUSDT-fundingRate-2026-0{}.zip"


class ArchiveServer:
    """data.binance.vision's URL layout over a local folder, with faults per archive path."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.requests: list[tuple[str, str | None]] = []  # (archive path, Range header)
        self.faults: dict[str, str] = {}  # path -> drop_once | drop_always | corrupt | missing | stall
        self._dropped: set[str] = set()
        self.url = ""

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get("/data/{path:.+}", self.handle)
        self.runner = web.AppRunner(app)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        host, port = self.runner.addresses[0][:2]
        self.url = f"http://{host}:{port}"

    async def handle(self, request: web.Request) -> web.StreamResponse:
        rel = request.match_info["path"]
        self.requests.append((rel, request.headers.get("Range")))
        zip_rel = rel.removesuffix(".CHECKSUM")
        path = (self.root / zip_rel).resolve()
        if not path.is_relative_to(self.root) or not path.is_file():
            raise web.HTTPNotFound()
        if self.faults.get(zip_rel) == "missing":
            raise web.HTTPNotFound()
        if rel.endswith(".CHECKSUM"):
            published = self.root / rel
            if published.is_file():  # Binance's own
                return web.Response(body=published.read_bytes())
            digest = hashlib.sha256(path.read_bytes()).hexdigest()
            return web.Response(text=f"{digest}  {path.name}\n")
        body = path.read_bytes()
        fault = self.faults.get(rel, "")
        if fault == "corrupt":
            middle = len(body) // 2
            body = body[:middle] + bytes([body[middle] ^ 0xFF]) + body[middle + 1 :]
        start = 0
        if (ranged := request.headers.get("Range")) is not None:
            start = int(ranged.removeprefix("bytes=").split("-")[0])
            if start >= len(body):
                raise web.HTTPRequestRangeNotSatisfiable()
        headers = {"Accept-Ranges": "bytes"}
        if ranged is not None:
            headers["Content-Range"] = f"bytes {start}-{len(body) - 1}/{len(body)}"
        status = 206 if ranged is not None else 200
        chunk = body[start:]
        if fault == "stall":  # a third, then nothing: a slow mirror, a download the user stops
            resp = web.StreamResponse(status=status, headers=headers)
            resp.content_length = len(chunk)
            await resp.prepare(request)
            await resp.write(chunk[: len(chunk) // 3])
            while request.transport is not None and not request.transport.is_closing():
                await asyncio.sleep(0.05)  # until the client goes
            return resp
        if fault == "drop_always" or (fault == "drop_once" and rel not in self._dropped):
            self._dropped.add(rel)
            resp = web.StreamResponse(status=status, headers=headers)
            resp.content_length = len(chunk)
            await resp.prepare(request)
            await resp.write(chunk[: len(chunk) // 3])
            assert request.transport is not None
            request.transport.close()  # the connection dies a third of the way in
            return resp
        return web.Response(body=chunk, status=status, headers=headers)

    def zips_fetched(self) -> list[tuple[str, str | None]]:
        return [(rel, r) for rel, r in self.requests if rel.endswith(".zip")]


@pytest.fixture
def server() -> Iterator[ArchiveServer]:
    if not (ARCHIVE / AGG).is_file():
        pytest.fail(
            f"the shared Binance archive files are missing under {ARCHIVE}: these tests serve the "
            "`shared` folder beside the project checkout (../shared/data/binance-vision/)",
            pytrace=False,
        )
    # Its own loop in a thread, so the synchronous download() and the CLI can call it.
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    srv = ArchiveServer(ARCHIVE.resolve())
    asyncio.run_coroutine_threadsafe(srv.start(), loop).result(10)
    yield srv
    asyncio.run_coroutine_threadsafe(srv.runner.cleanup(), loop).result(10)
    loop.call_soon_threadsafe(loop.stop)
    thread.join(10)
    loop.close()


def _same(dest: Path, rel: str) -> bool:
    return (dest / rel).read_bytes() == (ARCHIVE / rel).read_bytes()


def test_archive_paths_follow_the_archive_layout() -> None:
    assert archive_paths("btcusdt", "klines", interval="1m", from_date="2025-06-07", to_date="2025-06-08") == [
        KLINES.format(7),
        KLINES.format(8),
    ]
    assert archive_paths("BTCUSD_PERP", "aggTrades", from_date="2026-05-08", to_date="2026-05-08") == [
        AGG
    ]  # COIN-M inferred from the symbol
    assert archive_paths("BTCUSDT", "fundingRate", from_date="2026-03-31", to_date="2026-04-01") == [
        FUNDING.format(3),
        FUNDING.format(4),
    ]
    assert archive_paths(
        "BTCUSDT",
        "klines",
        interval="4h",
        period="monthly",
        from_date="2024-12-05",
        to_date="2025-01-01",
    ) == [
        "futures/um/monthly/klines/BTCUSDT/4h/BTCUSDT-4h-2024-12.zip",
        "futures/um/monthly/klines/BTCUSDT/4h/BTCUSDT-4h-2025-01.zip",
    ]
    for kwargs, message in [
        ({"kind": "klines"}, "need an interval"),
        ({"kind": "trades", "interval": "1m"}, "have no interval"),
        ({"kind": "fundingRate", "period": "daily"}, "published monthly only"),
        ({"kind": "trades", "market": "spot"}, "unknown market"),
        ({"kind": "candles"}, "unknown kind"),
        ({"kind": "trades", "to_date": "2024-01-01"}, "is before --from"),
    ]:
        args = {"from_date": "2024-02-01", "to_date": "2024-02-02", **kwargs}
        with pytest.raises(ValueError, match=message):
            archive_paths("BTCUSDT", **args)


def test_dropped_connection_resumes_with_range_and_missing_days_are_reported(
    server: ArchiveServer, tmp_path: Path
) -> None:
    server.faults[AGG] = "drop_once"
    report = download(
        "BTCUSD_PERP",
        "aggTrades",
        from_date="2026-05-07",
        to_date="2026-05-09",
        dest=tmp_path,
        base_url=server.url,
        retry_delay=0,
    )
    by_path = {r.path: r for r in report.results}
    assert by_path[AGG].status == "downloaded" and by_path[AGG].detail == "resumed"
    assert _same(tmp_path, AGG)
    # the real Binance .CHECKSUM was served and kept beside the file
    assert _same(tmp_path, AGG + ".CHECKSUM")
    assert not (tmp_path / (AGG + ".part")).exists()
    fetches = [r for rel, r in server.zips_fetched() if rel == AGG]
    size = (ARCHIVE / AGG).stat().st_size
    assert fetches == [None, f"bytes={size // 3}-"]
    missing = sorted(r.path[-14:-4] for r in report.with_status("missing"))
    assert missing == ["2026-05-07", "2026-05-09"]
    assert "404" in report.with_status("missing")[0].detail
    assert not report.ok


def test_corrupted_body_is_refused_and_not_kept(server: ArchiveServer, tmp_path: Path) -> None:
    server.faults[TRADES.format(19)] = "corrupt"
    report = download(
        "BTCUSDT",
        "trades",
        from_date="2024-07-18",
        to_date="2024-07-19",
        dest=tmp_path,
        base_url=server.url,
        retry_delay=0,
    )
    assert [(r.path, r.status) for r in report.results] == [
        (TRADES.format(18), "downloaded"),
        (TRADES.format(19), "failed"),
    ]
    assert "checksum mismatch" in report.results[1].detail
    bad = tmp_path / TRADES.format(19)
    assert not bad.exists() and not bad.with_name(bad.name + ".part").exists()
    assert not bad.with_name(bad.name + ".CHECKSUM").exists()
    # the fault cleared, a second run fetches only what failed
    del server.faults[TRADES.format(19)]
    server.requests.clear()
    report = download(
        "BTCUSDT",
        "trades",
        from_date="2024-07-18",
        to_date="2024-07-19",
        dest=tmp_path,
        base_url=server.url,
    )
    assert [r.status for r in report.results] == ["skipped", "downloaded"]
    bad_rel = TRADES.format(19)
    assert [rel for rel, _ in server.requests] == [bad_rel + ".CHECKSUM", bad_rel]
    assert _same(tmp_path, TRADES.format(18)) and _same(tmp_path, TRADES.format(19))


def test_second_run_skips_everything_without_asking(server: ArchiveServer, tmp_path: Path) -> None:
    run = partial(
        download,
        "BTCUSDT",
        "klines",
        interval="1m",
        from_date="2025-06-07",
        to_date="2025-06-09",
        dest=tmp_path,
        base_url=server.url,
    )
    first = run(concurrency=2)
    assert [r.status for r in first.results] == ["downloaded"] * 3 and first.ok
    server.requests.clear()
    second = run()
    assert [r.status for r in second.results] == ["skipped"] * 3 and second.ok
    assert server.requests == []  # verified against the kept .CHECKSUM files
    # a damaged local copy is noticed and fetched again
    damaged = tmp_path / KLINES.format(8)
    damaged.write_bytes(b"not a zip")
    third = run()
    assert [r.status for r in third.results] == ["skipped", "downloaded", "skipped"]
    assert all(_same(tmp_path, KLINES.format(d)) for d in (7, 8, 9))


def test_interrupted_run_leaves_a_part_file_the_next_run_resumes(server: ArchiveServer, tmp_path: Path) -> None:
    server.faults[AGG] = "drop_always"
    report = download(
        "BTCUSD_PERP",
        "aggTrades",
        from_date="2026-05-08",
        to_date="2026-05-08",
        dest=tmp_path,
        base_url=server.url,
        retries=1,
        retry_delay=0,
    )
    [result] = report.results
    assert result.status == "failed" and "run again to resume" in result.detail
    part = tmp_path / (AGG + ".part")
    kept = part.stat().st_size
    assert 0 < kept < (ARCHIVE / AGG).stat().st_size
    assert not (tmp_path / AGG).exists()
    del server.faults[AGG]
    server.requests.clear()
    report = download(
        "BTCUSD_PERP",
        "aggTrades",
        from_date="2026-05-08",
        to_date="2026-05-08",
        dest=tmp_path,
        base_url=server.url,
    )
    assert report.ok and report.results[0].detail == "resumed"
    assert server.zips_fetched() == [(AGG, f"bytes={kept}-")]
    assert _same(tmp_path, AGG) and not part.exists()


def test_cli_download_json_and_exit_codes(
    server: ArchiveServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RULEBOT_DATA_URL", server.url)
    runner = CliRunner()
    args = ["download", "BTCUSDT", "--kind", "fundingRate", "--dest", str(tmp_path)]
    result = runner.invoke(data, [*args, "--from=2026-04-01", "--to=2026-09-30", "--format=json"])
    assert result.exit_code == 1, result.output  # August and September are not in the archive
    doc = json.loads(result.output)
    assert doc["counts"] == {"downloaded": 4, "skipped": 0, "missing": 2, "failed": 0}
    assert [f["status"] for f in doc["files"]] == ["downloaded"] * 4 + ["missing"] * 2
    assert all(_same(tmp_path, FUNDING.format(m)) for m in (4, 5, 6, 7))
    result = runner.invoke(data, [*args, "--from", "2026-04-01", "--to", "2026-07-31"])
    assert result.exit_code == 0, result.output
    assert "0 downloaded, 4 already present and verified, 0 missing, 0 failed" in result.output
    result = runner.invoke(
        data, ["download", "BTCUSDT", "--kind", "klines", "--from", "2025-06-07", "--to", "2025-06-07"]
    )
    assert result.exit_code == 2 and "need an interval" in result.output


@pytest.mark.parametrize("symbol", ["../../tmp/x", "BTC/USDT", "", "BTC USDT"])
def test_a_symbol_with_a_path_in_it_is_refused_before_anything_is_written(symbol: str) -> None:
    with pytest.raises(ValueError, match="is not a Binance symbol"):
        archive_paths(symbol, "trades", from_date="2025-01-01", to_date="2025-01-01")


MARK = "futures/um/daily/markPriceKlines/BTCUSDT/1m/BTCUSDT-1m-2025-06-0{}.zip"
JUNE_FUNDING = "futures/um/monthly/fundingRate/BTCUSDT/BTCUSDT-fundingRate-2025-06.zip"


def test_klines_come_with_their_funding_and_mark_klines(server: ArchiveServer, tmp_path: Path) -> None:
    # shared/data has no markPriceKlines: the archive reports them missing, which for a companion
    # is no failure (exit 0); the month's fundingRate is fetched beside the klines.
    monkey = CliRunner()
    args = [
        "download",
        "BTCUSDT",
        "--kind",
        "klines",
        "--interval",
        "1m",
        "--from",
        "2025-06-07",
        "--to",
        "2025-06-08",
        "--dest",
        str(tmp_path),
        "--base-url",
        server.url,
        "--format",
        "json",
    ]
    result = monkey.invoke(data, args)
    assert result.exit_code == 0, result.output
    doc = json.loads(result.output)
    files = {f["path"]: (f["status"], f["companion"]) for f in doc["files"]}
    assert files == {
        KLINES.format(7): ("downloaded", False),
        KLINES.format(8): ("downloaded", False),
        JUNE_FUNDING: ("downloaded", True),
        MARK.format(7): ("missing", True),
        MARK.format(8): ("missing", True),
    }
    assert doc["ok"] and _same(tmp_path, JUNE_FUNDING)
    # A backtest of the folder finds the funding it needs (the summary's assumptions say so).
    from rulebot.backtest.api import backtest

    rules = Path(__file__).resolve().parents[2] / "rules" / "ema-trend-btc.yaml"
    result_bt, _, _ = backtest(str(rules), [str(tmp_path)])
    assert result_bt.funding_rates == {"BTCUSDT": 6}
    # --no-companions: the klines alone (already there: skipped), nothing else asked for.
    server.requests.clear()
    again = json.loads(monkey.invoke(data, [*args, "--no-companions"]).output)
    assert [f["path"] for f in again["files"]] == [KLINES.format(7), KLINES.format(8)]
    assert not any("fundingRate" in rel or "markPrice" in rel for rel, _ in server.requests)


def test_a_missing_klines_file_still_fails_and_mark_klines_are_fetched_where_published(tmp_path: Path) -> None:
    # A local archive whose markPriceKlines folder holds one day. Its bytes are the real klines
    # file of that day standing in: only the archive path and the checksum matter to a download.
    root = tmp_path / "archive"
    for rel in (KLINES.format(7), JUNE_FUNDING):
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes((ARCHIVE / rel).read_bytes())
    (root / MARK.format(7)).parent.mkdir(parents=True, exist_ok=True)
    (root / MARK.format(7)).write_bytes((ARCHIVE / KLINES.format(7)).read_bytes())
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    srv = ArchiveServer(root.resolve())
    asyncio.run_coroutine_threadsafe(srv.start(), loop).result(10)
    try:
        dest = tmp_path / "dest"
        report = download(
            "BTCUSDT",
            "klines",
            interval="1m",
            from_date="2025-06-07",
            to_date="2025-06-08",
            dest=dest,
            base_url=srv.url,
            companions=True,
            retries=0,
        )
    finally:
        asyncio.run_coroutine_threadsafe(srv.runner.cleanup(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()
    status = {r.path: (r.status, r.companion) for r in report.results}
    assert status[MARK.format(7)] == ("downloaded", True) and status[MARK.format(8)] == ("missing", True)
    assert status[KLINES.format(8)] == ("missing", False)
    assert not report.ok  # a klines day the archive lacks is a failure; a companion's absence is not
    assert (dest / MARK.format(7)).read_bytes() == (root / MARK.format(7)).read_bytes()


def test_ctrl_c_exits_130_and_says_the_partial_file_is_kept_for_the_next_run(
    server: ArchiveServer, tmp_path: Path
) -> None:
    # Click's "Aborted!" and exit 1, the code for "some files failed": a retry loop
    # (`until rulebot data download ...; do sleep 60; done`) went on after Ctrl-C, and nothing
    # said the cut-short file was kept for a resume.
    server.faults[AGG] = "stall"
    args = ["download", "BTCUSD_PERP", "--kind", "aggTrades", "--from", "2026-05-08", "--to", "2026-05-08"]
    proc = subprocess.Popen(
        [sys.executable, "-m", "rulebot.cli", "data", *args, "--dest", str(tmp_path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "RULEBOT_DATA_URL": server.url},
    )
    part = tmp_path / (AGG + ".part")
    deadline = time.monotonic() + 60
    while not (part.exists() and part.stat().st_size) and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert proc.poll() is None, proc.communicate()[0]
    proc.send_signal(signal.SIGINT)
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 130, out
    assert "Aborted!" not in out and ".part" in out and "run the same command again" in out
    assert part.stat().st_size > 0
