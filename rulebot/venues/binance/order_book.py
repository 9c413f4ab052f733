"""A local order book kept with Binance's snapshot + diff algorithm (FACTS §9.1).

1. Buffer the diff stream (`<symbol>@depth`) from before the snapshot.
2. Fetch a REST snapshot (`/depth?limit=1000`): `lastUpdateId`.
3. Drop buffered diffs with `u` < lastUpdateId; the first one applied must have
   `U` <= lastUpdateId <= `u`.
4. Every later diff must chain: its `pu` equals the previous diff's `u`. Otherwise a diff was
   missed: the book is thrown away and rebuilt from a new snapshot (counted in `resyncs`).
Quantities are absolute; 0 removes the level. Pure: the snapshot comes from a callable.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from decimal import Decimal
from typing import Any

from rulebot.venues.binance.parse_market import DepthUpdate

FetchDepth = Callable[[str], Awaitable[Mapping[str, Any]]]


class LocalOrderBook:
    def __init__(self, symbol: str, fetch_depth: FetchDepth) -> None:
        self.symbol = symbol
        self._fetch = fetch_depth
        self.bids: dict[Decimal, Decimal] = {}
        self.asks: dict[Decimal, Decimal] = {}
        self.last_update_id: int | None = None  # None: not in sync
        self._buffer: list[DepthUpdate] = []
        self.resyncs = 0
        self.synced = False

    async def on_diff(self, d: DepthUpdate) -> None:
        if not self.synced:
            self._buffer.append(d)
            await self._sync()
            return
        if d.prev_final_update_id != self.last_update_id:
            self.resyncs += 1
            self.synced = False
            self._buffer = [d]
            await self._sync()
            return
        self._apply(d)

    async def _sync(self) -> None:
        snap = await self._fetch(self.symbol)
        last = int(snap["lastUpdateId"])
        pending = [d for d in self._buffer if d.final_update_id >= last]
        if not pending:
            return  # wait for a diff that covers the snapshot
        first = pending[0]
        if first.first_update_id > last:
            return  # the snapshot is older than the buffer: fetch again on the next diff
        self.bids = {Decimal(p): Decimal(q) for p, q in snap["bids"]}
        self.asks = {Decimal(p): Decimal(q) for p, q in snap["asks"]}
        self.last_update_id = last
        self.synced = True
        self._buffer = []
        self._apply(first, check=False)
        for d in pending[1:]:
            if d.prev_final_update_id != self.last_update_id:
                self.resyncs += 1
                self.synced = False
                self._buffer = [d]
                return
            self._apply(d)

    def _apply(self, d: DepthUpdate, check: bool = True) -> None:
        for book, levels in ((self.bids, d.bids), (self.asks, d.asks)):
            for price, qty in levels:
                if qty == 0:
                    book.pop(price, None)
                else:
                    book[price] = qty
        self.last_update_id = d.final_update_id

    def best(self) -> tuple[Decimal | None, Decimal | None]:
        return (max(self.bids) if self.bids else None, min(self.asks) if self.asks else None)
