"""The runner's sample of the account (once a minute by default): what the summary and the
charts are computed from, in memory that does not grow with the run (issue 14).

Each sample is one plain tuple (no dataclass per point: a frozen dataclass costs ~1 µs to make).
The runner takes a due sample as the first event of a later time comes, so that it sees every
event of its time (issue 33). A sample is held back until the next one comes, because the last of
a run is taken again at the end, at the run's last time; once committed, it feeds the running tallies (tally.py) and
the bounded chart series (thinned.py), and only the series' kept rows become points at the end.
"""

from __future__ import annotations

import math
from array import array
from collections.abc import Callable, Mapping, Sequence
from decimal import Decimal
from typing import Any

import numpy as np

from rulebot.backtest.result import BacktestResult, EquityPoint, SymbolPoint
from rulebot.backtest.tally import CurveTally
from rulebot.backtest.tally_runs import curve_rows, curve_run, price_run, symbol_rows, symbol_run
from rulebot.backtest.thinned import BUCKETS, LastRow, Thinned
from rulebot.core.enums import PositionSide
from rulebot.engine.engine import Engine

ZERO = Decimal(0)
_BOTH = PositionSide.BOTH
_SIDES = tuple(PositionSide)  # iterating the enum itself is slow, and this runs once a sample
_NAN = math.nan
_BATCH = 256  # samples committed at once (Sampler._flush)
_FEW = 8  # a batch of fewer is committed sample by sample
# Where BOTH falls among the sides Sampler.take sums the unrealized PnL over.
_BEFORE_BOTH = _SIDES.index(_BOTH)
_AFTER_BOTH = len(_SIDES) - 1 - _BEFORE_BOTH

# A sample: (time, equity, first symbol's price, its position, any symbol held, symbol rows);
# a symbol row: (symbol, price, position, net PnL, indicator values in `drawn` order). Only the
# symbols that have had a price have a row.
Row = tuple[int, Decimal, Decimal, Decimal, bool, tuple[tuple[str, Decimal, Decimal, Decimal, tuple[float, ...]], ...]]


class Sampler:
    __slots__ = (
        "_batch",
        "_booked",
        "_charted",
        "_curve",
        "_drawn",
        "_engine",
        "_index",
        "_last_price",
        "_pending",
        "_symbols",
        "_tally",
        "asset",
        "symbol",
    )

    def __init__(
        self,
        engine: Engine,
        symbols: Sequence[str],
        start_equity: Decimal,
        last_price: Mapping[str, Decimal],
        booked: Mapping[str, Decimal],
        drawn: Sequence[str],
        buckets: int = BUCKETS,
    ) -> None:
        self._engine = engine
        self._symbols = tuple(symbols)
        self.symbol = self._symbols[0]
        self.asset = engine.instruments[self.symbol].margin_asset
        self._last_price = last_price  # the runner's, updated by each price event
        self._booked = booked  # realized - fees - funding so far, by symbol (the runner's)
        self._drawn = tuple(drawn)
        self._index = {s: i + 1 for i, s in enumerate(self._symbols)}  # a symbol's price key in the series
        self._tally = CurveTally(start_equity)
        for s in self._symbols:
            self._tally.symbol(s)
            self._tally.price(s)
        # No bucket: no chart is drawn (the command line's run without --report), and a sample's row is
        # only its summary's part: the last one is kept, no charted value read, no chart key made.
        self._charted = buckets > 0
        self._curve = Thinned(buckets) if buckets > 0 else LastRow()
        self._pending: Row | None = None
        # One symbol's committed samples, fed to the tallies and the series a batch at a time (_flush).
        self._batch: list[Row] | None = [] if len(self._symbols) == 1 else None

    @property
    def tally(self) -> CurveTally:
        """The summary's tallies of the samples committed (a batch of them committed first)."""
        self._flush()
        return self._tally

    @property
    def curve(self) -> Thinned:
        """The chart series of the samples committed (a batch of them committed first)."""
        self._flush()
        return self._curve

    @property
    def last_time(self) -> int | None:
        return None if self._pending is None else self._pending[0]

    def take(self, time: int, equity: Decimal | None = None) -> None:
        """Sample now (`equity`: the account's, when the caller has it already)."""
        engine = self._engine
        if equity is None:
            equity = engine.equity(self.asset)
        last_price, booked, drawn = self._last_price, self._booked, self._drawn
        first = self.symbol
        amount0 = engine.position(first).amount
        unrealized = engine.unrealized
        rows = []
        held = False
        for s in self._symbols:
            price = last_price.get(s)
            if price is None:
                continue
            amount = amount0 if s == first else engine.position(s).amount
            upnl = ZERO
            for side in _SIDES:
                upnl = upnl + unrealized(s, side)  # as sum(..., ZERO) adds: the same digits
            values: tuple[float, ...] = ()
            if drawn and self._charted:
                env = engine.state.runs[s].market.env
                values = tuple(v if isinstance(v := env.get(k, _NAN), float) else _NAN for k in drawn)
            rows.append((s, price, amount, booked[s] + upnl, values))
            held = held or amount != 0
        pending = self._pending
        if pending is not None:
            self._commit(pending)
        self._pending = (time, equity, last_price.get(first, ZERO), amount0, held, tuple(rows))

    def take_run(
        self,
        times: Sequence[int],
        prices: Sequence[Decimal],
        columns: Sequence[Sequence[float]],
        equity: Decimal,
        order: np.ndarray | None = None,
    ) -> None:
        """`take(t, equity)` at each of `times`, the first symbol priced at `prices` with the charted
        values `columns` (one per drawn name, a value per time), for a single-symbol run in which
        nothing else moves (the candle array path while flat: the equity, the position and its PnL
        stand): the same rows, and the same tallies, fed in bulk (CurveTally.add_run). `order`: floats
        that order `prices` exactly (Thinned.add_run), or None."""
        engine, first = self._engine, self.symbol
        amount = engine.position(first).amount
        upnl = ZERO
        for side in _SIDES:
            upnl = upnl + engine.unrealized(first, side)
        pnl = self._booked[first] + upnl
        held = amount != 0

        def row(j: int) -> Row:
            p = prices[j]
            return (times[j], equity, p, amount, held, ((first, p, amount, pnl, tuple([c[j] for c in columns])),))

        n = len(times)
        self._commit_run(n, row, [equity] * n, prices, (np.zeros(n), order))  # the equity: all equal
        if n > 1:
            self._tally.add_run(times[:-1], equity, held)
            self._tally.symbols[first].add_run(times[:-1], amount, pnl)

    def take_held_run(
        self,
        times: Sequence[int],
        prices: Sequence[Decimal],
        columns: Sequence[Sequence[float]],
        order: np.ndarray | None = None,
    ) -> list[Decimal] | None:
        """`take(t)` at each of `times`, the first symbol marked and last priced at `prices` with the
        charted values `columns` (as take_run's), for a single-symbol run in which only the mark moves
        (the candle array path while a one-way position is held: no fill, no funding, the wallet
        stands). Each sample's equity and PnL are Portfolio.equity's and Portfolio.unrealized's at
        that mark: the same Decimal operations on the same operands in the same order, so the same
        digits and exponents. The samples' equities (the caller notes the worst day with them); None,
        and nothing taken, when the account is not so (a position other than the first symbol's
        one-way one is open)."""
        pf, first, asset = self._engine.state.portfolio, self.symbol, self.asset
        open_ = [(key, pos) for key, pos in pf.positions.items() if pos.amount]
        if len(self._symbols) != 1 or len(open_) != 1 or open_[0][0] != (first, _BOTH):
            return None
        inst = pf.instruments[first]
        if inst.margin_asset != asset:
            return None
        pos = open_[0][1]
        amount, entry, signed = pos.amount, pos.entry_price, inst.signed_pnl
        # Portfolio.equity: the wallet plus the one open position's PnL at the mark.
        wallet = pf.wallet.get(asset, ZERO)
        upnls = [signed(amount, entry, p) for p in prices]
        equities = [wallet + u for u in upnls]
        # Sampler.take's sum over _SIDES of Portfolio.unrealized: ZERO for each side but BOTH.
        head = ZERO
        for _ in range(_BEFORE_BOTH):
            head = head + ZERO
        booked = self._booked[first]
        if _AFTER_BOTH == 2:  # BOTH first of three sides: the same additions, without a loop a sample
            pnls = [booked + (head + u + ZERO + ZERO) for u in upnls]
        else:
            pnls = []
            for u in upnls:
                total = head + u
                for _ in range(_AFTER_BOTH):
                    total = total + ZERO
                pnls.append(booked + total)

        def row(j: int) -> Row:
            p = prices[j]
            drawn = tuple([c[j] for c in columns])
            return (times[j], equities[j], p, amount, True, ((first, p, amount, pnls[j], drawn),))

        n = len(times)
        self._commit_run(n, row, equities, prices, (None, order))
        m = n - 1
        curve_run(self._tally, times[:m], equities[:m], True)
        symbol_run(self._tally.symbols[first], times[:m], amount, pnls[:m])
        return equities

    def _commit_run(
        self,
        n: int,
        row: Callable[[int], Row],
        equities: Sequence[Decimal],
        prices: Sequence[Decimal],
        orders: tuple[np.ndarray | None, np.ndarray | None],
    ) -> None:
        """The pending sample committed, then a single-symbol run's n rows (`row(j)` makes row j, only
        for the rows kept) but the last, which is pending: the price tally and the chart series fed
        (the caller feeds the other tallies). `orders`: the equities' and the prices' exact-order
        floats, or None (Thinned.add_run)."""
        pending = self._pending
        if pending is not None:
            self._commit(pending)
        self._flush()
        self._pending = row(n - 1)
        m = n - 1
        if m:
            price_run(self._tally.prices[self.symbol], prices[:m])
            if self._charted:
                keys = [None if o is None else o[:m] for o in orders]
                self._curve.add_run(m, row, (equities[:m], prices[:m]), keys)
            else:
                self._curve.add_run(m, row, ())

    def _commit(self, row: Row) -> None:
        batch = self._batch
        if batch is not None and len(row[5]) == 1:
            batch.append(row)
            if len(batch) >= _BATCH:
                self._flush()
            return
        self._flush()
        self._commit_one(row)

    def _commit_one(self, row: Row) -> None:
        time, equity, _, _, held, rows = row
        tally = self._tally
        tally.add(time, equity, held)
        symbols, prices = tally.symbols, tally.prices
        if not self._charted:
            for s, price, amount, pnl, _ in rows:
                symbols[s].add(time, amount, pnl)
                prices[s].add(price)
            self._curve.add(row, ())
            return
        keys: list[Decimal | None] = [equity] + [None] * len(self._symbols)
        index = self._index
        for s, price, amount, pnl, _ in rows:
            symbols[s].add(time, amount, pnl)
            prices[s].add(price)
            keys[index[s]] = price
        self._curve.add(row, keys)

    def _flush(self) -> None:
        """The batch of one symbol's samples committed: each as `_commit` commits it, the tallies fed by
        the run functions (tally_runs.py: the same operations in the same order, in one loop each
        instead of a dozen calls a sample)."""
        batch = self._batch
        if not batch:
            return
        self._batch = []
        if len(batch) < _FEW:  # the run functions' set-up (~20 us) costs more than a few samples one by one
            for row in batch:
                self._commit_one(row)
            return
        tally = self._tally
        times = [r[0] for r in batch]
        own = [r[5][0] for r in batch]  # (symbol, price, position, PnL, values)
        curve_rows(tally, times, [r[1] for r in batch], [r[4] for r in batch])
        symbol_rows(tally.symbols[self.symbol], times, [r[2] for r in own], [r[3] for r in own])
        price_run(tally.prices[self.symbol], [r[1] for r in own])
        if not self._charted:
            self._curve.add_run(len(batch), batch.__getitem__, ())
            return
        add = self._curve.add
        for row, r in zip(batch, own, strict=True):
            add(row, [row[1], r[1]])

    def finish(self, time: int, result: BacktestResult) -> None:
        """The last sample, at the run's last time (again, if one was taken then), and the result's
        curves: the kept rows as points, the tally, and how many samples there were."""
        pending = self._pending
        if pending is not None:
            if pending[0] != time:
                self._commit(pending)
            self._pending = None
            self.take(time)
            last = self._pending
            assert last is not None
            self._commit(last)
            self._pending = None
        self._flush()
        equity_curve: list[EquityPoint] = []
        curves: dict[str, list[SymbolPoint]] = {s: [] for s in self._symbols}
        values: dict[str, dict[str, array[float]]] = {s: {k: array("d") for k in self._drawn} for s in self._symbols}
        for t, equity, price, amount, _, rows in self._curve.rows():
            equity_curve.append(EquityPoint(t, equity, price, amount))
            for s, p, position, pnl, drawn in rows:
                curves[s].append(SymbolPoint(t, p, position, pnl))
                if drawn:
                    arrays: Any = values[s]
                    for k, v in zip(self._drawn, drawn, strict=True):
                        arrays[k].append(v)
        result.equity_curve = equity_curve
        result.symbol_curves = curves
        result.indicator_values = values
        result.tally = self._tally
        result.samples = self._curve.samples
