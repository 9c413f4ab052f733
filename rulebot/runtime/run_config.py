"""The runner's settings (`RunConfig`) and what its parts share: the queue's request and markers,
the wall clock."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

from rulebot.runtime.killswitch import Policy
from rulebot.runtime.reload import SETTLE_S

ForeignPolicy = Literal["refuse", "cancel", "keep"]

Mode = Literal["dry-run", "live"]
KILL_FILE = "KILL"
DEFAULT_PAPER_BALANCE = Decimal(10_000)  # of a dollar-like margin asset (USD-M)
DEFAULT_COIN_PAPER_BALANCE = Decimal(1)  # COIN-M: one coin, as a backtest starts with
SEND_TIMEOUT_S = 15.0  # at shutdown, how long answers to commands still out are waited for


@dataclass
class RunConfig:
    rulebook: Path
    mode: Mode = "dry-run"
    run_dir: Path = Path(".rulebot")
    journal: Path | None = None  # default: run_dir / "journal.sqlite"
    # Paper wallet of a new dry-run, in the margin asset (a kept one is reused). None: 10,000 on
    # USD-M, 1 coin on COIN-M (`paper_balance`).
    balance: Decimal | None = None
    on_exit: Policy | None = None  # default: the rulebook's risk.on_signal
    use_scheduler: bool = True  # wall-clock timers (live data); off for as-fast-as-possible replays
    watch: bool = True  # reload when the rulebook file changes
    reload_settle_s: float = SETTLE_S  # a reload waits until the file has been still this long
    # Binance's user stream reports an accepted order within milliseconds. No word of one this long
    # after Binance accepted it: the stream is stalled (connected and silent), and a filled entry would
    # wait unprotected for it. The runner reads the orders and positions from REST instead.
    user_silence_s: float = 3.0
    heartbeat_countdown_ms: int = 60_000
    heartbeat_every_s: float = 20.0
    max_events: int | None = None  # stop after this many market events (tests, soak runs)
    # How often the offset to the exchange's clock is measured again (live feeds): a local clock
    # that drifts would otherwise make data look older or younger than it is (the stale guard).
    clock_sync_every_s: float = 600.0
    strict: bool = False  # a rule whose condition fails at run time stops the bot (kill-switch policy)
    resume: bool = False  # lift a halt that holds across restarts (a `halt` action, `on_breach: halt`)
    # Open orders on the rulebook's symbols that the journal does not know (placed by hand, or by a
    # bot whose journal is gone): a live start is refused beside them, unless they are to be
    # cancelled or kept (recovery.adopt).
    foreign_orders: ForeignPolicy = "refuse"

    def paper_balance(self, inverse: bool) -> Decimal:
        """The wallet of a new paper account: `balance`, or the default of the market."""
        if self.balance is not None:
            return self.balance
        return DEFAULT_COIN_PAPER_BALANCE if inverse else DEFAULT_PAPER_BALANCE

    def journal_path(self) -> Path:
        return self.journal or self.run_dir / "journal.sqlite"


@dataclass
class _Request:
    kind: str
    payload: dict[str, Any]
    done: asyncio.Future[dict[str, Any]] = field(default_factory=lambda: asyncio.get_running_loop().create_future())


_END = object()
_WAKE = object()


def _now() -> int:
    return int(time.time() * 1000)
