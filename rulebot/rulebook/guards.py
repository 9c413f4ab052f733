"""The engine's mandatory guards, and how a rulebook's `risk:` block may tighten them.

Guards are data: each has an engine default and a direction in which it is "tighter". A
rulebook value on the tight side replaces the default; a looser one is clamped to the default
with a warning naming the guard. Nothing here switches a guard off: the kill switch, the
exchange filters and the rate limiter have no setting at all.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Literal

from rulebot.rulebook.model import Risk, duration_seconds

# The hard cap. An engine constant, not a setting: no file, flag or environment changes it.
MAX_LEVERAGE = 10

Source = Literal["engine", "rulebook", "clamped"]
Tighter = Literal["lower", "higher"]


@dataclass(frozen=True, slots=True)
class GuardSetting:
    """One guard's effective setting and where it came from."""

    name: str
    value: Decimal | int | str | bool | None
    shown: str  # how a person reads it: "5%", "10x", "5s"
    source: Source
    description: str


@dataclass(frozen=True, slots=True)
class EffectiveRisk:
    """The merged guard settings the engine enforces."""

    max_leverage: int
    daily_loss_cap_fraction: Decimal  # of day-start equity
    daily_loss_cap_amount: Decimal | None  # in the margin asset, applied as well when set
    max_position_notional: Decimal | None
    on_breach: str
    on_signal: str
    allow_cross: bool
    min_liquidation_distance: Decimal
    max_margin_ratio: Decimal
    stale_after_ms: int
    max_open_orders: int
    max_orders_per_minute: int
    volatility_breaker: Decimal
    volatility_reduce: Decimal | None  # share of a position cut when the breaker trips; None: off
    funding_guard_rate: Decimal
    funding_guard_window_ms: int
    protective_stop: Decimal
    protective_stop_within_ms: int
    settings: tuple[GuardSetting, ...]

    def setting(self, name: str) -> GuardSetting:
        for s in self.settings:
            if s.name == name:
                return s
        raise KeyError(name)


@dataclass(frozen=True, slots=True)
class _Spec:
    default: Decimal
    tighter: Tighter
    kind: Literal["percent", "duration", "int", "multiple"]
    description: str


# Engine defaults. "lower" means a smaller value is stricter.
GUARD_DEFAULTS: dict[str, _Spec] = {
    "max_leverage": _Spec(Decimal(MAX_LEVERAGE), "lower", "int", "leverage never above this"),
    "daily_loss_cap": _Spec(
        Decimal("0.05"),
        "lower",
        "percent",
        "realized + unrealized loss since 00:00 UTC that cancels, flattens and stops entries",
    ),
    "min_liquidation_distance": _Spec(
        Decimal("0.05"),
        "higher",
        "percent",
        "entries whose liquidation price (mark price, brackets) is closer than this are resized or refused",
    ),
    "max_margin_ratio": _Spec(
        Decimal("0.80"), "lower", "percent", "positions whose margin ratio passes this are reduced"
    ),
    "stale_after": _Spec(
        Decimal(5), "lower", "duration", "no new entries when market data is older than this or a stream is down"
    ),
    "max_open_orders": _Spec(Decimal(20), "lower", "int", "working orders per symbol at most"),
    "max_orders_per_minute": _Spec(
        Decimal(120), "lower", "int", "internal order budget, well below Binance's 1200/min"
    ),
    "volatility_breaker": _Spec(
        Decimal(3),
        "lower",
        "multiple",
        "short-term volatility above this multiple of its baseline turns market orders into banded IOC limits",
    ),
    "funding_guard_rate": _Spec(
        Decimal("0.001"),
        "lower",
        "percent",
        "no entry before a funding payment the new position would pay above this rate",
    ),
    "funding_guard_window": _Spec(Decimal(900), "higher", "duration", "how long before funding the guard applies"),
    "protective_stop": _Spec(
        Decimal("0.05"), "lower", "percent", "a position with no exchange-side stop gets one this far from entry"
    ),
    "protective_stop_within": _Spec(Decimal(10), "lower", "duration", "how soon that stop is in place"),
}

ZERO_ = Decimal(0)
_AMOUNT_RE = re.compile(r"^\s*([0-9]+(?:\.[0-9]+)?)\s*([A-Z]{2,10})\s*$")


class RiskValueError(ValueError):
    """A `risk:` value that is malformed (not merely loose): an error at that key.

    `merge_risk` raises one for all the bad values of a block: the first is this error, `all`
    holds every one, so a file with five bad guards gets five errors in one run."""

    def __init__(self, key: str, message: str, hint: str | None = None):
        super().__init__(message)
        self.key = key
        self.hint = hint
        self.all: tuple[RiskValueError, ...] = (self,)


def parse_percent(value: str | float | int, key: str) -> Decimal:
    """`"3%"` → 0.03; a plain fraction below 1 is taken as is; anything else is an error."""
    if isinstance(value, str):
        text = value.strip()
        if text.endswith("%"):
            try:
                return Decimal(text[:-1].strip()) / 100
            except InvalidOperation:
                raise RiskValueError(key, f"{value!r} is not a percentage") from None
        try:
            number = Decimal(text)
        except InvalidOperation:
            raise RiskValueError(key, f"{value!r} is not a percentage", "write it like 3%") from None
    else:
        number = Decimal(str(value))
    if number >= 1 or number < 0:
        # `daily_loss_cap: 3` is far more likely to mean 3% than 300%; refuse to guess.
        raise RiskValueError(key, f"{value!r} is ambiguous as a percentage", f"write {value}% or a fraction below 1")
    return number


def _guard_value(name: str, spec: _Spec, given: object) -> Decimal:
    if spec.kind == "percent":
        assert isinstance(given, str | float | int)
        value = parse_percent(given, name)
        # A guard percentage is a share of a price, equity or margin: above 100% it can never be
        # met (a 200% liquidation distance refuses every entry) or never trigger.
        if value > 1:
            raise RiskValueError(
                name, f"{name} {_shown('percent', value)} is above 100%", "a guard percentage is a share: 0% to 100%"
            )
    elif spec.kind == "duration":
        assert isinstance(given, str)
        value = Decimal(duration_seconds(given))
    else:
        value = Decimal(str(given))
    if value <= 0:
        raise RiskValueError(name, f"{name} must be above zero")
    return value


def _shown(kind: str, value: Decimal) -> str:
    if kind == "percent":
        return f"{(value * 100).normalize():f}%"
    if kind == "duration":  # as a rulebook writes it: 15m, not 900s (fractions of a second as seconds)
        from rulebot.rulebook.history import duration_text  # history imports compiled, which imports this module

        whole = value == value.to_integral_value() and value != 0
        return duration_text(int(value * 1000)) if whole else f"{value.normalize():f}s"
    if kind == "multiple":
        return f"{value.normalize():f}x"
    return f"{int(value)}"


def merge_risk(
    risk: Risk,
    account_leverage: int,
    margin_asset: str,
    warn: Callable[[str, str, str | None], None],
) -> EffectiveRisk:
    """Merge a rulebook's `risk:` with the mandatory defaults.

    `warn(key, message, hint)` is called for each clamped value; malformed values raise
    RiskValueError (collected by the compiler into diagnostics).
    """
    problems: list[RiskValueError] = []
    settings: list[GuardSetting] = []
    values: dict[str, Decimal] = {}
    raw: dict[str, object] = {
        "max_leverage": risk.max_leverage,
        "min_liquidation_distance": risk.min_liquidation_distance,
        "max_margin_ratio": risk.max_margin_ratio,
        "stale_after": risk.stale_after,
        "max_open_orders": risk.max_open_orders,
        "max_orders_per_minute": risk.max_orders_per_minute,
        "volatility_breaker": risk.volatility_breaker,
        "funding_guard_rate": risk.funding_guard_rate,
        "funding_guard_window": risk.funding_guard_window,
        "protective_stop": risk.protective_stop,
        "protective_stop_within": risk.protective_stop_within,
    }
    amount: Decimal | None = None
    cap_raw = risk.daily_loss_cap
    if isinstance(cap_raw, str) and (m := _AMOUNT_RE.match(cap_raw)):
        amount = Decimal(m.group(1))
        if m.group(2) != margin_asset:
            problems.append(
                RiskValueError(
                    "daily_loss_cap",
                    f"daily_loss_cap is in {m.group(2)} but this market's margin asset is {margin_asset}",
                    f"write an amount in {margin_asset}, the margin asset, or a percentage of equity such as 3%",
                )
            )
        if amount <= 0:
            problems.append(RiskValueError("daily_loss_cap", "daily_loss_cap must be above zero"))
        raw["daily_loss_cap"] = None
    else:
        raw["daily_loss_cap"] = cap_raw

    for name, spec in GUARD_DEFAULTS.items():
        given = raw.get(name)
        source: Source
        if given is None:
            value, source = spec.default, "engine"
        else:
            try:
                value = _guard_value(name, spec, given)
            except RiskValueError as exc:
                problems.append(exc)
                value, source = spec.default, "engine"
                values[name] = value
                continue
            looser = value > spec.default if spec.tighter == "lower" else value < spec.default
            if looser:
                warn(
                    name,
                    f"risk.{name}: {_shown(spec.kind, value)} is looser than the engine allows; "
                    f"clamped to {_shown(spec.kind, spec.default)} ({name} guard)",
                    "a rulebook may only tighten the mandatory guards",
                )
                value, source = spec.default, "clamped"
            else:
                source = "rulebook"
        values[name] = value
        settings.append(GuardSetting(name, value, _shown(spec.kind, value), source, spec.description))

    if amount is not None:
        settings.append(
            GuardSetting(
                "daily_loss_cap_amount",
                amount,
                f"{amount} {margin_asset}",
                "rulebook",
                "also stop at this loss in the margin asset (the tighter of the two applies)",
            )
        )
    max_lev = int(values["max_leverage"])
    if account_leverage > max_lev:
        warn(
            "account.leverage",
            f"account.leverage {account_leverage}x is above max_leverage {max_lev}x; clamped to {max_lev}x "
            "(max_leverage guard)",
            None,
        )
    reduce_share: Decimal | None = None
    try:
        reduce_share = (
            parse_percent(risk.volatility_reduce, "volatility_reduce") if risk.volatility_reduce is not None else None
        )
        if reduce_share is not None and not ZERO_ < reduce_share <= 1:
            raise RiskValueError("volatility_reduce", "volatility_reduce must be above 0% and at most 100%")
    except RiskValueError as exc:
        problems.append(exc)
    if problems:
        first = problems[0]
        first.all = tuple(problems)
        raise first
    settings.append(
        GuardSetting(
            "volatility_reduce",
            reduce_share,
            "off" if reduce_share is None else _shown("percent", reduce_share),
            "engine" if reduce_share is None else "rulebook",
            "auto-reduce: share of open positions cut when the volatility breaker trips",
        )
    )
    notional = Decimal(str(risk.max_position_notional)) if risk.max_position_notional is not None else None
    settings.append(
        GuardSetting(
            "max_position_notional",
            notional,
            "none" if notional is None else f"{notional.normalize():f}",
            "engine" if notional is None else "rulebook",
            "largest position notional (quote units)",
        )
    )
    fixed = [
        ("on_breach", risk.on_breach, "what a daily-loss breach does after cancelling"),
        ("on_signal", risk.on_signal, "SIGINT/SIGTERM policy: flatten, or keep stop-protected positions"),
        ("margin", "cross allowed" if risk.allow_cross else "isolated only", "margin type on the exchange"),
        ("kill_switch", "on", "rulebot kill, SIGINT/SIGTERM, halt action, exchange dead man's switch"),
        ("exchange_filters", "on", "tick, step, min notional, max qty, percent price checked locally"),
        ("rate_limiter", "on", "request weight and order counts kept below Binance's limits"),
        ("mark_price_risk", "on", "liquidation and margin checks use the mark price, not the last price"),
    ]
    for name, shown, desc in fixed:
        explicit = name in risk.model_fields_set or (name == "margin" and risk.allow_cross)
        settings.append(GuardSetting(name, shown, str(shown), "rulebook" if explicit else "engine", desc))

    return EffectiveRisk(
        max_leverage=max_lev,
        daily_loss_cap_fraction=values["daily_loss_cap"],
        daily_loss_cap_amount=amount,
        max_position_notional=notional,
        on_breach=risk.on_breach,
        on_signal=risk.on_signal,
        allow_cross=risk.allow_cross,
        min_liquidation_distance=values["min_liquidation_distance"],
        max_margin_ratio=values["max_margin_ratio"],
        stale_after_ms=int(values["stale_after"] * 1000),
        max_open_orders=int(values["max_open_orders"]),
        max_orders_per_minute=int(values["max_orders_per_minute"]),
        volatility_breaker=values["volatility_breaker"],
        volatility_reduce=reduce_share,
        funding_guard_rate=values["funding_guard_rate"],
        funding_guard_window_ms=int(values["funding_guard_window"] * 1000),
        protective_stop=values["protective_stop"],
        protective_stop_within_ms=int(values["protective_stop_within"] * 1000),
        settings=tuple(settings),
    )
