"""What a backtest produces: the record its summary table and report are computed from.

Plain values only, so the statistics and the report can be tested without running anything.
"""

from __future__ import annotations

from array import array
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Literal

from rulebot.backtest.chart_series import IndicatorLine
from rulebot.backtest.data_gaps import Gap, gap_warnings
from rulebot.backtest.never_ran import NeverRan
from rulebot.backtest.open_end import OpenAtEnd
from rulebot.backtest.packed import Packed
from rulebot.backtest.warmup import WarmupReport
from rulebot.core.fees import DEFAULT_FEE_RATES, FeeRates
from rulebot.core.frozen import fast_init
from rulebot.exchange_sim.model import FillModel

if TYPE_CHECKING:
    from rulebot.backtest.tally import CurveTally


@fast_init
@dataclass(frozen=True, slots=True)
class FillRecord:
    time: int
    symbol: str
    side: Literal["BUY", "SELL"]
    quantity: Decimal
    price: Decimal
    fee: Decimal  # in the margin asset
    realized_pnl: Decimal  # of this fill, before fees
    reduce_only: bool
    purpose: str  # entry, exit, stop_loss, take_profit, trailing_stop, deleverage, protective, flatten, liquidation
    rule: str
    client_order_id: str
    # BOTH in one-way mode; LONG or SHORT for a hedge-mode leg, which is its own round trip: a SELL
    # that opens the short leg does not close the long one (round_trips.py).
    position_side: str = "BOTH"


def _fill_row(f: FillRecord) -> tuple[Any, ...]:
    return (
        f.time,
        f.symbol,
        f.side,
        str(f.quantity),
        str(f.price),
        str(f.fee),
        str(f.realized_pnl),
        f.reduce_only,
        f.purpose,
        f.rule,
        f.client_order_id,
        f.position_side,
    )


def _fill_of(r: tuple[Any, ...]) -> FillRecord:
    return FillRecord(r[0], r[1], r[2], Decimal(r[3]), Decimal(r[4]), Decimal(r[5]), Decimal(r[6]), *r[7:])


def packed_fills() -> Packed[FillRecord]:
    """The runner's fills, packed (packed.py): a year of them in a few MB."""
    return Packed(_fill_row, _fill_of)


@dataclass(frozen=True, slots=True)
class EquityPoint:
    time: int
    equity: Decimal  # wallet + unrealized at mark, in the margin asset
    price: Decimal  # the symbol's last price, for the price chart
    position: Decimal  # signed position size


@dataclass(frozen=True, slots=True)
class SymbolPoint:
    """One symbol at a sample time: what its own chart, exposure and drawdown are computed from."""

    time: int
    price: Decimal  # its last price
    position: Decimal  # signed
    pnl: Decimal  # its net PnL so far: realized - fees - funding + unrealized at mark


@fast_init
@dataclass(frozen=True, slots=True)
class Marker:
    """Something to draw on the price chart."""

    time: int
    price: Decimal
    kind: Literal["entry", "exit", "stop", "take_profit", "liquidation", "guard"]
    label: str
    symbol: str = ""


def packed_markers() -> Packed[Marker]:
    return Packed(lambda m: (m.time, str(m.price), m.kind, m.label, m.symbol), _marker_of)


def _marker_of(r: tuple[Any, ...]) -> Marker:
    return Marker(r[0], Decimal(r[1]), *r[2:])


@fast_init
@dataclass(frozen=True, slots=True)
class GuardEvent:
    time: int
    guard: str
    verdict: Literal["resize", "reject", "act"]
    reason: str
    rule: str
    symbol: str = ""


def packed_guard_events() -> Packed[GuardEvent]:
    return Packed(lambda g: (g.time, g.guard, g.verdict, g.reason, g.rule, g.symbol), lambda r: GuardEvent(*r))


@dataclass
class RuleErrors:
    """How often one rule's condition failed at run time (it was then treated as false)."""

    count: int
    first_time: int
    first_error: str  # e.g. "ZeroDivisionError: float division by zero", "ValueError: atr is NaN ..."
    symbol: str


@dataclass(frozen=True, slots=True)
class WorstDay:
    """The UTC day whose daily PnL went lowest, against that day's loss cap."""

    day_start: int  # ms, 00:00 UTC
    pnl: Decimal  # the lowest daily PnL seen that day (equity at mark less the day's start)
    cap: Decimal  # the day's daily_loss_cap, in the margin asset


@dataclass
class BacktestResult:
    """The whole account (`equity_curve`, totals) and, for a rulebook that trades several
    symbols, each symbol on its own (`symbol_curves`, the `*_by_symbol` maps, fills by symbol)."""

    rulebook: str
    version: str
    symbol: str  # the first symbol (EquityPoint.price/position are its own)
    margin_asset: str
    start_time: int
    end_time: int
    start_equity: Decimal
    events: int
    # A run's fills, markers and guard events are packed (packed.py: a Sequence, bounded per item);
    # a result built by hand may hold lists.
    fills: Sequence[FillRecord] = field(default_factory=list)
    # Sampled (e.g. once per minute) for the charts: every sample of a short run, a bounded number
    # of a long one (thinned.py: the first, last, lowest and highest of each span of samples).
    equity_curve: list[EquityPoint] = field(default_factory=list)
    markers: Sequence[Marker] = field(default_factory=list)
    guard_events: Sequence[GuardEvent] = field(default_factory=list)
    funding_paid: Decimal = Decimal(0)  # positive: paid out; negative: received
    fees_paid: Decimal = Decimal(0)
    liquidations: int = 0
    decisions: int = 0
    end_equity: Decimal = Decimal(0)  # wallet + unrealized at mark: before `open_at_end`'s exit fees
    rule_errors: dict[str, RuleErrors] = field(default_factory=dict)  # by rule name
    symbols: tuple[str, ...] = ()  # every symbol the rulebook trades; () means (symbol,)
    symbol_curves: dict[str, list[SymbolPoint]] = field(default_factory=dict)  # sampled with equity_curve
    funding_by_symbol: dict[str, Decimal] = field(default_factory=dict)  # paid (positive) or received
    unrealized_by_symbol: dict[str, Decimal] = field(default_factory=dict)  # at mark, at the end
    decisions_by_symbol: dict[str, int] = field(default_factory=dict)
    events_by_symbol: dict[str, int] = field(default_factory=dict)
    worst_day: WorstDay | None = None
    fee_rates: FeeRates = DEFAULT_FEE_RATES
    fill_model: FillModel = FillModel()  # which fill model ran, with its parameters (the summary says)
    # Funding times (8-hourly) a position of the symbol was held across with no funding rate in
    # the data: the summary's funding misses them.
    unfunded: dict[str, int] = field(default_factory=dict)
    # Orders the exchange refused (an `order-rejected` notice), and the first one's message: a run
    # without a fill says them, as it says the guards' refusals.
    exchange_refusals: int = 0
    first_exchange_refusal: str = ""
    # What each symbol's mark price followed (venues/paper.py: mark-price klines walked through
    # their highs and lows, a mark stream, or the last price when the data has no mark).
    mark_sources: dict[str, str] = field(default_factory=dict)
    # Liquidation clearance fees (in `fees_paid` too: they are the liquidation fills' commission).
    clearance_fees: Decimal = Decimal(0)
    adl_model: str = "off"  # AdlModel.describe()
    # Where the inputs the summary's `assumptions` name came from (assumptions.py): the brackets
    # (snapshot and date, or the file), the fee rates (defaults or --fees), how many funding
    # rates each symbol's data held, and each symbol's liquidation clearance fee rate.
    brackets_source: str = ""
    fees_source: str = ""
    funding_rates: dict[str, int] = field(default_factory=dict)
    clearance_rates: dict[str, Decimal] = field(default_factory=dict)
    adl_closes: list[tuple[int, str, Decimal, Decimal]] = field(default_factory=list)  # time, symbol, qty, price

    @property
    def mark_price_text(self) -> str:
        """The summary's `mark price` line: one text if every symbol's mark had the same source."""
        kinds = set(self.mark_sources.values())
        if not kinds:
            return "-"
        if len(kinds) == 1:
            return kinds.pop()
        return "; ".join(f"{s}: {text}" for s, text in sorted(self.mark_sources.items()))

    # The indicators the rules read (chart_series.py) and, by symbol and name, their value at each
    # sample of `symbol_curves` (NaN while not warm): what the report draws.
    indicator_lines: tuple[IndicatorLine, ...] = ()
    indicator_values: dict[str, dict[str, array[float]]] = field(default_factory=dict)
    cap_stops: int = 0  # daily-loss-cap stops placed or re-priced (standing orders, not interventions)
    path: str = "event"  # the way the candles were replayed: "fast" or "event" (fast_path.py)
    path_reason: str = ""  # why that path, or what the fast path jumped
    warmup: WarmupReport | None = None  # each indicator's history need and when it was met (warmup.py)
    data_gaps: tuple[Gap, ...] = ()  # candle series with holes (data_gaps.py)
    # What the summary reads of every sample, kept as they came (tally.py); None for a result made
    # of lists, whose tally is then fed from `equity_curve` and `symbol_curves`.
    tally: CurveTally | None = None
    samples: int = 0  # how many samples were taken: `equity_curve` may hold fewer (0: all it holds)
    # COIN-M: equity and PnL are in the coin, and so is the buy-and-hold benchmark (metrics.Benchmark)
    inverse: bool = False
    never_ran: tuple[NeverRan, ...] = ()  # rules reading a market value the data never gave (never_ran.py)
    # The compiler's warnings (`file:line:col: message`), a clamped leverage among them: the run used
    # the clamped value, not the rulebook's, and says so where `validate` would.
    rulebook_warnings: tuple[str, ...] = ()
    # What the text summary prints as `note:` lines (an inferred tick and step, a period shorter than
    # asked): less than a warning, but a script reading the JSON needs them too.
    notes: tuple[str, ...] = ()
    # What was open at the end, and the taker fee closing it would cost (open_end.py): the summary's
    # net PnL and end equity count that fee, `end_equity` above does not.
    open_at_end: tuple[OpenAtEnd, ...] = ()

    @property
    def warnings(self) -> tuple[str, ...]:
        """What makes the numbers less than Binance's, said in the summary and the report."""
        return (
            self.rulebook_warnings
            + tuple(
                f"{s}: a position was held across {n} funding time(s) but the data has no funding rate for "
                f"them, so their funding counts as 0; add {s}'s fundingRate files with --data"
                for s, n in sorted(self.unfunded.items())
            )
            + (self.warmup.warnings() if self.warmup is not None else ())
            + gap_warnings(self.data_gaps)
            + tuple(n.warning() for n in self.never_ran)
            + self._all_refused()
        )

    def _all_refused(self) -> tuple[str, ...]:
        """A run with no fill whose orders guards or the exchange refused: which guard, how often,
        and the first reason, which the summary's `guard interventions` counts without saying."""
        if self.fills:
            return ()
        counts: dict[str, int] = {}
        first: dict[str, GuardEvent] = {}
        for g in self.guard_events:
            if g.verdict == "reject":
                counts[g.guard] = counts.get(g.guard, 0) + 1
                first.setdefault(g.guard, g)
        parts = [
            f"{guard} refused {n:,} order(s) (the first, of rule {first[guard].rule}: {first[guard].reason})"
            for guard, n in sorted(counts.items())
        ]
        if self.exchange_refusals:
            parts.append(
                f"the exchange refused {self.exchange_refusals:,} order(s) (the first: {self.first_exchange_refusal})"
            )
        if not parts:
            return ()
        return ("no order was filled: " + "; ".join(parts),)

    @property
    def all_symbols(self) -> tuple[str, ...]:
        return self.symbols or (self.symbol,)
