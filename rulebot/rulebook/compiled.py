"""What the compiler produces: a `CompiledRulebook`, the state machine the engine runs.

Everything here is immutable and checked. Expressions are compiled callables; rules are
indexed by (trigger, state) so an event evaluates only the rules that can fire on it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from enum import Enum
from typing import Literal

from rulebot.core.enums import Direction, MarginType, Market, OrderType, Side, TimeInForce, WorkingType
from rulebot.rulebook.errors import Diagnostic
from rulebot.rulebook.expr import CompiledExpr
from rulebot.rulebook.guards import EffectiveRisk
from rulebot.rulebook.params import ParamDecl
from rulebot.rulebook.triggers import Trigger


class PositionBinding(Enum):
    """A state's `position:`, mapped once by the compiler; the engine compares members, never words."""

    NONE = "none"
    LONG = "long"
    SHORT = "short"
    ANY = "any"

    @property
    def word(self) -> str:
        """The rulebook's word, for messages and --explain."""
        return self.value

    @property
    def holds_position(self) -> bool:
        """True for `long` and `short`: the state claims a position of that direction."""
        return self is _LONG or self is _SHORT

    @classmethod
    def of(cls, direction: Direction | None) -> PositionBinding:
        """The binding of a state that holds a position in `direction` (None: flat)."""
        if direction is None:
            return cls.NONE
        return cls.LONG if direction is Direction.LONG else cls.SHORT

    def admits(self, direction: Direction | None) -> bool:
        """True when a position in `direction` (None: flat) is what this state expects."""
        # `of` spelled out with the members at hand: PositionBinding.ANY and Direction.LONG are slow
        # lookups on Python 3.11 (EnumType.__getattr__), and the engine asks after every fired rule.
        if self is _ANY:
            return True
        if direction is None:
            return self is _NONE
        return self is (_LONG if direction is _DIRECTION_LONG else _SHORT)


_ANY, _NONE, _LONG, _SHORT = PositionBinding.ANY, PositionBinding.NONE, PositionBinding.LONG, PositionBinding.SHORT
_DIRECTION_LONG = Direction.LONG


@dataclass(frozen=True, slots=True)
class StateSpec:
    name: str
    position: PositionBinding
    timeout_ms: int | None
    then: str | None
    # Where the engine moves a position-bound state whose position closed (stop, liquidation,
    # exit) when no rule moved it: the initial state.
    on_close: str | None


@dataclass(frozen=True, slots=True)
class SeriesInput:
    """A candle field at a timeframe: `close@15m`."""

    field: str
    timeframe: str


@dataclass(frozen=True, slots=True)
class IndicatorInput:
    """Another indicator's value (or one output of it: `macd.hist`)."""

    name: str


@dataclass(frozen=True, slots=True)
class CandleInput:
    """Whole candles at a timeframe, for atr and vwap: `atr(15m, 14)`."""

    timeframe: str


@dataclass(frozen=True, slots=True)
class CompiledIndicator:
    name: str
    function: str
    input: SeriesInput | IndicatorInput | CandleInput
    params: tuple[float, ...]
    outputs: tuple[str, ...]
    warmup: int  # values of its own input before ready
    total_warmup: int  # candles of its base timeframe before ready, through the whole chain
    timeframe: str  # the candle timeframe that ultimately drives it
    definition: str


@dataclass(frozen=True, slots=True)
class Size:
    """How much to trade: a quantity expression, a fraction of equity as margin, or a notional."""

    kind: Literal["qty", "equity_fraction", "notional"]
    expr: CompiledExpr | None = None  # kind == "qty"
    amount: Decimal | None = None  # equity_fraction (0.02) or notional (1000)
    asset: str | None = None  # notional's asset


@dataclass(frozen=True, slots=True)
class Enter:
    side: Direction
    size: Size
    order: OrderType  # MARKET or LIMIT
    price: CompiledExpr | None
    post_only: bool
    time_in_force: TimeInForce | None
    expire_ms: int | None
    tag: str | None

    @property
    def order_side(self) -> Side:
        """The side of the order that opens the position."""
        return self.side.entry_side


@dataclass(frozen=True, slots=True)
class Exit:
    order: OrderType  # MARKET or LIMIT
    price: CompiledExpr | None
    size: CompiledExpr | None
    fraction: Decimal | None  # None with size None: close all
    tag: str | None


@dataclass(frozen=True, slots=True)
class Reduce:
    fraction: Decimal | None
    size: CompiledExpr | None
    order: OrderType  # MARKET or LIMIT
    price: CompiledExpr | None


@dataclass(frozen=True, slots=True)
class StopOrder:
    kind: Literal["stop_loss", "take_profit"]
    price: CompiledExpr | None
    distance: Decimal | None
    working_type: WorkingType
    tag: str | None
    price_protect: bool = False


@dataclass(frozen=True, slots=True)
class TrailingStop:
    callback: Decimal  # fraction: 0.015 for 1.5%
    activation: CompiledExpr | None
    working_type: WorkingType
    tag: str | None


@dataclass(frozen=True, slots=True)
class Deleverage:
    to: CompiledExpr


@dataclass(frozen=True, slots=True)
class ChangeLeverage:
    """The `set_leverage` action (named apart from the `SetLeverage` command it becomes)."""

    to: int  # already clamped to the max_leverage guard
    requested: int


@dataclass(frozen=True, slots=True)
class Cancel:
    tag: str | None  # None: all


@dataclass(frozen=True, slots=True)
class Goto:
    state: str


@dataclass(frozen=True, slots=True)
class Log:
    template: str
    names: tuple[str, ...]  # placeholder names, checked against the scope


@dataclass(frozen=True, slots=True)
class Halt:
    reason: str


CompiledAction = (
    Enter | Exit | Reduce | StopOrder | TrailingStop | Deleverage | ChangeLeverage | Cancel | Goto | Log | Halt
)
# Actions that act on an existing position; they contradict a state whose position is none.
POSITION_ACTIONS = (Exit, Reduce, StopOrder, TrailingStop, Deleverage)


@dataclass(frozen=True, slots=True)
class CompiledRule:
    index: int  # order in the file: the tie-breaker after priority
    name: str
    trigger: Trigger
    states: frozenset[str]
    when: CompiledExpr | None
    actions: tuple[CompiledAction, ...]
    priority: int
    symbols: frozenset[str]
    reads: frozenset[str]  # every scope name read by the condition and the actions

    @property
    def enters(self) -> tuple[Direction, ...]:
        return tuple(a.side for a in self.actions if isinstance(a, Enter))


DispatchKey = tuple[tuple[str, str | None], str]


@dataclass(frozen=True, slots=True)
class CompiledRulebook:
    name: str
    description: str | None
    source_file: str
    source_text: str
    source_hash: str  # sha256 of the text: the rulebook version in the journal
    market: Literal["usdm", "coinm"]
    symbols: tuple[str, ...]
    margin_asset_hint: str  # "USDT" for usdm; "COIN" for coinm (the base coin of each symbol)
    margin: Literal["isolated", "cross"]
    position_mode: Literal["one_way", "hedge"]
    leverage: int  # clamped
    timeframes: tuple[str, ...]
    params: Mapping[str, float | int | str | bool]
    indicators: tuple[CompiledIndicator, ...]  # in dependency order: inputs before users
    states: Mapping[str, StateSpec]
    initial_state: str
    rules: tuple[CompiledRule, ...]
    dispatch: Mapping[DispatchKey, tuple[CompiledRule, ...]]
    risk: EffectiveRisk
    # The account settings as the exchange and the engine name them, emitted by the compiler (the
    # text fields above are the rulebook's own words, for messages and --explain).
    market_type: Market
    margin_type: MarginType
    hedge: bool
    warnings: tuple[Diagnostic, ...] = field(default=())
    prev_names: frozenset[str] = frozenset()  # names whose previous value conditions read

    param_decls: Mapping[str, ParamDecl] = field(default_factory=dict)  # each parameter's type and allowed values

    def rules_for(self, trigger_key: tuple[str, str | None], state: str) -> tuple[CompiledRule, ...]:
        """The rules an event of this trigger can fire in this state, highest priority first."""
        return self.dispatch.get((trigger_key, state), ())

    @property
    def triggers(self) -> frozenset[tuple[str, str | None]]:
        return frozenset(r.trigger.key for r in self.rules)

    def transitions(self) -> list[tuple[str, str, str]]:
        """(from, to, why) edges of the state machine, for --explain and checks."""
        edges: list[tuple[str, str, str]] = []
        for rule in self.rules:
            for action in rule.actions:
                if isinstance(action, Goto):
                    for s in sorted(rule.states):
                        edges.append((s, action.state, f"rule {rule.name}"))
        for st in self.states.values():
            if st.timeout_ms is not None and st.then:
                edges.append((st.name, st.then, "timeout"))
            if st.on_close and st.position.holds_position:
                edges.append((st.name, st.on_close, "position closed"))
        return edges
