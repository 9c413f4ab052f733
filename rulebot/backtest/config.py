"""What a backtest is asked to do (`BacktestConfig`), and how a strict one stops (`RuleFailed`)."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from rulebot.backtest.fast_path import PATHS
from rulebot.backtest.thinned import BUCKETS
from rulebot.core.balance import MAX_BALANCE, balance_too_large
from rulebot.core.errors import InvalidInput
from rulebot.core.fees import DEFAULT_FEE_RATES, FeeRates
from rulebot.exchange_sim import FillModel
from rulebot.exchange_sim.adl import NO_ADL, AdlModel


@dataclass(frozen=True, slots=True)
class BacktestConfig:
    balance: Decimal = Decimal(10_000)
    fill_model: FillModel = FillModel()
    sample_every_ms: int = 60_000  # equity curve resolution
    record_all_decisions: bool = False
    strict: bool = False  # the first rule that fails at run time stops the backtest (RuleFailed)
    fee_rates: FeeRates = DEFAULT_FEE_RATES  # `--fees maker,taker`; Binance's VIP 0 rates by default
    # `--path`: "fast" jumps the walk of candles inside which nothing can act (fast_path.py), "event"
    # walks every one, "auto" takes the fast path whenever the rulebook allows it. Same results.
    path: str = "auto"
    adl: AdlModel = NO_ADL  # auto-deleveraging (exchange_sim/adl.py); on by default in the `crash` demo
    # `--from`: events before it only warm the indicators (backtest/warmup.py); None: trade from the first
    trade_from: int | None = None
    # The charts keep at most twice this many spans of samples (thinned.py); the summary reads every
    # sample whatever it is. Tests set it high to keep every sample and compare. 0: no chart is drawn
    # (the command line without --report), only the last sample is kept, and the summary is the same.
    chart_buckets: int = BUCKETS

    def __post_init__(self) -> None:
        if self.path not in PATHS:
            raise InvalidInput(f"the backtest path is one of {', '.join(PATHS)}, not {self.path!r}")
        # A wallet of nothing (or less) runs and prints nonsense returns: refuse it here too,
        # for library callers that never pass through the command line's check.
        if not self.balance.is_finite() or self.balance <= 0:
            raise InvalidInput(f"a starting balance must be a finite amount above zero, not {self.balance}")
        if self.balance > MAX_BALANCE:
            raise InvalidInput(balance_too_large(self.balance))


class RuleFailed(Exception):
    """A rule's condition failed at run time and the backtest was run strict."""

    def __init__(self, rule: str, symbol: str, time: int, error: str) -> None:
        super().__init__(f"rule {rule!r} ({symbol}) failed: {error}")
        self.rule, self.symbol, self.time, self.error = rule, symbol, time, error


DEFAULT_CONFIG = BacktestConfig()  # a frozen value, shared as the default of `run_backtest`
