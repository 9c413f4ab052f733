"""What every worker needs, shipped once: the rulebook text, the archive files' bytes, the contract specs.

The archive files travel as their compressed bytes (a day of 1m candles is ~35 kB zipped against
~200 kB of pickled events) and each worker parses them once, with the same `ReplaySource` a
plain `rulebot backtest` uses, then keeps the events in memory for every trial it runs. A trial
takes a time slice of them; `start <= time < end`, exactly what `backtest --from/--to` keeps.
"""

from __future__ import annotations

import bisect
import hashlib
import shutil
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path, PurePath

from rulebot.backtest.runner import BacktestConfig
from rulebot.core.instruments import Instrument
from rulebot.core.margin import BracketTable
from rulebot.feeds.replay import ReplaySource


@dataclass(frozen=True)
class Workload:
    rulebook_text: str
    rulebook_file: str
    symbols: tuple[str, ...]
    files: tuple[tuple[str, bytes], ...]  # (the path as given on the driver, its bytes)
    config: BacktestConfig
    # Contract specs for each trial window, worked out on the driver as `rulebot backtest` would.
    instruments: Mapping[tuple[int | None, int | None], Mapping[str, Instrument]]
    brackets: Mapping[str, BracketTable]
    inverse_size: Decimal | None  # the contract size of an inverse symbol, for open PnL in coin
    key: str = field(default="")

    @staticmethod
    def digest(rulebook_text: str, files: Sequence[tuple[str, bytes]]) -> str:
        h = hashlib.sha256(rulebook_text.encode())
        for name, data in files:
            h.update(name.encode())
            h.update(hashlib.sha256(data).digest())
        return h.hexdigest()[:16]

    @property
    def size(self) -> int:
        return sum(len(data) for _, data in self.files) + len(self.rulebook_text)


def read_files(source: ReplaySource) -> tuple[tuple[str, bytes], ...]:
    return tuple((str(f.path), Path(f.path).read_bytes()) for f in source.files)


class Events:
    """A worker's parsed events, sliced by time for each trial."""

    def __init__(self, events: list[object]):
        self.events = events
        self.times = [e.time for e in events]  # type: ignore[attr-defined]

    def window(self, start: int | None, end: int | None) -> list[object]:
        lo = 0 if start is None else bisect.bisect_left(self.times, start)
        hi = len(self.events) if end is None else bisect.bisect_left(self.times, end)
        return self.events[lo:hi]


def parse_files(files: Sequence[tuple[str, bytes]], symbols: Sequence[str]) -> Events:
    """The files' events, time-ordered, parsed from their bytes in a private temporary folder.

    Each file keeps its path below the folder, so the archive layout that tells a file's market
    and kind (futures/um/daily/klines/...) reads as it did on the driver.
    """
    root = Path(tempfile.mkdtemp(prefix="rulebot-sweep-"))
    try:
        paths = []
        for name, data in files:
            parts = [p for p in PurePath(name).parts if p not in ("/", "\\", "..") and not p.endswith(":\\")]
            dest = root.joinpath(*parts)
            dest.parent.mkdir(parents=True, exist_ok=True)
            dest.write_bytes(data)
            paths.append(dest)
        return Events(list(ReplaySource(paths, symbols=set(symbols))))
    finally:
        shutil.rmtree(root, ignore_errors=True)


_LOADED: dict[str, Events] = {}
_PARSES = [0]


def events_of(workload: Workload) -> Events:
    """This process's events for `workload`, parsed on first use: once per worker, not per trial."""
    events = _LOADED.get(workload.key)
    if events is None:
        _LOADED.clear()  # one sweep at a time per worker: drop the last one's events
        events = _LOADED[workload.key] = parse_files(workload.files, workload.symbols)
        _PARSES[0] += 1
    return events


def parses_here() -> int:
    """How many times this process has parsed a workload's files (once per worker and sweep)."""
    return _PARSES[0]
