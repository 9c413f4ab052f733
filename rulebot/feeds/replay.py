"""Replay Binance archive files as one time-ordered stream of market events.

`describe` tells what a file holds from its archive path. `ReplaySource` takes files and
folders laid out like data.binance.vision, groups the files into series (one kind, symbol and
interval; files chained in date order, so one file per series is open at a time) and merges
the series by event time. Row parsing lives in `replay_files.py`.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import re
from collections.abc import Generator, Iterable, Iterator
from datetime import UTC, date, datetime
from operator import attrgetter
from pathlib import Path
from typing import TypeVar

from rulebot.core.enums import Market
from rulebot.core.errors import InvalidInput
from rulebot.core.events import Event, MarketEvent
from rulebot.feeds.kline_chunks import KlineChunk
from rulebot.feeds.replay_files import (
    KINDS,
    KLINE_KINDS,
    NO_END,
    ArchiveFile,
    ReplayFileError,
    check_head,
    file_batches,
    parse_file,
)
from rulebot.feeds.trade_runs import TRADE_KINDS, merge_runs, series_chunks

__all__ = [
    "IGNORED_KINDS",
    "KINDS",
    "ArchiveFile",
    "ReplayFileError",
    "ReplaySource",
    "describe",
    "merge",
    "read_events",
    "to_ms",
]

log = logging.getLogger(__name__)

# Archive kinds that hold no market events; a replay names them and moves on.
IGNORED_KINDS = {
    "metrics": "metrics files hold open interest and long/short ratios, not market events",
    "bookDepth": "bookDepth files hold depth percentages, not a replayable book",
    "liquidationSnapshot": "liquidationSnapshot files are not replayed",
    "BVOLIndex": "BVOLIndex files are options data",
    "EOHSummary": "EOHSummary files are options data",
}
_NAME = re.compile(r"^(?P<symbol>[A-Za-z0-9_]+)-(?P<what>[A-Za-z0-9]+)-(?P<date>\d{4}-\d{2}(?:-\d{2})?)$")
_INTERVAL = re.compile(r"^\d+(?:[smhdwM]|mo)$")  # the archive names monthly bars "1mo"
_MARKETS = {"um": Market.USDM, "cm": Market.COINM}

E = TypeVar("E", bound=Event)

# At equal timestamps: prices before the funding that settles on them, the book before the
# trades that hit it, and candles last, so a trade in a candle's final millisecond comes
# before the candle closes.
KIND_PRIORITY = {
    "indexPriceKlines": 0,
    "premiumIndexKlines": 0,
    "markPriceKlines": 1,
    "fundingRate": 2,
    "bookTicker": 3,
    "aggTrades": 4,
    "trades": 4,
    "klines": 5,
}
# Files are pruned by the day or month in their name; keep an hour's slack so a row stamped
# just past its file's period (a funding calc_time a few ms late) is never lost.
_SLACK_MS = 3_600_000

TimeLike = int | datetime | date | str


def describe(
    path: str | Path,
    *,
    kind: str | None = None,
    symbol: str | None = None,
    interval: str | None = None,
    market: Market | str | None = None,
) -> ArchiveFile:
    """What a file holds, from its archive path; any argument given overrides the inference.

    `futures/um/daily/klines/BTCUSDT/1m/BTCUSDT-1m-2025-06-07.zip` → klines, BTCUSDT, USDM, 1m.
    Mark/index/premium klines are named like klines and told apart by their folder; a
    `SYMBOL-1m-DATE` name outside such a folder is taken as plain `klines`.
    """
    path = Path(path)
    name = path.name.removesuffix(".zip").removesuffix(".csv")
    m = _NAME.match(name)
    folders = path.parts[:-1]
    found_kind = found_interval = None
    if m:
        what = m["what"]
        if _INTERVAL.match(what):
            found_interval = what
            found_kind = next((p for p in reversed(folders) if p in KLINE_KINDS), "klines")
        else:
            found_kind = what
    kind = kind or found_kind
    symbol = (symbol or (m["symbol"] if m else "")).upper() or None
    if kind is None or symbol is None:
        raise ReplayFileError(
            f"{path}: cannot tell what this file holds from its name; archive files are named "
            "like BTCUSDT-aggTrades-2026-05-08.zip or BTCUSDT-1m-2025-06-07.zip: rename it so (from Python, "
            "ReplaySource's kind= and symbol= read another name)"
        )
    if kind not in KINDS and kind not in IGNORED_KINDS:
        raise ReplayFileError(f"{path}: unknown kind {kind!r}; replay reads {', '.join(KINDS)}")
    interval = interval or found_interval
    if kind in KLINE_KINDS and interval is None:
        raise ReplayFileError(f"{path}: a {kind} file needs an interval (pass interval='1m')")
    if market is None:
        market = next((_MARKETS[p] for p in folders if p in _MARKETS), None)
    elif not isinstance(market, Market):
        market = _MARKETS.get(market) or Market(market.upper())
    return ArchiveFile(path, kind, symbol, market, interval, m["date"] if m else None)


def read_events(
    file: ArchiveFile | str | Path, start: TimeLike = 0, end: TimeLike = NO_END
) -> Generator[MarketEvent, None, int]:
    """One file's events with `start <= time < end`; a path is described by its name."""
    if not isinstance(file, ArchiveFile):
        file = describe(file)
    if file.kind in IGNORED_KINDS:
        raise ReplayFileError(f"{file.path}: {IGNORED_KINDS[file.kind]}; replay ignores them")
    return parse_file(file, to_ms(start), to_ms(end))


def merge(*streams: Iterable[E]) -> Iterator[E]:
    """Merge time-ordered streams into one; equal times keep the order of the arguments."""
    if len(streams) == 1:  # nothing to merge: no layer between the stream and its reader
        return iter(streams[0])
    # heapq.merge breaks key ties by argument position, which makes the order deterministic.
    return heapq.merge(*streams, key=attrgetter("time"))


def to_ms(value: TimeLike) -> int:
    """Epoch ms (UTC) from ms, a datetime (naive = UTC), a date, or ISO text like '2025-06-07'."""
    if isinstance(value, bool):
        raise TypeError("a time cannot be a bool")
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if not isinstance(value, datetime):
        value = datetime(value.year, value.month, value.day)
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return int(value.timestamp() * 1000)


class ReplaySource:
    """Archive files and folders (walked) replayed as one time-ordered event stream.

    Events with `start <= time < end` are yielded. `kind`, `symbol`, `interval` and `market`
    override what file names say (for files not named as the archive names them); `kinds` and
    `symbols` keep only those. Files of kinds that hold no market events (metrics, bookDepth)
    are left out and listed in `skipped` with the reason. Iterating twice replays twice.
    """

    def __init__(
        self,
        paths: str | Path | Iterable[str | Path],
        start: TimeLike | None = None,
        end: TimeLike | None = None,
        *,
        kind: str | None = None,
        symbol: str | None = None,
        interval: str | None = None,
        market: Market | str | None = None,
        kinds: Iterable[str] | None = None,
        symbols: Iterable[str] | None = None,
    ) -> None:
        if isinstance(paths, (str, Path)):
            paths = [paths]
        self.start = 0 if start is None else to_ms(start)
        self.end = NO_END if end is None else to_ms(end)
        if self.end <= self.start:
            raise InvalidInput(f"empty time range: end {end} is not after start {start}")
        keep_kinds = None if kinds is None else set(kinds)
        if keep_kinds is not None and (unknown := keep_kinds - set(KINDS)):
            raise InvalidInput(f"unknown kinds {sorted(unknown)}; replay reads {', '.join(KINDS)}")
        keep_symbols = None if symbols is None else {s.upper() for s in symbols}
        overrides = {"kind": kind, "symbol": symbol, "interval": interval, "market": market}
        files: list[ArchiveFile] = []
        skipped: list[tuple[Path, str]] = []
        for path, walked in _expand(paths):
            try:
                file = describe(path, **overrides)
            except ReplayFileError as exc:
                if not walked:
                    raise
                skipped.append((path, str(exc)))
                continue
            if file.kind in IGNORED_KINDS:
                skipped.append((path, IGNORED_KINDS[file.kind]))
                continue
            if keep_kinds is not None and file.kind not in keep_kinds:
                continue
            if keep_symbols is not None and file.symbol not in keep_symbols:
                continue
            if self._outside(file):
                continue
            files.append(file)
        for path, reason in skipped:
            log.warning("replay skips %s: %s", path, reason)
        self.files: tuple[ArchiveFile, ...] = tuple(files)
        self.skipped: tuple[tuple[Path, str], ...] = tuple(skipped)
        # True: a single trade series comes as `TradeRun`s (trade_runs.py), for the backtest's fast path.
        self.trade_runs = False
        # True: a kline series alone comes as `KlineChunk`s (kline_chunks.py), for its candle array path.
        self.kline_chunks = False
        for series in self.series.values():
            _check_no_overlap(series)

    @property
    def series(self) -> dict[tuple[str, str, str], tuple[ArchiveFile, ...]]:
        """Files grouped by (kind, symbol, interval), in merge order, each in date order."""
        groups: dict[tuple[str, str, str], list[ArchiveFile]] = {}
        for file in self.files:
            groups.setdefault((file.kind, file.symbol, file.interval or ""), []).append(file)
        order = sorted(groups, key=lambda k: (KIND_PRIORITY[k[0]], k[1], k[2], k[0]))
        return {key: tuple(sorted(groups[key], key=lambda f: (f.date or "", str(f.path)))) for key in order}

    def __iter__(self) -> Iterator[MarketEvent]:
        series = self.series
        trade_keys = [key for key in series if key[0] in TRADE_KINDS]
        if self.trade_runs and len(trade_keys) == 1:
            others = merge(*(self._chain(files) for key, files in series.items() if key != trade_keys[0]))
            return merge_runs(series_chunks(series[trade_keys[0]], self.start, self.end), others)  # type: ignore[return-value]
        if self.gives_chunks:
            return self._chunks(next(iter(series.values())))  # type: ignore[return-value]
        return merge(*(self._chain(files) for files in series.values()))

    def _chain(self, files: Iterable[ArchiveFile]) -> Iterator[MarketEvent]:
        # The events of each block are handed on by `chain` (C): no generator frame per event.
        return itertools.chain.from_iterable(self._batches(files))  # type: ignore[arg-type]  # no chunks asked

    def _chunks(self, files: Iterable[ArchiveFile]) -> Iterator[KlineChunk | MarketEvent]:
        # The kline series' chunks; the candles of a file the row parser reads, one by one.
        for batch in self._batches(files, True):
            if type(batch) is KlineChunk:
                yield batch
            else:
                yield from batch  # type: ignore[misc]

    def _batches(
        self, files: Iterable[ArchiveFile], chunks: bool = False
    ) -> Generator[Iterator[MarketEvent] | KlineChunk, None, None]:
        # Files open lazily one after another, each checked to start no earlier than the
        # previous one ended (overlapping files of one series would break time order).
        last = 0
        for file in files:
            last = yield from file_batches(file, self.start, self.end, last, chunks)

    def check_heads(self) -> None:
        """Open every file and read its header and first row (see `check_head`): what a replay would
        find on reaching each file, found now, before anything depends on the replay."""
        for file in self.files:
            check_head(file)

    @property
    def gives_runs(self) -> bool:
        """Whether iterating gives `TradeRun`s (a single trade series, asked for by `trade_runs`)."""
        return self.trade_runs and sum(key[0] in TRADE_KINDS for key in self.series) == 1

    @property
    def gives_chunks(self) -> bool:
        """Whether iterating gives `KlineChunk`s (a kline series alone, asked for by `kline_chunks`)."""
        return self.kline_chunks and [key[0] for key in self.series] == ["klines"]

    def _outside(self, file: ArchiveFile) -> bool:
        period = file.period()
        if period is None:
            return False
        return period[1] + _SLACK_MS <= self.start or period[0] - _SLACK_MS >= self.end


def _check_no_overlap(files: Iterable[ArchiveFile]) -> None:
    """Two files of one series whose names cover the same time (a monthly file and one of its
    days, or one file given twice under two names) would replay the same rows twice."""
    dated = sorted(((p, f) for f in files if (p := f.period()) is not None), key=lambda pf: pf[0])
    for (period, file), (next_period, next_file) in itertools.pairwise(dated):
        if next_period[0] < period[1]:
            raise ReplayFileError(
                f"{next_file.path} and {file.path} cover the same time ({next_file.date} and {file.date}) "
                f"in one {file.kind} series of {file.symbol}; give one or the other, not both"
            )


def _expand(paths: Iterable[str | Path]) -> Iterator[tuple[Path, bool]]:
    """Each file given, and each .zip/.csv under each folder given (sorted); True if walked.

    A file reached twice (a folder and a file in it) is yielded once: replayed twice, its
    events would repeat.
    """
    seen: set[Path] = set()
    for entry in paths:
        path = Path(entry)
        if path.is_dir():
            found = [(p, True) for p in sorted(path.rglob("*")) if p.suffix.lower() in (".zip", ".csv")]
        elif path.is_file():
            found = [(path, False)]
        else:
            raise FileNotFoundError(f"replay input {path} does not exist")
        for file, walked in found:
            key = file.resolve()
            if key not in seen and file.is_file():
                seen.add(key)
                yield file, walked
