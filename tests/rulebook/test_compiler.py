"""The compiler: the state machine it builds, and each compile-time check of RULEBOOK.md."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from rulebot.rulebook.compiler import compile_file, compile_text
from rulebot.rulebook.errors import RulebookError

RULES = sorted((Path(__file__).resolve().parents[2] / "rules").glob("*.yaml"))

BASE = """\
rulebook: t
market: usdm
symbols: [BTCUSDT]
timeframes: [15m]
params: {fast: 21, slow: 55}
indicators:
  ema_fast: ema(close@15m, fast)
  ema_slow: ema(close@15m, slow)
"""
ENTER_EXIT = """\
rules:
  - name: enter
    on: candle_close 15m
    in: flat
    when: crossover(ema_fast, ema_slow)
    do:
      - enter: {side: long, size: 2%}
      - stop_loss: {distance: 2%}
      - goto: long
  - name: leave
    on: candle_close 15m
    in: long
    when: ema_fast < ema_slow
    do: [exit, {goto: flat}]
"""


def diags(text: str) -> list[tuple[str, str, str]]:
    try:
        book = compile_text(text, "t.yaml")
    except RulebookError as exc:
        return [(d.severity, d.code, d.message) for d in exc.diagnostics]
    return [(d.severity, d.code, d.message) for d in book.warnings]


def codes(text: str) -> set[str]:
    return {c for _, c, _ in diags(text)}


@pytest.mark.parametrize("path", RULES, ids=[p.stem for p in RULES])
def test_ready_rulebooks_compile_without_errors_or_warnings(path):
    book = compile_file(str(path))
    assert book.warnings == ()
    assert book.rules and book.dispatch


def test_dispatch_indexes_rules_by_trigger_and_state():
    book = compile_text(BASE + ENTER_EXIT)
    assert [r.name for r in book.rules_for(("candle_close", "15m"), "flat")] == ["enter"]
    assert [r.name for r in book.rules_for(("candle_close", "15m"), "long")] == ["leave"]
    assert book.rules_for(("trade", None), "flat") == ()
    assert book.prev_names == {"ema_fast", "ema_slow"}


def test_priority_then_file_order_decides_who_runs_first():
    text = (
        BASE
        + """\
rules:
  - {name: a, on: trade, do: [{log: a}]}
  - {name: b, on: trade, priority: 5, do: [{log: b}]}
  - {name: c, on: trade, do: [{log: c}]}
"""
    )
    book = compile_text(text)
    assert [r.name for r in book.rules_for(("trade", None), "flat")] == ["b", "a", "c"]


def test_indicator_graph_orders_inputs_first_and_sums_warmups():
    text = (
        BASE.replace("timeframes: [15m]", "timeframes: [1m, 15m]")
        + """\
  vol_base: sma(vol, 240)
  vol: stdev(returns@1m, 30)
"""
        + ENTER_EXIT
    )
    book = compile_text(text)
    names = [i.name for i in book.indicators]
    assert names.index("vol") < names.index("vol_base")
    by = {i.name: i for i in book.indicators}
    assert (by["vol"].total_warmup, by["vol_base"].total_warmup) == (31, 270)
    assert by["vol_base"].timeframe == "1m"


def test_states_carry_timeouts_and_where_a_closed_position_returns():
    text = (
        BASE
        + """\
states:
  flat: {position: none}
  armed: {position: none, timeout: 2h, then: flat}
  long: {position: long}
rules:
  - name: arm
    on: candle_close 15m
    in: flat
    when: crossover(ema_fast, ema_slow)
    do: [{goto: armed}]
  - name: enter
    on: candle_close 15m
    in: armed
    do: [{enter: {side: long, size: 1}}, {stop_loss: {distance: 2%}}, {goto: long}]
  - {name: leave, on: candle_close 15m, in: long, when: ema_fast < ema_slow, do: [exit, {goto: flat}]}
"""
    )
    book = compile_text(text)
    assert book.states["armed"].timeout_ms == 7_200_000 and book.states["armed"].then == "flat"
    assert book.states["long"].on_close == "flat"
    assert ("armed", "flat", "timeout") in book.transitions()


def test_set_overrides_a_param_and_is_checked():
    book = compile_text(BASE + ENTER_EXIT, overrides={"fast": "13"})
    assert book.params["fast"] == 13
    assert next(i for i in book.indicators if i.name == "ema_fast").params == (13.0,)
    assert "unknown-param" in codes_with(BASE + ENTER_EXIT, {"fsat": "13"})
    assert "param-type" in codes_with(BASE + ENTER_EXIT, {"fast": "quick"})


def test_an_out_of_range_param_is_named_with_its_value():
    """`--set fast=0` (a sweep's `--param fast=0,21` too): the message gives the value that is wrong,
    not only the parameter's name, which the rulebook sets to something valid (probe finding 39)."""
    for value, words in (
        ("0", "must be at least 1 and at most 10000, got fast = 0"),
        ("2.5", "whole number, got fast = 2.5"),
    ):
        with pytest.raises(RulebookError) as info:
            compile_text(BASE + ENTER_EXIT, overrides={"fast": value})
        assert any(words in d.message for d in info.value.diagnostics), [d.message for d in info.value.diagnostics]
    with pytest.raises(RulebookError) as info:
        compile_text(BASE.replace("ema(close@15m, slow)", "ema(close@15m, 0)") + ENTER_EXIT)
    assert any(d.message.endswith("got 0") for d in info.value.diagnostics)  # a number is shown as written


def codes_with(text: str, overrides: dict[str, str]) -> set[str]:
    with pytest.raises(RulebookError) as info:
        compile_text(text, overrides=overrides)
    return {d.code for d in info.value.diagnostics}


# ---- one test per compile-time check of RULEBOOK.md (the invalid corpus pins exact messages)


def test_unknown_name_function_state_symbol_timeframe():
    assert "unknown-name" in codes(BASE + ENTER_EXIT.replace("ema_fast < ema_slow", "ema_fsat < ema_slow"))
    assert "unknown-function" in codes(BASE + ENTER_EXIT.replace("crossover(", "crossovr("))
    assert "unknown-state" in codes(BASE + ENTER_EXIT.replace("in: long", "in: lng"))
    assert "unknown-symbol" in codes(BASE + ENTER_EXIT.replace("name: leave", "name: leave\n    symbol: ETHUSDT"))
    assert "undeclared-timeframe" in codes(
        BASE + ENTER_EXIT.replace("on: candle_close 15m\n    in: long", "on: candle_close 1h\n    in: long")
    )


def test_type_errors():
    assert "type" in codes(BASE + ENTER_EXIT.replace("when: ema_fast < ema_slow", "when: ema_fast - ema_slow"))
    assert "type" in codes(BASE + ENTER_EXIT.replace("size: 2%", 'size: "price > 1"'))


def test_enter_without_any_stop_is_a_warning():
    text = BASE + ENTER_EXIT.replace("      - stop_loss: {distance: 2%}\n", "")
    assert ("warning", "no-protective-stop") in {(s, c) for s, c, _ in diags(text)}


def test_unreachable_states_are_warned():
    text = (
        BASE
        + """\
states:
  flat: {position: none}
  long: {position: long}
  lost: {position: none}
"""
        + ENTER_EXIT
    )
    assert ("warning", "unreachable-state", "state 'lost' is unreachable from the initial state 'flat'") in diags(text)


def test_position_state_without_exit_path_is_an_error():
    text = BASE + ENTER_EXIT.replace("      - stop_loss: {distance: 2%}\n", "").replace(
        "do: [exit, {goto: flat}]", "do: [{log: hi}]"
    )
    assert "no-exit-path" in codes(text)


def test_actions_contradicting_the_state_are_errors():
    text = BASE + ENTER_EXIT.replace("in: long", "in: flat").replace("name: leave", "name: leave\n    priority: 1")
    assert "state-contradiction" in codes(text)


def test_opposite_entries_on_one_trigger_and_state_need_priority():
    short = ENTER_EXIT.replace("name: enter", "name: enter-short").replace("side: long", "side: short")
    short = short.split("  - name: leave")[0].replace("rules:\n", "").replace("goto: long", "goto: short")
    text = BASE + ENTER_EXIT + short
    assert "opposite-entries" in codes(text)
    assert "opposite-entries" not in codes(text.replace("name: enter-short", "name: enter-short\n    priority: 1"))


def test_a_second_entry_in_one_rule_is_an_error_never_a_silent_refusal():
    """Tried in hedge mode: a rule entering both legs at once got only the first leg (the engine
    refuses an entry while another is working) and the compiler blamed the rule against itself."""
    hedge = BASE.replace("timeframes:", "account: {position_mode: hedge}\ntimeframes:") + ENTER_EXIT.replace(
        "      - stop_loss:", "      - enter: {side: short, size: 1%}\n      - stop_loss:"
    ).replace("in: long", "in: [long, short]")
    found = diags(hedge)
    assert [m for _, code, m in found if code == "second-entry"] == [
        "rule 'enter' enters twice (do[0] and do[1]): the second entry would go out while the first is still "
        "working, and the engine refuses it (one entry at a time on a symbol)"
    ]
    assert "opposite-entries" not in {code for _, code, _ in found}
    pyramid = BASE + ENTER_EXIT.replace(
        "      - stop_loss:", "      - enter: {side: long, size: 1%}\n      - stop_loss:"
    )
    assert "second-entry" in codes(pyramid)
    reverse = BASE + ENTER_EXIT.replace("do: [exit, {goto: flat}]", "do: [exit, {enter: {side: short, size: 2%}}]")
    assert "second-entry" not in codes(reverse)  # stop and reverse: one entry


@pytest.mark.parametrize(
    ("risk", "guard"),
    [
        ("max_leverage: 50", "max_leverage"),
        ("daily_loss_cap: 50%", "daily_loss_cap"),
        ("stale_after: 10m", "stale_after"),
        ("min_liquidation_distance: 0.5%", "min_liquidation_distance"),
    ],
)
def test_looser_guards_are_clamped_with_a_warning_naming_the_guard(risk, guard):
    book = compile_text(BASE + ENTER_EXIT + "risk:\n  " + risk + "\n")
    (w,) = [d for d in book.warnings if d.code == "guard-clamped"]
    assert f"({guard} guard)" in w.message
    assert book.risk.setting(guard).source == "clamped"


def test_account_leverage_and_set_leverage_are_clamped():
    text = BASE.replace("timeframes", "account: {leverage: 50}\ntimeframes") + ENTER_EXIT.replace(
        "      - goto: long\n", "      - set_leverage: 25\n      - goto: long\n"
    )
    book = compile_text(text)
    assert book.leverage == 10
    assert sum(d.code == "guard-clamped" for d in book.warnings) == 2


@pytest.mark.parametrize(
    "risk",
    [
        "enabled: false",
        "max_leverage: 0",
        "daily_loss_cap: 0%",
        "stale_after: 0s",
        "kill_switch: off",
        "daily_loss_cap: 500",
    ],
)
def test_a_rulebook_cannot_switch_a_guard_off(risk):
    assert any(s == "error" for s, _, _ in diags(BASE + ENTER_EXIT + "risk:\n  " + risk + "\n"))


def test_durations_and_cron_that_do_not_parse():
    assert "schema" in codes(BASE + "states:\n  flat: {position: none, timeout: 2hours, then: flat}\n" + ENTER_EXIT)
    assert "trigger" in codes(BASE + ENTER_EXIT + '  - {name: c, on: cron "0 25 * * *", do: [{log: x}]}\n')


def test_tightened_risk_settings_reach_the_effective_guards():
    book = compile_text(BASE + ENTER_EXIT + 'risk:\n  max_leverage: 3\n  daily_loss_cap: "2%"\n')
    assert book.risk.max_leverage == 3
    assert book.risk.daily_loss_cap_fraction == Decimal("0.02")
    assert book.risk.setting("stale_after").source == "engine"


@pytest.mark.parametrize(
    ("definition", "reads", "message"),
    [
        ("ema(close@1h, fast)", "ema_fast", "timeframe '1h' is not declared"),
        ("emaa(close@15m, fast)", "ema_fast", "unknown indicator function 'emaa'"),
        ("ema(close@15m)", "ema_fast", "ema takes 1 argument(s) after its input, got 0"),
        ("macd(close@15m, 12, 26, 9, 4)", "ema_fast.line", "macd takes 0 to 3 argument(s) after its input, got 4"),
        ("sma(ema_slw, 5)", "ema_fast", "unknown input 'ema_slw'"),
    ],
)
def test_an_indicator_in_error_is_one_error_not_one_more_in_every_rule_that_reads_it(definition, reads, message):
    """A typo in a definition also gave "unknown name 'ema_fast'; did you mean 'fast'?" at every
    rule reading it: the name is declared, and the suggestion pointed at a param."""
    text = BASE.replace("ema(close@15m, fast)", definition) + ENTER_EXIT.replace("ema_fast", reads)
    assert [(s, m) for s, _, m in diags(text) if s == "error"] == [("error", message)]


def test_an_indicator_reading_one_in_error_adds_no_error_of_its_own():
    text = BASE.replace("ema(close@15m, fast)", "ema(close@1h, fast)") + "  smooth: sma(ema_fast, 3)\n"
    text += ENTER_EXIT.replace("ema_slow", "smooth")
    assert [m for s, _, m in diags(text) if s == "error"] == ["timeframe '1h' is not declared"]


def test_a_zero_timeout_is_an_error_and_a_timeout_into_the_same_state_a_warning():
    """`timeout: 0s` compiled (the state was left as soon as it was entered) while `every 0s` is
    refused; `then:` naming the state itself compiled silently and did nothing."""
    states = "states:\n  flat: {position: none, timeout: 0s, then: flat}\n  long: {position: long}\n"
    zero = diags(BASE + states + ENTER_EXIT)
    assert ("error", "timeout", "state 'flat' has a timeout of 0s: it would be left as soon as it is entered") in zero
    states = "states:\n  flat: {position: none, timeout: 2h, then: flat}\n  long: {position: long}\n"
    assert ("warning", "timeout-then", "state 'flat' times out into itself: the timeout does nothing") in diags(
        BASE + states + ENTER_EXIT
    )


def test_an_empty_in_list_is_an_error_not_every_state():
    """`in: []` compiled as 'every state' (the default for no `in:`), so an exit rule meant for
    no state yet ran in all of them."""
    text = BASE + ENTER_EXIT.replace("    in: long\n", "    in: []\n")
    assert ("error", "empty-in", "rule 'leave' has an empty `in:` list") in diags(text)


def test_a_symbol_in_the_wrong_case_is_offered_the_right_one():
    text = BASE + ENTER_EXIT.replace("  - name: leave\n", "  - name: leave\n    symbol: btcusdt\n")
    with pytest.raises(RulebookError) as info:
        compile_text(text)
    [d] = [d for d in info.value.diagnostics if d.is_error]
    assert (d.message, d.hint) == ("unknown symbol 'btcusdt'", "did you mean 'BTCUSDT'? (symbols: BTCUSDT)")
