"""Option types shared by the commands: values that are refused before anything runs."""

from __future__ import annotations

import errno
import math
import os
import stat
from collections.abc import Sequence
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path

import click
from click.shell_completion import CompletionItem

from rulebot.core.balance import MAX_BALANCE, balance_too_large
from rulebot.core.fees import FeeRates
from rulebot.rulebook.errors import RulebookError
from rulebot.rulebook.load import unreadable


class StartingBalance(click.ParamType):
    """A starting wallet: a finite amount above zero. Zero, negative, NaN or infinite wallets
    would run and print nonsense (or fail deep inside the engine), so they are usage errors."""

    name = "amount"

    def convert(self, value: object, param: click.Parameter | None, ctx: click.Context | None) -> Decimal:
        if isinstance(value, Decimal):
            amount = value
        else:
            try:
                amount = Decimal(str(value).strip().replace("_", ""))
            except (InvalidOperation, ValueError):
                self.fail(f"{value!r} is not a number (an amount such as 10000 or 0.5)", param, ctx)
        if not amount.is_finite():
            self.fail(f"{value!r} is not a finite amount", param, ctx)
        if amount <= 0:
            self.fail(f"{value!r}: a starting balance must be above zero", param, ctx)
        if amount > MAX_BALANCE:
            self.fail(f"{value!r}: {balance_too_large(amount)}", param, ctx)
        return amount


BALANCE = StartingBalance()


EXIT_RULE_FAILED = 4  # --strict: a rule's condition failed at run time (README, exit codes)

STRICT = click.option(
    "--strict",
    is_flag=True,
    help=f"Stop at the first rule whose condition fails at run time (exit {EXIT_RULE_FAILED}); "
    "without it the condition counts as false, and the failures are counted in the summary.",
)


class Number(click.ParamType):
    """A finite decimal number, at least `minimum` when one is given (NaN and Infinity are refused:
    they would pass every comparison a guard makes, or fail far from the option that set them)."""

    name = "number"

    def __init__(self, minimum: Decimal | None = None, below: Decimal | None = None, why: str = "") -> None:
        self.minimum = minimum
        self.below = below  # an exclusive upper bound, with `why` it is one
        self.why = why

    def convert(self, value: object, param: click.Parameter | None, ctx: click.Context | None) -> Decimal:
        if isinstance(value, Decimal):
            number = value
        else:
            try:
                number = Decimal(str(value).strip().replace("_", ""))
            except (InvalidOperation, ValueError):
                self.fail(f"{value!r} is not a number", param, ctx)
        if not number.is_finite():
            self.fail(f"{value!r} is not a finite number", param, ctx)
        if self.minimum is not None and number < self.minimum:
            self.fail(f"{value!r} is below {self.minimum}", param, ctx)
        if self.below is not None and number >= self.below:
            self.fail(f"{value!r}: must be below {self.below}{self.why}", param, ctx)
        return number


class FeeRatesParam(click.ParamType):
    """`maker,taker` commission rates as exact fractions of notional (0.0002,0.0005 = 0.02 %,
    0.05 %). A maker rebate may be negative, a taker fee may not; neither reaches 1 %, far above
    any Binance tier (FACTS §12), so a percent typed as a fraction (2,5) is caught. A rebate is
    bounded by the deepest Binance's liquidity-provider programs have paid (about -0.015 %): a
    -0.5 % rebate, accepted once, paid a backtest 0.5 % of every limit fill."""

    name = "maker,taker"

    def convert(self, value: object, param: click.Parameter | None, ctx: click.Context | None) -> FeeRates:
        if isinstance(value, FeeRates):
            return value
        parts = str(value).split(",")
        if len(parts) != 2:
            self.fail(f"{value!r}: give two rates, maker,taker (e.g. 0.0002,0.0005)", param, ctx)
        rates = []
        for part in parts:
            try:
                rate = Decimal(part.strip())
            except (InvalidOperation, ValueError):
                self.fail(f"{part.strip()!r} is not a number (a fraction such as 0.0005 for 0.05 %)", param, ctx)
            if not rate.is_finite() or rate >= MAX_FEE_RATE:
                self.fail(f"{part.strip()!r}: a rate is a fraction of notional below 0.01 (1 %)", param, ctx)
            rates.append(rate)
        if rates[1] < 0:
            self.fail(f"{parts[1].strip()!r}: a taker fee cannot be negative", param, ctx)
        if rates[0] < MIN_MAKER_RATE:
            self.fail(
                f"{parts[0].strip()!r}: a maker rebate deeper than {MIN_MAKER_RATE} (-0.02 %) is beyond any Binance "
                "program (its liquidity providers' deepest has been about -0.00015): it would pay the "
                "backtest for every limit fill",
                param,
                ctx,
            )
        return FeeRates(maker=rates[0], taker=rates[1])


MAX_FEE_RATE = Decimal("0.01")
MIN_MAKER_RATE = Decimal("-0.0002")  # a maker rebate: Binance has paid at most about -0.00015
FEES = FeeRatesParam()


class Pace(click.ParamType):
    """A speed multiplier: a finite float, 0 (as fast as possible) or above."""

    name = "speed"

    def convert(self, value: object, param: click.Parameter | None, ctx: click.Context | None) -> float:
        try:
            speed = float(str(value))
        except ValueError:
            self.fail(f"{value!r} is not a number", param, ctx)
        if not math.isfinite(speed) or speed < 0:
            self.fail(f"{value!r}: a speed is a finite number, 0 or above", param, ctx)
        return speed


class Time(click.ParamType):
    """A UTC date or ISO time (`2025-06-07`, `2025-06-07T12:00`), as epoch milliseconds."""

    name = "time"

    def convert(self, value: object, param: click.Parameter | None, ctx: click.Context | None) -> int:
        if isinstance(value, int):
            return value
        try:
            when = datetime.fromisoformat(str(value).strip())
        except ValueError:
            self.fail(f"{value!r} is not a date or time (write 2025-06-07 or 2025-06-07T12:00, UTC)", param, ctx)
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        return int(when.timestamp() * 1000)


NON_NEGATIVE = Number(minimum=Decimal(0))
# 10000 bps worse is a sell at a price of zero: a loss no account can have (fills are never
# priced below one tick, so the bound is what keeps a fill's price meaning what it says).
PRICE_BPS = Number(minimum=Decimal(0), below=Decimal(10000), why=" (10000 bps is 100%: a sell would fill at zero)")
SPEED = Pace()
TIME = Time()
HOURS = click.IntRange(min=1)
COUNT = click.IntRange(min=1)


RUN_DIR = click.option(
    "--run-dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Where the bot keeps its journal and control socket (default .rulebot/<rulebook> live, "
    ".rulebot/<rulebook>.dry-run for a dry-run).",
)


class RulebookPath(click.ParamType):
    """A rulebook file's path, checked before anything runs. One that cannot be read is an invalid
    rulebook (exit 1, in the words `validate` uses), not a usage error: click.Path(exists=True,
    dir_okay=False) made a missing file or a folder exit 2 while `validate` said 1 for the same path."""

    name = "rulebook"

    def convert(self, value: object, param: click.Parameter | None, ctx: click.Context | None) -> str:
        path = os.fspath(value)  # type: ignore[call-overload]
        try:
            # stat, not open: opening a FIFO given by mistake would wait for a writer forever.
            is_dir = stat.S_ISDIR(os.stat(path).st_mode)
        except OSError as exc:
            raise RulebookError([unreadable(path, exc)]) from None
        if is_dir:
            raise RulebookError([unreadable(path, IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR)))])
        return str(path)

    def shell_complete(self, ctx: click.Context, param: click.Parameter, incomplete: str) -> list[CompletionItem]:
        return [CompletionItem(incomplete, type="file")]


RULEBOOK = RulebookPath()


def _same(a: Path, b: Path) -> bool:
    if a.resolve() == b.resolve():
        return True
    try:
        return a.exists() and b.exists() and a.samefile(b)  # a hard link or another name for it
    except OSError:
        return False


def refuse_overwriting(outputs: Sequence[tuple[str, str | None]], inputs: Sequence[str | None]) -> None:
    """Usage error (exit 2) when a file the command writes (`(option, path)`) is one it reads (the
    rulebook, an archive, a saved exchangeInfo, a file inside a --data folder) or another output:
    `--report rules.yaml` wrote the HTML over the user's rulebook, `--report j --journal j` the
    report over the journal, and neither said a word."""
    given = [(option, Path(path)) for option, path in outputs if path is not None]
    for i, (option, path) in enumerate(given):
        for other_option, other in given[:i]:
            if _same(path, other):
                raise click.BadParameter(
                    f"{path} is also the {other_option} file; give each its own", param_hint=option
                )
        for source in inputs:
            if source is None:
                continue
            src = Path(source)
            if src.is_dir():
                inside = path.resolve().is_relative_to(src.resolve())
                if inside and path.is_file() and path.suffix.lower() in (".zip", ".csv"):
                    raise click.BadParameter(f"{path} is an archive file under --data {source}", param_hint=option)
            elif _same(path, src):
                raise click.BadParameter(
                    f"{path} is an input of this command; it would be overwritten", param_hint=option
                )
