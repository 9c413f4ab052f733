"""Rule dispatch: on a trigger, the rules of the symbol's state run in file order.

Each rule's condition reads the symbol's env; a fired rule (or every rule, with
`record_all_decisions`, or one whose condition raised) is journaled as a decision with the
values it read, and a fired rule's actions run. Once a rule moves the symbol to another state
(or starts leaving it), the rest of the rules, chosen for the state left, do not run.
`prev.x` (crossover/crossunder) reads x as the rules of the same trigger saw it last time.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from rulebot.engine import records as rec
from rulebot.engine.env import ACCOUNT_NAMES
from rulebot.engine.state import Step
from rulebot.rulebook import expr_ir as ir
from rulebot.rulebook.expr import PREV_PREFIX, CompiledExpr
from rulebot.rulebook.expr_codegen import build, generate_nan_test

if TYPE_CHECKING:
    from rulebot.engine.engine import Engine
    from rulebot.rulebook.compiled import CompiledRule
    from rulebot.rulebook.expr_codegen import EnvFn


class RuleDispatch:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.state = engine.state
        self.book = engine.book
        self.record_all = engine.record_all
        self._runs = engine.state.runs
        self._by_state = engine.book.dispatch
        self._prev_by_key: dict[tuple[str, str | None], tuple[str, ...]] = {}
        for rule in self.book.rules:
            if rule.when is not None and rule.when.prev_names:
                cur = set(self._prev_by_key.get(rule.trigger.key, ()))
                self._prev_by_key[rule.trigger.key] = tuple(sorted(cur | set(rule.when.prev_names)))
        # Triggers some rule has, in any state: dispatching any other does nothing at all.
        self.keys = frozenset(rule.trigger.key for rule in self.book.rules)
        # The env name each `prev.` value is written under, built once rather than on every event.
        self._prev_slots = {key: tuple((n, PREV_PREFIX + n) for n in names) for key, names in self._prev_by_key.items()}
        # The candle_close keys whose `prev.` values are all of the key's timeframe (params are inlined,
        # never prev values): a warm-up from its candles leaves them as its last close did (remember_closed).
        tf_of = {ind.name: ind.timeframe for ind in self.book.indicators}
        self._closed_keys = frozenset(
            key
            for key, names in self._prev_by_key.items()
            if key[0] == "candle_close" and all(_timeframe_of(n, tf_of) == key[1] for n in names)
        )
        # What a decision shows of each rule, built once: its trigger's text and the names it reads, sorted.
        self._shown = {rule.index: (str(rule.trigger), tuple(sorted(rule.reads))) for rule in self.book.rules}
        self._version = self.book.source_hash
        # Each condition's NaN test, which reads an account value only if the env holds it (below).
        self._reads_nan = {
            rule.index: _nan_test(rule.when)
            for rule in self.book.rules
            if rule.when is not None and rule.when.reads_nan is not None
        }
        # What the loop below reads of each rule of a (trigger, state), gathered once: it runs on
        # every trade for an `on: trade` rule, and fires there trade after trade in a stretch.
        # By trigger, then by state (no (trigger, state) tuple to build and hash on every event), with
        # the trigger's `prev.` slots.
        self._by_key: dict[
            tuple[str, str | None], tuple[dict[str, tuple[_Plan, ...]], tuple[tuple[str, str], ...]]
        ] = {}
        for (key, state), rules in self._by_state.items():
            plans, _ = self._by_key.setdefault(key, ({}, self._prev_slots.get(key, ())))
            plans[state] = tuple(self._plan(rule) for rule in rules)
        for key, slots in self._prev_slots.items():
            self._by_key.setdefault(key, ({}, slots))

    def _plan(self, rule: CompiledRule) -> _Plan:
        when = rule.when
        trigger, reads = self._shown[rule.index]
        return (
            rule,
            None if when is None else when.fn,
            self._reads_nan.get(rule.index),
            when.nan_checked if when is not None else None,
            when is not None and when.node is not None and true_is_clean(when.node),
            rule.name,
            trigger,
            _inputs(reads),
        )

    def dispatch(self, symbol: str, key: tuple[str, str | None], step: Step) -> None:
        by_key = self._by_key.get(key)
        if by_key is None:
            return  # no rule has the trigger
        if self.state.stopping is not None:
            return  # the kill switch stopped the bot: what it still hears while it winds down runs no rule
        plans, prev_slots = by_key
        run = self._runs[symbol]
        plan = plans.get(run.state)
        if not plan and not prev_slots:
            return  # no rule of this state has the trigger and none keeps `prev.`: nothing to read or run
        env = run.market.env
        snapshot = run.prev.get(key) if prev_slots else None
        if prev_slots:
            if snapshot is None:
                snapshot = run.prev[key] = {}
            for n, slot in prev_slots:
                env[slot] = snapshot.get(n, env.get(n, math.nan))
        if plan:
            env["state"] = run.state
            start_state, start_exiting = run.state, run.exiting
            nr = run.market.not_ready  # the market's one set: names fill in as data arrives
            for rule, fn, reads_nan, nan_checked, clean, name, trigger, inputs in plan:
                if symbol not in rule.symbols:
                    continue
                if nr and not rule.reads.isdisjoint(nr):
                    continue
                fired, error = True, None
                if fn is not None:
                    try:
                        fired = bool(fn(env))
                        # A NaN compares false (and `!=` true) without a word: when one is among
                        # the inputs, the checking twin says whether it decided the result (a
                        # `clean` condition that came out true read none: true_is_clean).
                        if reads_nan is not None and not (fired and clean) and reads_nan(env):
                            nan_checked(env)  # type: ignore[misc]  # set together with reads_nan
                    except (ArithmeticError, ValueError, TypeError) as exc:
                        fired, error = False, f"{type(exc).__name__}: {exc}"
                if fired or self.record_all or error:
                    step.records.append(
                        rec.Decision(
                            self.state.time, symbol, name, trigger, run.state, inputs(env), fired, self._version, error
                        )
                    )
                if fired:
                    eng = self.engine
                    eng.actions.run(symbol, rule, step)
                    # A refused entry followed by `goto: long` would leave a state that claims
                    # a position nobody holds: fall back at once.
                    eng.binding.check(
                        symbol,
                        self.state.time,
                        step,
                        why="no position (entry not placed)",
                    )
                    if run.state != start_state or run.exiting is not start_exiting:
                        break  # the remaining rules were chosen for the state we just left (or are leaving)
        if prev_slots and snapshot is not None:
            for n, _ in prev_slots:
                snapshot[n] = env.get(n, math.nan)

    def remember(self, symbol: str, key: tuple[str, str | None]) -> None:
        """Keep `key`'s `prev.` values from the env, as its dispatch does after its rules, where no
        rule runs (a backtest's warm-up): a crossover on the first candle after it then compares
        with the candle before, as a run that began earlier does."""
        by_key = self._by_key.get(key)
        if by_key is None or not by_key[1]:
            return
        run = self._runs[symbol]
        snapshot = run.prev.setdefault(key, {})
        env = run.market.env
        for n, _ in by_key[1]:
            snapshot[n] = env.get(n, math.nan)

    def carry_prev(
        self, symbol: str, before: Mapping[tuple[str, str | None], Mapping[str, Any]], redefined: set[str]
    ) -> None:
        """After a hot reload: each trigger's `prev.` values as the old rulebook's dispatch left them,
        for the names that mean what they meant; an indicator `redefined` (or a name the trigger did
        not read before) from the env, re-warmed. A crossover on the first event after the reload
        then compares with the event before, as a bot that ran the new rulebook all along does. Keys
        `remember_closed` set from the re-warmed candles, and triggers never dispatched, are left."""
        run = self._runs[symbol]
        env = run.market.env
        for key, (_, slots) in self._by_key.items():
            old = before.get(key)
            if not slots or old is None or key in run.prev:
                continue
            run.prev[key] = {
                n: old[n] if n in old and n.split("[")[0].split(".")[0] not in redefined else env.get(n, math.nan)
                for n, _ in slots
            }

    def remember_closed(self, symbol: str, timeframe: str) -> None:
        """After a warm-up from `timeframe`'s candles (a restart's REST klines): keep the prev values
        of its candle_close key when they are all of that timeframe, as the dispatch of its last
        candle would have. A key that reads others (a 1h rule's `close@1m`) is left alone: the env
        holds them as of their own last candle, not as of this one."""
        key = ("candle_close", timeframe)
        if key in self._closed_keys:
            self.remember(symbol, key)


def _timeframe_of(name: str, tf_of: Mapping[str, str]) -> str | None:
    """The timeframe whose candles alone move `name` (`close@1h[2]`, `macd.hist`, `atr[1]`); None for a
    value that moves with anything else (price, the account, the clock)."""
    base = name.split("[")[0]
    if "@" in base:
        return base.split("@")[1]
    return tf_of.get(base.split(".")[0])


# A rule as the dispatch reads it: the rule, its condition's function (None: no condition), NaN
# test and checking twin, whether a true result proves no NaN read (true_is_clean), its name, its
# trigger's text, and what its decision shows of the env.
_Plan = tuple[
    "CompiledRule",
    "EnvFn | None",
    "Callable[[dict[str, Any]], bool] | None",
    "EnvFn | None",
    bool,
    str,
    str,
    "Callable[[dict[str, Any]], dict[str, Any]]",
]


def true_is_clean(node: ir.Node) -> bool:
    """A condition that, when it comes out true, has read no NaN: then its checking twin, which
    follows the same path and raises only on a NaN it reads, has nothing to say. So it is for a
    comparison by `<`, `<=`, `>`, `>=` or `==` (false whenever a side is NaN) of values that are NaN
    whenever a name they read is (names, constants, `+ - * / // %`, unary minus, `abs`, `pct`), and
    for `and` of such conditions (true only when each ran and came out true). Not for `or`, `not`,
    `!=`, a bare name (NaN is truthy), `min`/`max`/`clamp` (which may drop a NaN), a power
    (`nan ** 0` is 1), a conditional expression or a crossover."""
    if isinstance(node, ir.BoolOp):
        return node.op == "and" and all(true_is_clean(v) for v in node.values)
    if isinstance(node, ir.Compare):
        return all(op in _FALSE_ON_NAN for op in node.ops) and all(
            _nan_spreads(x) for x in (node.left, *node.comparators)
        )
    return False


_FALSE_ON_NAN = frozenset({"<", "<=", ">", ">=", "=="})


def _nan_spreads(node: ir.Node) -> bool:
    """The value is NaN whenever a name it reads holds NaN (or the evaluation raises)."""
    if isinstance(node, ir.Ref | ir.Const | ir.Param):
        return True
    if isinstance(node, ir.Unary):
        return node.op in ("-", "+") and _nan_spreads(node.operand)
    if isinstance(node, ir.Binary):
        return _nan_spreads(node.left) and _nan_spreads(node.right)
    if isinstance(node, ir.Call):
        return node.fn in ("abs", "pct") and all(_nan_spreads(a) for a in node.args)
    return False


def _inputs(reads: tuple[str, ...]) -> Callable[[dict[str, Any]], dict[str, Any]]:
    """The values a decision shows, `reads` in order: each read from the env as the condition reads
    it (an account value is computed on first read); a name the env does not hold shows None."""
    if not reads:
        return lambda env: {}
    if len(reads) == 1:
        (name,) = reads

        def one(env: dict[str, Any]) -> dict[str, Any]:
            try:
                return {name: env[name]}
            except KeyError:
                return {name: None}

        return one

    def some(env: dict[str, Any]) -> dict[str, Any]:
        try:
            return {n: env[n] for n in reads}  # twice as fast as dict(zip(...)) of an itemgetter's tuple
        except KeyError:  # a name the env does not hold: the others still shown
            return {n: _read(env, n) for n in reads}

    return some


def _read(env: dict[str, Any], name: str) -> Any:
    try:
        return env[name]  # [] rather than get(): account values are computed on first read
    except KeyError:
        return None


def _nan_test(when: CompiledExpr) -> Callable[[dict[str, Any]], bool]:
    """`when.reads_nan`, except that an account value the env does not hold is not read: it would be
    computed for the test alone (env.Env), on every evaluation of a rule like `price < x and upnl > 0`.
    None is lost: an account value the condition read is in the env (the first read fills them all),
    and the checking twin follows the condition's own path, so it never reaches one that is not."""
    account = tuple(sorted(when.names & ACCOUNT_NAMES))
    if not account:
        return when.reads_nan  # type: ignore[return-value]  # set when the condition reads names
    plain = build(generate_nan_test(when.names - ACCOUNT_NAMES))

    def reads_nan(env: dict[str, Any]) -> bool:
        if plain(env):
            return True
        get = env.get  # dict.get: never computes an account value
        for name in account:
            value = get(name, 0.0)
            if value != value:  # NaN, the one value unequal to itself (some are str)
                return True
        return False

    return reads_nan
