"""Download files from Binance's public data archive (data.binance.vision), checksum-verified.

Files land under `dest` at their archive path (`futures/um/daily/klines/BTCUSDT/1m/...zip`),
beside the `.CHECKSUM` Binance publishes for each, so a replay can read the folder as it is and
a later run can verify what is there without asking the server again.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import re
from collections.abc import Iterator
from dataclasses import asdict, dataclass, replace
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import aiohttp

from rulebot.feeds.download_progress import Bar
from rulebot.feeds.replay_files import KINDS, KLINE_KINDS

DEFAULT_BASE_URL = "https://data.binance.vision"
DEFAULT_DEST = Path("data/binance-vision")
BASE_URL_ENV = "RULEBOT_DATA_URL"
DOWNLOAD_KINDS = (*KINDS, "metrics", "bookDepth", "liquidationSnapshot")
_MARKET_FOLDERS = {"usdm": "um", "coinm": "cm", "um": "um", "cm": "cm"}
_INTERVAL = re.compile(r"^\d+(s|m|h|d|w|mo)$")
_SYMBOL = re.compile(r"^[A-Z0-9_]{2,40}$")
_CHUNK = 1 << 16
# Worth another attempt: the connection broke, timed out, or the server is busy.
_RETRY_STATUS = {429, 500, 502, 503, 504}


@dataclass(frozen=True, slots=True)
class FileResult:
    """What happened to one archive file: downloaded, skipped (present and verified),
    missing (not published: 404) or failed (detail says why and what was kept)."""

    path: str  # archive path, e.g. futures/um/daily/trades/BTCUSDT/BTCUSDT-trades-2024-07-18.zip
    status: str
    detail: str = ""
    size: int = 0
    companion: bool = False  # fetched beside klines (fundingRate, markPriceKlines): its absence is no failure


@dataclass(frozen=True, slots=True)
class DownloadReport:
    dest: Path
    results: tuple[FileResult, ...]

    def with_status(self, status: str) -> tuple[FileResult, ...]:
        return tuple(r for r in self.results if r.status == status)

    @property
    def ok(self) -> bool:
        """True when every file asked for is now present and verified; a companion file the
        archive does not have (this month's fundingRate, a symbol without mark klines) is no failure."""
        return all(
            r.status in ("downloaded", "skipped") or (r.companion and r.status == "missing") for r in self.results
        )

    def to_dict(self) -> dict[str, Any]:
        counts = {s: len(self.with_status(s)) for s in ("downloaded", "skipped", "missing", "failed")}
        return {
            "dest": str(self.dest),
            "ok": self.ok,
            "counts": counts,
            "files": [asdict(r) for r in self.results],
        }


class _Missing(Exception):
    """The archive has no such file (HTTP 404)."""


class _Failed(Exception):
    """This file cannot be had now (bad checksum file, unexpected HTTP status)."""


class _Retryable(Exception):
    """A failure another attempt may fix (a dropped connection, a 5xx, a timeout)."""


def archive_paths(
    symbol: str,
    kind: str,
    *,
    interval: str | None = None,
    from_date: date | str,
    to_date: date | str,
    market: str | None = None,
    period: str | None = None,
) -> list[str]:
    """The archive paths (relative to `{base}/data/`) of the files covering the dates, in order.

    `market` defaults to coinm for COIN-M symbols (BTCUSD_PERP, BTCUSD_250627) and usdm
    otherwise; `period` to monthly for fundingRate (the archive has no daily funding files)
    and daily for the rest. Raises ValueError for a combination the archive does not have.
    """
    symbol = symbol.upper()
    if not _SYMBOL.match(symbol):
        # The symbol becomes part of the URL and of the path the file is written to: `../..` in
        # it would write outside the data folder.
        raise ValueError(f"{symbol!r} is not a Binance symbol (letters, digits and _ only, like BTCUSDT)")
    if kind not in DOWNLOAD_KINDS:
        raise ValueError(f"unknown kind {kind!r}; choose one of {', '.join(DOWNLOAD_KINDS)}")
    if kind in KLINE_KINDS:
        if not interval or not _INTERVAL.match(interval):
            raise ValueError(f"{kind} need an interval such as 1m, 15m, 1h, 1d (got {interval!r})")
    elif interval:
        raise ValueError(f"{kind} files have no interval; drop --interval {interval}")
    if market is None:
        market = "coinm" if re.search(r"USD_", symbol) else "usdm"
    folder = _MARKET_FOLDERS.get(market.lower())
    if folder is None:
        raise ValueError(f"unknown market {market!r}; choose usdm or coinm")
    period = period or ("monthly" if kind == "fundingRate" else "daily")
    if period not in ("daily", "monthly"):
        raise ValueError(f"unknown period {period!r}; choose daily or monthly")
    if kind == "fundingRate" and period == "daily":
        raise ValueError("fundingRate files are published monthly only; use --period monthly")
    start, end = _as_date(from_date), _as_date(to_date)
    if end < start:
        raise ValueError(f"--to {end} is before --from {start}")
    label = interval if kind in KLINE_KINDS else kind
    base = f"futures/{folder}/{period}/{kind}/{symbol}" + (f"/{interval}" if interval else "")
    return [f"{base}/{symbol}-{label}-{stamp}.zip" for stamp in _stamps(start, end, period)]


def companion_paths(
    symbol: str,
    kind: str,
    interval: str | None,
    from_date: date | str,
    to_date: date | str,
    market: str | None = None,
    period: str | None = None,
) -> list[str]:
    """What a backtest of these klines needs beside them, else it flatters or guesses (issue 15):
    the fundingRate files of the months they cover (monthly only; perpetuals only, a delivery
    contract pays no funding) and the mark-price klines of the same interval and period (without
    them the mark follows the last price). Nothing for other kinds."""
    if kind != "klines":
        return []
    symbol = symbol.upper()
    perpetual = "_" not in symbol or symbol.endswith("_PERP")
    funding = (
        archive_paths(symbol, "fundingRate", from_date=from_date, to_date=to_date, market=market, period="monthly")
        if perpetual
        else []
    )
    marks = archive_paths(
        symbol,
        "markPriceKlines",
        interval=interval,
        from_date=from_date,
        to_date=to_date,
        market=market,
        period=period,
    )
    return funding + marks


def download(
    symbol: str,
    kind: str,
    *,
    interval: str | None = None,
    from_date: date | str,
    to_date: date | str,
    market: str | None = None,
    period: str | None = None,
    dest: str | Path = DEFAULT_DEST,
    base_url: str | None = None,
    concurrency: int = 4,
    retries: int = 3,
    retry_delay: float = 1.0,
    progress: bool = False,
    companions: bool = False,
) -> DownloadReport:
    """Fetch the archive files of a symbol and kind over a date range into `dest`.

    Each file is verified against its published `.CHECKSUM` (a mismatch is reported and the
    file not kept); a broken download resumes from its `.part` file with an HTTP Range
    request; files already present and matching their checksum are skipped; days the archive
    does not have (404) are reported as missing while the rest carry on. `base_url` defaults
    to $RULEBOT_DATA_URL, then https://data.binance.vision.

    `companions` (klines only): also the files a backtest of those klines needs to not flatter
    (`companion_paths`): the months' fundingRate and the mark-price klines of the same interval
    and period. One the archive lacks is reported missing without failing the download.
    """
    return asyncio.run(
        download_async(
            symbol,
            kind,
            interval=interval,
            from_date=from_date,
            to_date=to_date,
            market=market,
            period=period,
            dest=dest,
            base_url=base_url,
            concurrency=concurrency,
            retries=retries,
            retry_delay=retry_delay,
            progress=progress,
            companions=companions,
        )
    )


async def download_async(
    symbol: str,
    kind: str,
    *,
    interval: str | None = None,
    from_date: date | str,
    to_date: date | str,
    market: str | None = None,
    period: str | None = None,
    dest: str | Path = DEFAULT_DEST,
    base_url: str | None = None,
    concurrency: int = 4,
    retries: int = 3,
    retry_delay: float = 1.0,
    progress: bool = False,
    companions: bool = False,
) -> DownloadReport:
    """`download` for callers already inside an event loop."""
    paths = archive_paths(
        symbol,
        kind,
        interval=interval,
        from_date=from_date,
        to_date=to_date,
        market=market,
        period=period,
    )
    extra = [p for p in companion_paths(symbol, kind, interval, from_date, to_date, market, period) if p not in paths]
    paths += extra if companions else []
    base = (base_url or os.environ.get(BASE_URL_ENV) or DEFAULT_BASE_URL).rstrip("/")
    dest = Path(dest)
    bar = Bar(progress, len(paths))
    limit = asyncio.Semaphore(max(1, concurrency))
    timeout = aiohttp.ClientTimeout(total=None, sock_connect=30, sock_read=60)
    async with aiohttp.ClientSession(timeout=timeout, headers={"User-Agent": "rulebot"}) as session:
        fetcher = _Fetcher(session, base, dest, retries, retry_delay, bar)

        async def one(rel: str) -> FileResult:
            async with limit:
                result = await fetcher.fetch(rel)
            if companions and rel in extra:
                # Missing is no failure here: the backtest states what stood in for it.
                result = replace(result, companion=True)
            bar.finished(result)
            return result

        with bar:
            results = await asyncio.gather(*(one(rel) for rel in paths))
    return DownloadReport(dest, tuple(results))


class _Fetcher:
    """Fetches one archive file at a time (several run concurrently on one session)."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        base: str,
        dest: Path,
        retries: int,
        retry_delay: float,
        bar: Bar,
    ) -> None:
        self.session, self.base, self.dest = session, base, dest
        self.retries, self.retry_delay, self.bar = retries, retry_delay, bar

    async def fetch(self, rel: str) -> FileResult:
        target = self.dest / rel
        url = f"{self.base}/data/{rel}"
        checksum_file = target.with_name(target.name + ".CHECKSUM")
        try:
            if target.is_file():
                skipped = await self._verify_present(rel, url, target, checksum_file)
                if skipped is not None:
                    return skipped
            published = await self._get_text(url + ".CHECKSUM")
            expected = _parse_checksum(published, target.name, url)
            target.parent.mkdir(parents=True, exist_ok=True)
            part = target.with_name(target.name + ".part")
            resumed = await self._download(url, part, rel)
            digest = await asyncio.to_thread(_sha256, part)
            if digest != expected and resumed:
                # The kept prefix may be from an older version of the file: start over once.
                part.unlink()
                await self._download(url, part, rel)
                digest = await asyncio.to_thread(_sha256, part)
            if digest != expected:
                part.unlink()
                return FileResult(
                    rel,
                    "failed",
                    f"checksum mismatch: got {digest}, Binance publishes {expected}; "
                    "the download was deleted, run again to retry",
                )
            part.replace(target)
            checksum_file.write_text(published)
            return FileResult(rel, "downloaded", "resumed" if resumed else "", target.stat().st_size)
        except _Missing:
            return FileResult(rel, "missing", f"not in the archive (404): {url}")
        except (_Failed, _Retryable, aiohttp.ClientError, OSError, TimeoutError) as exc:
            return FileResult(rel, "failed", str(exc) or type(exc).__name__)

    async def _verify_present(self, rel: str, url: str, target: Path, checksum_file: Path) -> FileResult | None:
        """A skip result if the file on disk matches its checksum; None to download it again."""
        if checksum_file.is_file():
            expected = _parse_checksum(checksum_file.read_text(), target.name, str(checksum_file))
        else:
            try:
                text = await self._get_text(url + ".CHECKSUM")
            except _Missing:
                return FileResult(rel, "skipped", "present; Binance publishes no checksum for it")
            expected = _parse_checksum(text, target.name, url)
            checksum_file.write_text(text)
        if await asyncio.to_thread(_sha256, target) == expected:
            return FileResult(rel, "skipped", "present and verified", target.stat().st_size)
        target.unlink()  # damaged or outdated: fetch it again
        return None

    async def _get_text(self, url: str) -> str:
        for attempt in range(self.retries + 1):
            try:
                async with self.session.get(url) as resp:
                    _check_status(resp, url)
                    return await resp.text()
            except (_Retryable, aiohttp.ClientConnectionError, aiohttp.ClientPayloadError, TimeoutError):
                if attempt == self.retries:
                    raise
                await asyncio.sleep(self.retry_delay * 2**attempt)
        raise AssertionError("unreachable")

    async def _download(self, url: str, part: Path, rel: str) -> bool:
        """Fill `part` with the file, resuming what a broken attempt left; True if it resumed."""
        resumed = False
        for attempt in range(self.retries + 1):
            offset = part.stat().st_size if part.exists() else 0
            try:
                resumed = await self._get_body(url, part, offset, rel) or resumed
                return resumed
            except (_Retryable, aiohttp.ClientConnectionError, aiohttp.ClientPayloadError, TimeoutError) as exc:
                if attempt == self.retries:
                    kept = part.stat().st_size if part.exists() else 0
                    raise _Retryable(
                        f"download broke off after {kept} bytes ({exc or type(exc).__name__}); "
                        f"the partial file {part.name} is kept, run again to resume"
                    ) from None
                await asyncio.sleep(self.retry_delay * 2**attempt)
        raise AssertionError("unreachable")

    async def _get_body(self, url: str, part: Path, offset: int, rel: str) -> bool:
        headers = {"Range": f"bytes={offset}-"} if offset else {}
        async with self.session.get(url, headers=headers) as resp:
            if resp.status == 416:
                return True  # the part is already whole; the checksum decides
            _check_status(resp, url)
            resumed = resp.status == 206
            if resumed and not resp.headers.get("Content-Range", "").startswith(f"bytes {offset}-"):
                raise _Retryable(f"{url}: server answered the range request with another range")
            if not resumed:
                offset = 0  # the server sent the whole file
            total = offset + (resp.content_length or 0)
            self.bar.start(rel, offset, total)
            with part.open("ab" if resumed else "wb") as out:
                async for chunk in resp.content.iter_chunked(_CHUNK):
                    out.write(chunk)
                    self.bar.advance(rel, len(chunk))
            return resumed


def _check_status(resp: aiohttp.ClientResponse, url: str) -> None:
    if resp.status == 404:
        raise _Missing(url)
    if resp.status in _RETRY_STATUS:
        raise _Retryable(f"{url}: HTTP {resp.status}")
    if resp.status not in (200, 206):
        raise _Failed(f"{url}: HTTP {resp.status} {resp.reason}")


def _parse_checksum(text: str, name: str, source: str) -> str:
    """The sha256 from Binance's `<sha256>  <filename>` line, checked to name this file."""
    fields = text.split()
    if len(fields) != 2 or not re.fullmatch(r"[0-9a-fA-F]{64}", fields[0]):
        raise _Failed(f"{source}: not a checksum file ({text[:80]!r})")
    if fields[1] != name:
        raise _Failed(f"{source}: the checksum is for {fields[1]}, not {name}")
    return fields[0].lower()


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def _as_date(value: date | str) -> date:
    return value if isinstance(value, date) else date.fromisoformat(value)


def _stamps(start: date, end: date, period: str) -> Iterator[str]:
    if period == "daily":
        for n in range((end - start).days + 1):
            yield (start + timedelta(days=n)).isoformat()
        return
    year, month = start.year, start.month
    while (year, month) <= (end.year, end.month):
        yield f"{year:04d}-{month:02d}"
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
