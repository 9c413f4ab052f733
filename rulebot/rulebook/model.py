"""The rulebook language as pydantic models: the shape of a valid file, and its JSON Schema.

These models check structure only (keys, types, enums, simple formats). What needs the whole
rulebook to decide (names in expressions, states, timeframes, reachability) is the compiler's
job. Field descriptions become the editor tooltips of `schemas/rulebook.schema.json`.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Discriminator, Field, Tag, field_validator

DURATION_RE = re.compile(r"^(\d+)(s|m|h|d|w)$")
_DURATION_PATTERN = r"^\d+(s|m|h|d|w)$"
IDENT_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]*$"
NAME_PATTERN = r"^[a-z0-9][a-z0-9_.-]*$"

# Binance's kline intervals; candles are built from trades or subscribed at these.
TIMEFRAMES = ("1m", "3m", "5m", "15m", "30m", "1h", "2h", "4h", "6h", "8h", "12h", "1d", "3d", "1w")

Duration = Annotated[
    str,
    Field(pattern=_DURATION_PATTERN, description="a duration: a number and a unit s, m, h, d or w (e.g. 90s, 15m, 2h)"),
]
Expression = Annotated[
    str | float | int,
    Field(description="an expression over prices, indicators, position and account (see docs/expressions.md)"),
]
Percent = Annotated[
    str | float,
    Field(description="a percentage like 1.5% (or a fraction like 0.015)"),
]


def duration_seconds(text: str) -> int:
    """`15m` → 900. Raises ValueError on anything else."""
    m = DURATION_RE.match(text)
    if not m:
        raise ValueError(f"not a duration: {text!r} (expected a number and a unit s, m, h, d or w, e.g. 15m)")
    return int(m.group(1)) * {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}[m.group(2)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True, frozen=True, allow_inf_nan=False)


class Account(_Strict):
    """How the futures account is set up on the exchange before the first order."""

    margin: Literal["isolated", "cross"] = Field(
        "isolated", description="margin type; cross needs risk.allow_cross: true"
    )
    position_mode: Literal["one_way", "hedge"] = Field("one_way", description="one-way or hedge position mode")
    leverage: int = Field(3, ge=1, le=125, description="leverage to set; clamped by risk.max_leverage (never above 10)")


class State(_Strict):
    """A state of the rulebook's state machine, optionally bound to a position."""

    position: Literal["none", "long", "short", "any"] = Field(
        "none", description="the position this state stands for: none, long, short (or any)"
    )
    timeout: Duration | None = Field(None, description="leave the state after this long (to `then`)")
    then: str | None = Field(None, description="the state to move to when `timeout` passes")


# ---------------------------------------------------------------- actions

OrderKind = Literal["market", "limit"]
TimeInForce = Literal["GTC", "IOC", "FOK", "GTX"]
WorkingType = Literal["mark_price", "contract_price"]


class EnterSpec(_Strict):
    side: Literal["long", "short"] = Field(description="long buys, short sells")
    size: Expression = Field(
        description='quantity expression, "N%" of equity used as margin, or a notional like "1000 USDT"'
    )
    order: OrderKind = Field("market", description="market or limit")
    price: Expression | None = Field(None, description="limit price expression (e.g. bid, ask, price * 0.999)")
    post_only: bool = Field(False, description="maker only (GTX): rejected instead of taking liquidity")
    time_in_force: TimeInForce | None = Field(None, description="GTC, IOC, FOK or GTX")
    expire: Duration | None = Field(None, description="cancel the unfilled rest after this long")
    tag: str | None = Field(None, pattern=IDENT_PATTERN, description="a tag for `cancel`")


class ExitSpec(_Strict):
    order: OrderKind = Field("market", description="market or limit")
    price: Expression | None = Field(None, description="limit price expression")
    size: Expression | None = Field(None, description="quantity to close (default: all)")
    by: Percent | None = Field(None, description="fraction of the position to close, e.g. 50%")
    tag: str | None = Field(None, pattern=IDENT_PATTERN)


class ReduceSpec(_Strict):
    by: Percent | None = Field(None, description="fraction of the position to close, e.g. 50%")
    size: Expression | None = Field(None, description="quantity to close")
    order: OrderKind = Field("market")
    price: Expression | None = None


class StopSpec(_Strict):
    price: Expression | None = Field(None, description="trigger price expression, e.g. entry_price - 3 * atr")
    distance: Percent | None = Field(None, description="trigger distance from the entry price, e.g. 2%")
    working_type: WorkingType = Field("mark_price", description="which price triggers it (mark price by default)")
    price_protect: bool = Field(
        False,
        description="Binance's priceProtect: do not trigger while last and mark price differ by more than "
        "the symbol's triggerProtect",
    )
    tag: str | None = Field(None, pattern=IDENT_PATTERN)


class TrailingSpec(_Strict):
    callback: Percent = Field(description="callback rate, 0.1% to 10%")
    activation: Expression | None = Field(None, description="activation price expression")
    working_type: WorkingType = Field("mark_price")
    tag: str | None = Field(None, pattern=IDENT_PATTERN)


class DeleverageSpec(_Strict):
    to: Expression = Field(description="reduce the position until effective leverage is at most this")


class SetLeverageSpec(_Strict):
    to: int = Field(ge=1, le=125, description="new leverage (clamped by the max_leverage guard)")


class CancelSpec(_Strict):
    tag: str | None = Field(None, pattern=IDENT_PATTERN, description="cancel only orders with this tag")


class HaltSpec(_Strict):
    reason: str = Field("halt action", description="why, for the journal")


class EnterAction(_Strict):
    enter: EnterSpec


class ExitAction(_Strict):
    exit: ExitSpec = Field(default_factory=ExitSpec)

    @field_validator("exit", mode="before")
    @classmethod
    def _empty(cls, v: Any) -> Any:
        return {} if v is None else v


class ReduceAction(_Strict):
    reduce: ReduceSpec


class StopLossAction(_Strict):
    stop_loss: StopSpec


class TakeProfitAction(_Strict):
    take_profit: StopSpec


class TrailingStopAction(_Strict):
    trailing_stop: TrailingSpec


class DeleverageAction(_Strict):
    deleverage: DeleverageSpec


class SetLeverageAction(_Strict):
    set_leverage: SetLeverageSpec | int

    @field_validator("set_leverage", mode="before")
    @classmethod
    def _bare(cls, v: Any) -> Any:
        return {"to": v} if isinstance(v, int) and not isinstance(v, bool) else v


class CancelAction(_Strict):
    cancel: Literal["all"] | CancelSpec = Field(description="`all`, or {tag: name}")


class GotoAction(_Strict):
    goto: str = Field(description="the state to move to")


class LogAction(_Strict):
    log: str = Field(description="a message; {name} placeholders are filled with current values")


class HaltAction(_Strict):
    halt: HaltSpec | str | None = Field(None, description="kill switch: cancel all, flatten, stop entries")


ACTION_MODELS: dict[str, type[_Strict]] = {
    "enter": EnterAction,
    "exit": ExitAction,
    "reduce": ReduceAction,
    "stop_loss": StopLossAction,
    "take_profit": TakeProfitAction,
    "trailing_stop": TrailingStopAction,
    "deleverage": DeleverageAction,
    "set_leverage": SetLeverageAction,
    "cancel": CancelAction,
    "goto": GotoAction,
    "log": LogAction,
    "halt": HaltAction,
}


def _action_tag(value: Any) -> str | None:
    if isinstance(value, dict) and len(value) == 1:
        key = next(iter(value))
        return key if key in ACTION_MODELS else None
    if isinstance(value, str) and value in ("exit", "halt"):
        return value
    if isinstance(value, BaseModel):
        for name in ACTION_MODELS:
            if name in type(value).model_fields:
                return name
    return None


Action = Annotated[
    Annotated[EnterAction, Tag("enter")]
    | Annotated[ExitAction, Tag("exit")]
    | Annotated[ReduceAction, Tag("reduce")]
    | Annotated[StopLossAction, Tag("stop_loss")]
    | Annotated[TakeProfitAction, Tag("take_profit")]
    | Annotated[TrailingStopAction, Tag("trailing_stop")]
    | Annotated[DeleverageAction, Tag("deleverage")]
    | Annotated[SetLeverageAction, Tag("set_leverage")]
    | Annotated[CancelAction, Tag("cancel")]
    | Annotated[GotoAction, Tag("goto")]
    | Annotated[LogAction, Tag("log")]
    | Annotated[HaltAction, Tag("halt")],
    Discriminator(
        _action_tag,
        custom_error_type="unknown_action",
        custom_error_message="each action is one of: " + ", ".join(ACTION_MODELS),
    ),
]


class Rule(_Strict):
    """When a trigger fires in one of the rule's states and `when` holds, run `do` in order."""

    name: str = Field(pattern=NAME_PATTERN, description="unique rule name (lowercase, digits, - _ .)")
    on: str = Field(
        description="trigger: trade | book | mark_price | candle_close TF | funding | before_funding DURATION"
        ' | cron "EXPR" | every DURATION | fill | position_closed | start'
    )
    in_: str | list[str] | None = Field(
        None, alias="in", description="the state(s) in which the rule listens (default: every state)"
    )
    when: Expression | bool | None = Field(None, description="a boolean condition (default: always)")
    do: list[Action] = Field(min_length=1, description="actions, run in order")
    priority: int = Field(0, description="higher runs first among rules on the same trigger and state")
    symbol: str | None = Field(None, description="only for this symbol (default: every symbol of the rulebook)")

    @field_validator("do", mode="before")
    @classmethod
    def _bare_actions(cls, v: Any) -> Any:
        # `- exit` and `- halt` with no arguments read naturally; treat them as `{exit: {}}`.
        if isinstance(v, list):
            return [{item: None} if item in ("exit", "halt") else item for item in v]
        return v


class Risk(_Strict):
    """Tightenings of the engine's mandatory guards. Looser values are clamped with a warning."""

    max_leverage: int | None = Field(None, ge=1, description="at most 10 (the engine's cap)")
    daily_loss_cap: Percent | None = Field(
        None, description='loss since 00:00 UTC that stops trading: "3%" of day-start equity or "150 USDT"'
    )
    max_position_notional: float | None = Field(None, gt=0, description="largest position notional (quote units)")
    on_breach: Literal["flatten", "halt"] = Field("flatten", description="what a daily-loss breach does")
    on_signal: Literal["flatten", "keep"] = Field(
        "keep", description="on SIGINT/SIGTERM: flatten, or keep positions protected by their stops"
    )
    allow_cross: bool = Field(False, description="permit account.margin: cross")
    min_liquidation_distance: Percent | None = Field(
        None, description="refuse entries whose liquidation price is closer than this to the mark price"
    )
    max_margin_ratio: Percent | None = Field(None, description="reduce positions whose margin ratio passes this")
    stale_after: Duration | None = Field(None, description="no new entries when market data is older than this")
    max_open_orders: int | None = Field(None, ge=1, description="working orders per symbol at most")
    max_orders_per_minute: int | None = Field(None, ge=1, description="internal order-rate budget")
    volatility_breaker: float | None = Field(
        None, gt=1, description="short-term volatility above this multiple of its baseline trips the breaker"
    )
    volatility_reduce: Percent | None = Field(
        None, description="when the volatility breaker trips, reduce open positions by this share (off unless set)"
    )
    funding_guard_rate: Percent | None = Field(
        None, description="no entry just before a funding payment the position would pay above this rate"
    )
    funding_guard_window: Duration | None = Field(None, description="how long before funding the guard applies")
    protective_stop: Percent | None = Field(
        None, description="distance of the stop the engine places for a position that has none"
    )
    protective_stop_within: Duration | None = Field(None, description="how soon that stop must be in place")


ParamValue = float | int | str | bool


class ParamSpec(_Strict):
    """A parameter with the values it may take: what `--set` and `rulebot sweep` may give it."""

    default: ParamValue = Field(description="the value used unless overridden")
    min: float | int | None = Field(None, description="the smallest value allowed (numbers only)")
    max: float | int | None = Field(None, description="the largest value allowed (numbers only)")
    choices: list[ParamValue] | None = Field(None, description="the only values allowed")
    description: str | None = Field(None, description="what the parameter controls")


def _symbol(s: str) -> str:
    if not re.fullmatch(r"[A-Z0-9]+(_[A-Z0-9]+)?", s):
        raise ValueError(f"{s!r} is not a Binance futures symbol (e.g. BTCUSDT or BTCUSD_PERP)")
    return s


# Checked item by item, so that an error's place is the symbol's, not the list's.
Symbol = Annotated[str, AfterValidator(_symbol)]


class Rulebook(_Strict):
    """A rulebot rulebook: one strategy for Binance Futures."""

    model_config = ConfigDict(
        extra="forbid",
        populate_by_name=True,
        frozen=True,
        title="rulebot rulebook",
        json_schema_extra={"$id": "https://rulebot.dev/schemas/rulebook.schema.json"},
    )

    rulebook: str = Field(pattern=NAME_PATTERN, description="the rulebook's name")
    description: str | None = Field(None, description="what the strategy does, in a sentence")
    market: Literal["usdm", "coinm"] = Field(description="usdm (linear, USDT-margined) or coinm (inverse)")
    symbols: list[Symbol] = Field(
        min_length=1, description="Binance symbols, e.g. BTCUSDT (usdm) or BTCUSD_PERP (coinm)"
    )
    account: Account = Field(default_factory=Account)
    timeframes: list[str] = Field(default_factory=list, description="candle timeframes used, e.g. [1m, 15m]")
    params: dict[str, ParamValue | ParamSpec] = Field(
        default_factory=dict,
        description="named constants; `--set name=value` overrides them. Plain (`fast: 21`) or declared with "
        "the values allowed (`fast: {default: 21, min: 5, max: 50}`), which `--set` and sweeps are checked against",
    )
    indicators: dict[str, str] = Field(
        default_factory=dict, description="name: definition, e.g. ema_fast: ema(close@15m, fast)"
    )
    states: dict[str, State] | None = Field(None, description="the state machine; default: flat (none), long, short")
    initial: str | None = Field(None, description="the state to start in (default: the first state)")
    rules: list[Rule] = Field(min_length=1, description="the rules")
    risk: Risk = Field(default_factory=Risk)


DEFAULT_STATES: dict[str, State] = {
    "flat": State(position="none"),
    "long": State(position="long"),
    "short": State(position="short"),
}


def json_schema() -> dict[str, Any]:
    """The JSON Schema editors use for completion and checks (via yaml-language-server)."""
    schema = Rulebook.model_json_schema(by_alias=True)
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    return schema
