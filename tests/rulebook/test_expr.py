"""The expression sandbox: literals, names, functions, crossover, types, and located errors."""

from __future__ import annotations

import ast
import math

import pytest

from rulebot.rulebook.errors import ExprError, ExprIssue
from rulebot.rulebook.expr import CompiledExpr, ExprType, compile_expr, parse_expr, reference_eval
from rulebot.rulebook.params import ParamDecl
from rulebot.rulebook.scope import Scope

NUM, BOOL, STR = ExprType.NUM, ExprType.BOOL, ExprType.STR

SCOPE = Scope.build(
    params={"fast": 21, "risk_per_trade": 0.01, "mode": "calm", "hedged": False, "digits": 2},
    indicators={
        "ema_fast": (),
        "ema_slow": (),
        "atr": (),
        "vol": (),
        "vol_base": (),
        "macd": ("line", "signal", "hist"),
        "bb": ("upper", "mid", "lower"),
    },
    timeframes=["1m", "15m"],
    states=["flat", "armed", "long", "short"],
)
SMALL = Scope.build(
    params={},
    indicators={"ema_fast": (), "ema_slow": (), "atr": ()},
    timeframes=["1m", "15m"],
    states=["flat", "long"],
)

ENV = {
    "price": 100.0,
    "bid": 99.5,
    "ask": 100.5,
    "mark_price": 100.2,
    "funding_rate": 0.0006,
    "next_funding_in": 600,
    "position.side": "none",
    "position.size": 0.0,
    "entry_price": 95.0,
    "equity": 1000.0,
    "upnl": 5.0,
    "hour": 9,
    "time": 1_700_000_000_000,
    "state": "armed",
    "ema_fast": 101.0,
    "ema_slow": 99.0,
    "atr": 2.0,
    "vol": 0.03,
    "vol_base": 0.005,
    "macd.line": 1.5,
    "macd.signal": 1.0,
    "bb.upper": 99.0,
    "close@15m": 100.5,
    "close@1m": 98.0,
    "prev:ema_fast": 98.0,
    "prev:ema_slow": 99.0,
    "prev:price": 98.0,
    "prev:macd.line": 0.5,
    "prev:macd.signal": 1.0,
}


def run(text: str, env=ENV, scope=SCOPE, expected=None):
    return compile_expr(text, scope, expected).fn(env)


def issues(text: str, scope=SCOPE, expected=None) -> list[ExprIssue]:
    with pytest.raises(ExprError) as info:
        compile_expr(text, scope, expected)
    assert info.value.issues, "ExprError without issues"
    return info.value.issues


def only(text: str, scope=SCOPE, expected=None) -> ExprIssue:
    found = issues(text, scope, expected)
    assert len(found) == 1, found
    return found[0]


def marked(text: str, issue: ExprIssue) -> str:
    return text[issue.offset : issue.offset + issue.length]


# ---------------------------------------------------------------- values


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("crossover(ema_fast, ema_slow)", True),
        ('price <= ema_fast and position.side == "none"', True),
        ("vol > 3 * vol_base and hour >= 8", True),
        ("risk_per_trade * equity / (2 * atr)", 2.5),
        ("close@15m > bb.upper", True),
        ("funding_rate > 0.05%", True),
        ("next_funding_in < 15m", True),
        ("clamp(upnl, 0, 1)", 1),
        ("abs(entry_price - price)", 5.0),
        ("min(bid, ask, price)", 99.5),
        ("max(bid, ask)", 100.5),
        ("round(vol * 100)", 3),
        ("round(2 / 3, 2)", 0.67),
        ("round(2 / 3, digits)", 0.67),
        ("pct(50)", 0.5),
        ("price - 3 * atr", 94.0),
        ("-atr", -2.0),
        ("+atr", 2.0),
        ("2 ** 3", 8.0),
        ("atr ** -1", 0.5),
        ("atr ** 0.5", math.sqrt(2.0)),
        ("7 // 2", 3),
        ("7 % 4", 3),
        ("1 < atr < 3", True),
        ("1 < atr < 2", False),
        ("atr != 2", False),
        ("not hedged", True),
        ("hedged or price > 1", True),
        ('mode == "calm"', True),
        ("fast if price > 50 else 0", 21),
        ('state == "armed"', True),
        ("macd.line - macd.signal", 0.5),
    ],
)
def test_values(text, value):
    got = run(text)
    assert got == pytest.approx(value) if isinstance(value, float) else got == value
    assert type(got) is type(value) or isinstance(value, float)


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("1.5%", 0.015),
        ("50%", 0.5),
        ("0.05%", 0.0005),
        ("100%", 1.0),
        ("2% * 3", 0.06),
        ("2%*3", 0.06),
        ("max(1%, 2%)", 0.02),
        ("(5%)", 0.05),
        ("10 % 3", 1),  # modulo: an operand follows
        ("10 %3", 1),
        ("10%3", 1),
        ("7%(4)", 3),
        ("7.5%.5", 0.0),
        ("30s", 30),
        ("15m", 900),
        ("2h", 7200),
        ("1d", 86400),
        ("1w", 604800),
        ("15m + 30s", 930),
        ("true", True),
        ("false", False),
        ("true and not false", True),
        ('"long"', "long"),
        ("'short'", "short"),
        ("1e3", 1000.0),
        (".5", 0.5),
        ("5.", 5.0),
        ("42", 42),
        ("-3", -3),
    ],
)
def test_literal_forms_are_constants(text, value):
    compiled = compile_expr(text, SCOPE)
    assert compiled.constant == value and type(compiled.constant) is type(value)
    assert compiled.fn({}) == value
    assert compiled.names == frozenset()


def test_percent_before_a_keyword_is_a_percentage():
    assert run("funding_rate < 0.05% or price > 1") is True
    assert run("2% if hedged else 3%") == 0.03


def test_newlines_from_a_wrapped_yaml_value_are_spaces():
    assert run("price > 1\nand hour >= 8\n") is True


def test_compiled_expr_fields():
    c = compile_expr("crossover(ema_fast, ema_slow) and price > fast", SCOPE, BOOL)
    assert isinstance(c, CompiledExpr)
    assert c.text == "crossover(ema_fast, ema_slow) and price > fast"
    assert c.type is BOOL
    assert c.names == {"ema_fast", "ema_slow", "price", "fast"}
    assert c.prev_names == {"ema_fast", "ema_slow"}
    assert c.constant is None
    assert "e['prev:ema_fast']" in c.python_source and "e['price']" in c.python_source
    assert c.python_source == (
        "lambda e: ((e['prev:ema_fast'] <= e['prev:ema_slow'] and e['ema_fast'] > e['ema_slow'])"
        " and (e['price'] > 21))"  # the param is inlined
    )


def test_names_are_flat():
    c = compile_expr('close@15m > bb.upper and position.side == "long" and returns@1m > 0', SCOPE)
    assert c.names == {"close@15m", "bb.upper", "position.side", "returns@1m"}


def test_params_need_not_be_in_the_env():
    assert compile_expr("risk_per_trade * 2", SCOPE).fn({}) == 0.02
    assert compile_expr("risk_per_trade * 2", SCOPE).constant is None  # it reads a name


def test_result_type_is_checked_against_expected():
    assert compile_expr("price > 1", SCOPE, BOOL).type is BOOL
    assert compile_expr("price", SCOPE, NUM).type is NUM
    assert compile_expr("position.side", SCOPE, None).type is STR


def test_generated_code_has_no_builtins():
    fn = compile_expr("price", SCOPE).fn
    assert fn.__globals__["__builtins__"] == {}
    assert set(fn.__globals__) <= {
        "__builtins__",
        "abs",
        "min",
        "max",
        "round",
        "_pow",
        "_inf",
        "_nan",
        "_r",  # reads a name, raising on NaN (the engine's checking twin of a condition)
    }


def test_infinite_param_values_are_generated_as_names():
    scope = Scope.build(params={"big": math.inf, "nothing": math.nan}, indicators={}, timeframes=[], states=[])
    assert compile_expr("-big < 0 < big", scope).fn({}) is True
    assert math.isnan(compile_expr("nothing + 1", scope).fn({}))


# ---------------------------------------------------------------- crossover


@pytest.mark.parametrize(
    ("prev_a", "prev_b", "a", "b", "over", "under"),
    [
        (1.0, 2.0, 3.0, 2.0, True, False),  # crossed up
        (2.0, 2.0, 3.0, 2.0, True, False),  # was touching, now above: counts
        (3.0, 2.0, 4.0, 2.0, False, False),  # stayed above
        (1.0, 2.0, 2.0, 2.0, False, False),  # reached, did not cross
        (3.0, 2.0, 1.0, 2.0, False, True),  # crossed down
        (2.0, 2.0, 1.0, 2.0, False, True),
        (1.0, 2.0, 0.5, 2.0, False, False),  # stayed below
    ],
)
def test_crossover_and_crossunder(prev_a, prev_b, a, b, over, under):
    env = {"ema_fast": a, "ema_slow": b, "prev:ema_fast": prev_a, "prev:ema_slow": prev_b}
    assert run("crossover(ema_fast, ema_slow)", env) is over
    assert run("crossunder(ema_fast, ema_slow)", env) is under
    assert reference_eval("crossover(ema_fast, ema_slow)", SCOPE, env) is over
    assert reference_eval("crossunder(ema_fast, ema_slow)", SCOPE, env) is under


def test_crossover_of_expressions_reads_previous_values_of_every_series_name():
    c = compile_expr("crossover(macd.line - macd.signal, 0)", SCOPE)
    assert c.prev_names == {"macd.line", "macd.signal"}
    assert c.fn(ENV) is True  # was 0.5 - 1.0 < 0, now 1.5 - 1.0 > 0


def test_params_and_engine_values_have_no_previous_value():
    c = compile_expr("crossover(price, fast) or crossover(hour, 8)", SCOPE)
    assert c.prev_names == {"price"}
    assert "prev:hour" not in c.python_source and "prev:fast" not in c.python_source
    assert c.fn({"price": 22.0, "prev:price": 20.0, "hour": 9}) is True


def test_crossover_with_a_series_reference():
    c = compile_expr("crossunder(close@1m, ema_slow)", SCOPE)
    assert c.prev_names == {"close@1m", "ema_slow"}
    assert c.fn({"close@1m": 1.0, "ema_slow": 2.0, "prev:close@1m": 3.0, "prev:ema_slow": 2.0}) is True


def test_names_outside_crossover_need_no_previous_value():
    assert compile_expr("price > ema_fast", SCOPE).prev_names == frozenset()


# ---------------------------------------------------------------- errors with places


def test_did_you_mean_points_at_the_name():
    issue = only("crossover(ema_fsat, ema_slow)", SMALL)
    assert (issue.offset, issue.length) == (10, 8)
    assert issue.message == "unknown name 'ema_fsat'"
    assert issue.hint == "did you mean 'ema_fast'? (indicators: ema_fast, ema_slow, atr)"
    assert issue.code == "unknown-name"


def test_did_you_mean_names_the_kind_of_the_suggestion():
    assert only("equty > 0").hint.startswith("did you mean 'equity'? (account: equity, available, daily_pnl)")
    assert only("risk_per_trad > 0").hint.startswith("did you mean 'risk_per_trade'? (params: fast,")
    assert only("pric > 0").hint.startswith("did you mean 'price'? (market: price, bid, ask")


def test_unknown_name_without_a_close_match_lists_params_and_indicators():
    issue = only("zzz > 0", SMALL)
    assert issue.hint == "(params: none) (indicators: ema_fast, ema_slow, atr)"


def test_unknown_function_did_you_mean():
    issue = only("crossovr(ema_fast, ema_slow)")
    assert issue.message == "unknown function 'crossovr'"
    assert (issue.offset, issue.length) == (0, 8)
    assert issue.hint.startswith("did you mean 'crossover'? (functions: crossover, crossunder, abs")
    assert issue.code == "unknown-function"


def test_indicator_function_in_a_condition_says_where_it_belongs():
    assert "declare it under indicators:" in only("ema(close@15m, 5) > 1").message


def test_undeclared_timeframe_points_at_the_timeframe():
    text = "price > 1 and close@5m > ema_fast"
    issue = only(text)
    assert marked(text, issue) == "5m"
    assert issue.message == "timeframe '5m' is not declared (declared: 1m, 15m)"
    assert issue.code == "undeclared-timeframe"


def test_series_errors():
    assert only("close > 1").message == "'close' needs a timeframe, e.g. close@1m"
    issue = only("closs@15m > 1")
    assert issue.message == "unknown candle field 'closs'" and issue.hint.startswith("did you mean 'close'?")
    assert "only candle fields" in only("ema_fast@15m > 1").message
    assert "'@' is only part of a series name" in only("close @ 15m > 1").message


def test_multi_output_indicator_names():
    issue = only("macd > 0")
    assert issue.message == "indicator 'macd' has several outputs; name one"
    assert issue.hint == "(outputs: macd.line, macd.signal, macd.hist)"
    issue = only("bb.uper > price")
    assert issue.message == "indicator 'bb' has no output 'uper'"
    assert issue.hint.startswith("did you mean 'bb.upper'?")
    assert (issue.offset, issue.length) == (0, 7)


def test_position_names():
    issue = only('position.sid == "long"')
    assert issue.hint.startswith("did you mean 'position.side'?")
    assert "has no '.real'" in only("price.real > 0").message


def test_enumerated_values_are_checked():
    text = 'position.side == "flat"'
    issue = only(text)
    assert issue.message == "'flat' is never a value of position.side"
    assert issue.hint == "(values: long, short, none)"
    assert marked(text, issue) == '"flat"'
    issue = only("state == mode")  # a text param is a constant too
    assert issue.message == "'calm' is never a value of state" and marked("state == mode", issue) == "mode"
    issue = only('"lng" != state')
    assert issue.hint == "did you mean 'long'? (values: flat, armed, long, short)"
    assert issue.code == "enum-value"


@pytest.mark.parametrize(
    ("text", "message", "mark"),
    [
        ("weekday == 7", "7 is never a value of weekday", "7"),  # cron's Sunday 7: here Sunday is 6
        ("7 != weekday", "7 is never a value of weekday", "7"),
        ("hour == 24", "24 is never a value of hour", "24"),
        ("hour == 9.5", "9.5 is never a value of hour", "9.5"),
        ("hour == digits * 12", None, None),  # not a single param or number: left alone
        ("hour >= 24", "hour >= 24 is never true", "hour >= 24"),
        ("hour > 23", "hour > 23 is never true", "hour > 23"),
        ("weekday < 0", "weekday < 0 is never true", "weekday < 0"),
        ("7 <= weekday", "7 <= weekday is never true", "7 <= weekday"),
        ("hour >= 6 and hour < 24", None, None),  # always true: harmless
        ("weekday < 5", None, None),
        ("hour == fast", None, None),  # fast: 21
        ("weekday == fast", "21 is never a value of weekday", "fast"),  # a param is a constant too
    ],
)
def test_an_hour_or_weekday_compared_with_a_value_it_never_takes_is_an_error(text, message, mark):
    """`weekday == 7` (cron's Sunday) or `hour >= 24` compiled, and the rule never fired."""
    if message is None:
        compile_expr(text, SCOPE)
        return
    issue = only(text)
    assert (issue.message, issue.code, marked(text, issue)) == (message, "clock-value", mark)
    assert issue.hint == (
        "hour is a whole number from 0 to 23 (UTC)"
        if text.startswith("hour")
        else "weekday is a whole number from 0 (Monday) to 6 (Sunday), UTC"
    )


@pytest.mark.parametrize(
    ("text", "expected", "fragment", "marked_text"),
    [
        ("price", BOOL, "this must be a boolean (true/false), but it is a number", "price"),
        ("price > 1", NUM, "this must be a number, but it is a boolean", "price > 1"),
        ("true + 1", None, "'+' needs a number, but this is a boolean", "true"),
        ('"a" * 3', None, "'*' needs a number, but this is text", '"a"'),
        (
            "position.side < 1",
            None,
            "'<' compares numbers, but the left side is text",
            "position.side",
        ),
        ("hedged > 1", None, "'>' compares numbers, but the left side is a boolean", "hedged"),
        ("price == true", None, "'==' compares a number with a boolean", "price == true"),
        (
            "price and true",
            None,
            "'and' needs a boolean (true/false), but this is a number",
            "price",
        ),
        ("not price", None, "'not' needs a boolean", "price"),
        ("-hedged", None, "'-' needs a number, but this is a boolean", "hedged"),
        ("1 if price else 2", None, "the condition after 'if' needs a boolean", "price"),
        (
            '1 if hedged else "x"',
            None,
            "both branches of 'if ... else' must have one type",
            '1 if hedged else "x"',
        ),
        ("abs(hedged)", None, "abs needs a number, but this is a boolean", "hedged"),
        (
            "crossover(position.side, 1)",
            None,
            "crossover needs a number, but this is text",
            "position.side",
        ),
        ("round(price, 0.5)", None, "round's ndigits must be a whole number from -20 to 20", "0.5"),
        ("round(price, fast > 1)", None, "round needs a number", "fast > 1"),
    ],
)
def test_type_errors(text, expected, fragment, marked_text):
    issue = only(text, expected=expected)
    assert fragment in issue.message
    assert issue.code == "type"
    assert marked(text, issue) == marked_text


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('"a" + "b" == "ab"', "'+' needs numbers, but both sides are text"),
        ('position.side + "x" == "longx"', "'+' needs numbers, but both sides are text"),
        ("hedged * true > 1", "'*' needs numbers, but both sides are a boolean (true/false)"),
        ('"a" - hedged > 1', "'-' needs numbers, but the left side is text and the right a boolean (true/false)"),
    ],
)
def test_an_operation_on_two_non_numbers_is_one_error_over_the_operation(text, message):
    issue = only(text)
    assert (issue.message, issue.code) == (message, "type")
    assert marked(text, issue) == text.rsplit(" ", 2)[0]
    if '"' in text:
        assert issue.hint == 'text cannot be joined; compare it with ==, e.g. position.side == "long"'


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("price and atr", "'and' needs booleans (true/false), but both sides are a number"),
        ('price or "x"', "'or' needs booleans (true/false), but the left side is a number and the right text"),
        ("price or 1 or 2", "'or' needs booleans (true/false), but all 3 operands are a number"),
        ("price > 1 or 1 or 2", "'or' needs booleans (true/false), but operands 2 and 3 are a number"),
        (
            'price and hedged and "x"',
            "'and' needs booleans (true/false), but operand 1 is a number and operand 3 is text",
        ),
    ],
)
def test_and_or_with_several_non_booleans_is_one_error_over_the_operation(text, message):
    issue = only(text)
    assert (issue.message, issue.code, issue.hint) == (message, "type", "compare each, e.g. x > 0")
    assert marked(text, issue) == text


def test_and_or_with_one_non_boolean_marks_that_operand():
    text = "price > 1 or atr or vol > 2"
    issue = only(text)
    assert (issue.message, marked(text, issue)) == ("'or' needs a boolean (true/false), but this is a number", "atr")
    assert issue.hint == "compare it, e.g. x > 0"


@pytest.mark.parametrize(
    ("text", "message", "comparison"),
    [
        ('"a" < "b"', "'<' compares numbers, but both sides are text", '"a" < "b"'),
        ("position.side >= state", "'>=' compares numbers, but both sides are text", "position.side >= state"),
        ("hedged > true", "'>' compares numbers, but both sides are a boolean (true/false)", "hedged > true"),
        (
            'hedged <= "x"',
            "'<=' compares numbers, but the left side is a boolean (true/false) and the right text",
            None,
        ),
        ('("a") < "b"', "'<' compares numbers, but both sides are text", '("a") < "b"'),
        ('mode == ( "a" ) < "b"', "'<' compares numbers, but both sides are text", '( "a" ) < "b"'),
    ],
)
def test_ordering_two_non_numbers_is_one_error_over_the_comparison(text, message, comparison):
    [issue] = [i for i in issues(text) if "both" in i.message or "and the right" in i.message]
    assert (issue.message, issue.code) == (message, "type")
    assert marked(text, issue) == (comparison or text)
    if '"' in text or "side" in text:
        assert issue.hint == 'text has no order; compare it with == or !=, e.g. position.side == "long"'
    if text.count("<") + text.count(">") == 1:
        assert issues(text) == [issue]


@pytest.mark.parametrize(
    ("text", "message", "chain"),
    [
        ('"a" < "b" < "c"', "'<' compares numbers, but all 3 operands are text", '"a" < "b" < "c"'),
        ('"a" < 1 < "b"', "'<' compares numbers, but operands 1 and 3 are text", '"a" < 1 < "b"'),
        ('"a" < "b" <= 1', "'<' and '<=' compare numbers, but operands 1 and 2 are text", '"a" < "b" <= 1'),
        # Only the part of the chain that orders non-numbers, counted from its start.
        ('price > 1 < ( "a" ) < "b"', "'<' compares numbers, but operands 2 and 3 are text", '1 < ( "a" ) < "b"'),
    ],
)
def test_a_chain_ordering_several_non_numbers_is_one_error_over_the_chain(text, message, chain):
    issue = only(text)
    assert (issue.message, issue.code, marked(text, issue)) == (message, "type", chain)
    assert issue.hint == 'text has no order; compare it with == or !=, e.g. position.side == "long"'


def test_a_chain_ordering_one_non_number_marks_that_operand():
    text = "1 < price < hedged"
    issue = only(text)
    assert (issue.message, marked(text, issue)) == (
        "'<' compares numbers, but the right side is a boolean (true/false)",
        "hedged",
    )


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("max('a', 'b')", "max needs numbers, but both arguments are text"),
        ("min(position.side, 'x', state)", "min needs numbers, but all 3 arguments are text"),
        (
            "min(price, 'a', hedged)",
            "min needs numbers, but argument 2 is text and argument 3 is a boolean (true/false)",
        ),
        (
            "clamp('a', hedged, 'b')",
            "clamp needs numbers, but arguments 1 and 3 are text and argument 2 is a boolean (true/false)",
        ),
        ("round(hedged, true)", "round needs numbers, but both arguments are a boolean (true/false)"),
        ("crossover(position.side, 'x')", "crossover needs numbers, but both arguments are text"),
    ],
)
def test_a_call_with_several_non_number_arguments_is_one_error_over_the_call(text, message):
    issue = only(text)
    assert (issue.message, issue.code) == (message, "type")
    assert marked(text, issue) == text
    if "text" in message:
        name = text.split("(")[0]
        assert issue.hint == f'{name} works on numbers; compare text with ==, e.g. position.side == "long"'


def test_a_call_with_one_non_number_argument_marks_that_argument():
    text = "max(price, 'a', 2)"
    issue = only(text)
    assert (issue.message, marked(text, issue)) == ("max needs a number, but this is text", "'a'")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("clamp(1, 2)", "clamp takes 3 arguments, got 2"),
        ("abs(1, 2)", "abs takes 1 argument, got 2"),
        ("min(1)", "min takes at least 2 arguments, got 1"),
        ("round(1, 2, 3)", "round takes 1 or 2 arguments, got 3"),
        ("crossover(price)", "crossover takes 2 arguments, got 1"),
    ],
)
def test_arity(text, message):
    issue = only(text)
    assert issue.message == message and issue.code == "arity"


@pytest.mark.parametrize(
    ("text", "message", "swapped"),
    [
        ("clamp(price, 2, 1)", "clamp's lower bound 2 is above its upper bound 1", "clamp(price, 1, 2)"),
        ("clamp(price, -1, -2) > 0", "clamp's lower bound -1 is above its upper bound -2", "clamp(price, -2, -1)"),
        ("clamp(price, fast, 3)", "clamp's lower bound fast (21) is above its upper bound 3", "clamp(price, 3, fast)"),
        ("clamp(price, 1%, 0.5%)", "clamp's lower bound 1% is above its upper bound 0.5%", "clamp(price, 0.5%, 1%)"),
    ],
)
def test_clamp_bounds_known_in_the_wrong_order_are_an_error_at_the_call(text, message, swapped):
    issue = only(text)
    assert (issue.message, issue.code) == (message, "clamp-bounds")
    assert marked(text, issue) == text.split(" >")[0]
    assert issue.hint is not None and issue.hint.endswith(f"swap them: {swapped}")


@pytest.mark.parametrize("text", ["clamp(price, 1, 1)", "clamp(price, -2, -1)", "clamp(price, atr, 1)"])
def test_clamp_bounds_in_order_or_not_known_compile(text):
    compile_expr(text, SCOPE)


def test_crossover_cannot_nest():
    issue = only("crossover(price, 1 if crossover(price, 2) else 3)")
    assert issue.message == "crossover cannot contain crossover or crossunder"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("crossover(ema_fast, ema_fast)", "crossover of a value with itself is never true"),
        ("crossunder(macd.line, (macd.line))", "crossunder of a value with itself is never true"),
        ("crossover(1, 2)", "crossover of two values that never change is never true"),
        ("crossunder(fast, 2 * fast)", "crossunder of two values that never change is never true"),
    ],
)
def test_a_crossover_that_can_never_happen_is_an_error(text, message):
    """`crossover(ema_fast, ema_fast)` (a typo for ema_slow) compiled, and the rule never fired."""
    issue = only(text)
    assert (issue.message, issue.code, marked(text, issue)) == (message, "never-crosses", text)


@pytest.mark.parametrize("text", ["crossover(ema_fast, ema_slow)", "crossover(price, fast)", "crossover(ema_fast, 1)"])
def test_a_crossover_of_a_moving_value_compiles(text):
    compile_expr(text, SCOPE)


def test_every_issue_is_reported_in_text_order():
    text = 'ema_fsat > 1 and close@5m > foo and position.side == "flat" or 1 + true > 0'
    found = issues(text)
    assert [marked(text, i) for i in found] == ["ema_fsat", "5m", "foo", '"flat"', "true"]
    assert [i.code for i in found] == [
        "unknown-name",
        "undeclared-timeframe",
        "unknown-name",
        "enum-value",
        "type",
    ]


def test_offsets_point_into_the_original_text_after_rewritten_literals():
    text = "1.5% + 15m + close@15m + 2h * fooo"
    issue = only(text)
    assert (issue.offset, issue.length) == (text.index("fooo"), 4)
    text = 'state == "été" and fooo > 1'
    found = issues(text)
    assert [marked(text, i) for i in found] == ['"été"', "fooo"]


def test_offset_of_a_whole_rewritten_literal():
    text = "price + (15m > 1)"
    issue = only(text)
    assert marked(text, issue) == "15m > 1"


def test_syntax_errors_are_placed():
    text = "price > > 1"
    issue = only(text)
    assert issue.code == "syntax" and issue.message.startswith("syntax error")
    assert issue.offset == 8
    issue = only("price = 1")
    assert issue.hint == "compare with ==, not =" and issue.offset == 6
    issue = only("(price > 1")
    assert issue.offset == 0 and "never closed" in issue.message
    assert only("").message == "the expression is empty"
    assert only("   ").message == "the expression is empty"
    issue = only("price > 'abc")
    assert issue.message == "this string is never closed" and issue.offset == 8


def test_an_unfinished_expression_points_at_its_end():
    text = "price > 1 and"
    issue = only(text)
    assert issue.message == "the expression ends too early after 'and'"
    assert marked(text, issue) == "and"
    issue = only("5 %")
    assert issue.offset == 2 and issue.hint == "a percentage touches its number: 5%"


def test_literal_errors():
    issue = only("price > 1.5h")
    assert issue.message == "duration '1.5h' must be a whole number of h" and issue.offset == 8
    assert only("15x > 1").message == "'15x' is not a number or a duration"
    assert only("1e999 > 1").message == "this number is too large"


def test_an_expression_that_always_fails_is_a_compile_error():
    issue = only("1 / 0")
    assert issue.code == "constant-error" and "division by zero" in issue.message


ZERO = Scope.build(params={"z": 0, "p": 3, "q": 3}, indicators={}, timeframes=["1m"], states=["flat"])


@pytest.mark.parametrize(
    ("text", "division"),
    [
        ("price > 1 / 0", "1 / 0"),
        ("1 / 0 > 2 or price > 1", "1 / 0"),  # the first operand of or/and always runs
        ("price > 1 and (price // -0 > 2 or price > 3)", None),  # behind `and`: a warning, below
        ("(1 if price % 0 > 1 else 2) > 0", "price % 0"),  # the test of if-else always runs
        ("price % 0 < 1 < 2", "price % 0"),
        ("abs(price / 0) > 1", "price / 0"),
        ("max(price, 1 / 0) > 1", "1 / 0"),
        ("crossover(price, 1 / 0)", "1 / 0"),  # its previous values are compared first, every time
        ("price / z > 1", "price / z"),
    ],
)
def test_a_division_by_zero_every_evaluation_reaches_is_an_error_at_the_division(text, division):
    if division is None:
        assert compile_expr(text, ZERO).warnings
        return
    issue = only(text, ZERO)
    assert (issue.message, issue.code) == ("this expression always fails: division by zero", "constant-error")
    assert marked(text, issue) == division


@pytest.mark.parametrize(
    ("text", "division"),
    [
        ("price > 1 or 1 / 0 > 2", "1 / 0"),
        ("price > 1 and price // -0 > 2", "price // -0"),
        ("(1 / 0 if price > 1 else 2) > 0", "1 / 0"),
        ("(2 if price > 1 else abs(price % 0.0)) > 0", "price % 0.0"),
        ("1 < price < 1 / 0", "1 / 0"),
        ("not (price > 1 or crossover(price, 1 / 0))", "1 / 0"),
    ],
)
def test_a_division_by_a_literal_zero_that_may_be_skipped_compiles_with_a_warning_at_the_division(text, division):
    compiled = compile_expr(text, ZERO)
    [warning] = compiled.warnings
    assert (warning.severity, warning.code) == ("warning", "division-by-zero")
    assert warning.message == "division by zero: this part fails whenever it is evaluated"
    assert marked(text, warning) == division


@pytest.mark.parametrize(
    ("text", "division", "hint"),
    [
        ("price / (1 - 1) > 2", "price / (1 - 1)", "'1 - 1' is always 0; divide by something other than 0"),
        ("price // -(2 * 0) > 2", "price // -(2 * 0)", "'-(2 * 0)' is always 0; divide by something other than 0"),
        ("price / (p - p) > 2", "price / (p - p)", "'p - p' is 0 with p: 3; divide by something other than 0"),
        (
            "abs(price % (p - q)) > 2",
            "price % (p - q)",
            "'p - q' is 0 with p: 3, q: 3; divide by something other than 0",
        ),
        (
            "price / min(p, z) > 2",
            "price / min(p, z)",
            "'min(p, z)' is 0 with p: 3, z: 0; divide by something other than 0",
        ),
        ("1 / (1 - 1)", "1 / (1 - 1)", "'1 - 1' is always 0; divide by something other than 0"),
    ],
)
def test_a_divisor_of_numbers_and_params_that_folds_to_zero_is_an_error_at_the_division(text, division, hint):
    issue = only(text, ZERO)
    assert (issue.message, issue.code) == ("this expression always fails: division by zero", "constant-error")
    assert (marked(text, issue), issue.hint) == (division, hint)


def test_a_divisor_that_folds_to_zero_where_it_may_be_skipped_warns_as_a_written_zero_does():
    text = "price > 1 or price / (1 - 1) > 2"
    [warning] = compile_expr(text, ZERO).warnings
    assert (warning.severity, warning.code, marked(text, warning)) == ("warning", "division-by-zero", "price / (1 - 1)")
    # Computed from params, it may be guarded on purpose, as a param zero may: `p != q and x / (p - q) > 1`.
    assert compile_expr("p != q and price / (p - q) > 2", ZERO).warnings == ()


@pytest.mark.parametrize(
    ("text", "division"),
    [
        ("price > 1 or price / (p - p) > 2", "price / (p - p)"),
        ("price > 1 and price / (p - p) > 2", "price / (p - p)"),
        ("(price / (p - p) if price > 1 else 2) > 0", "price / (p - p)"),
        ("(2 if price > 1 else abs(price % -(q - q))) > 0", "price % -(q - q)"),
        ("price > 1 or (price > 2 and price // (p * 0) > 1)", "price // (p * 0)"),
        ("p > 0 and price / (p - p) > 1", "price / (p - p)"),  # no value of p can guard it
        ("p != q and price / (p - q + z - z - p + q) > 1", "price / (p - q + z - z - p + q)"),
    ],
)
def test_a_divisor_from_params_that_is_zero_whatever_their_values_warns_where_it_may_be_skipped(text, division):
    [warning] = compile_expr(text, ZERO).warnings
    assert (warning.severity, warning.code, marked(text, warning)) == ("warning", "division-by-zero", division)
    assert warning.message == "division by zero: this part fails whenever it is evaluated"
    assert "is 0 at every value" in (warning.hint or "")


@pytest.mark.parametrize(
    "text",
    [
        "p != q and price / (p - q) > 2",
        "z != 0 and price / (z * p) > 1",
        "p != 3 and price / (p - 3) > 1",
        "(price / (p - q) if p != q else 0) > 1",
        "p > 1000 and price / max(p - 1000, 0) > 1",  # 0 for every p up to 1000
        "z == 0 or price / z > 1",
        "price > 1 or (z != 0 and price / z > 1)",
        "(0 if abs(z) < 1 else price / z) > 1",
    ],
)
def test_a_divisor_from_params_that_other_values_make_non_zero_may_be_guarded_without_a_warning(text):
    assert compile_expr(text, ZERO).warnings == ()


@pytest.mark.parametrize(
    ("text", "division"),
    [
        ("price < 1 or price / z > 1", "price / z"),  # z: 0, and the guard reads the price only
        ("price > 1 or price / (p - 3) > 1", "price / (p - 3)"),
        ("price > 1 or price / min(p, z) > 2", "price / min(p, z)"),
        ("price > 1 or price / (abs(z) - z) > 2", "price / (abs(z) - z)"),
        ("price > 1 or price / round(p / 5000) > 2", "price / round(p / 5000)"),
        ("(price / z if price > 1 else 0) > 1", "price / z"),
    ],
)
def test_a_divisor_zero_at_the_params_values_behind_a_guard_that_does_not_read_them_warns(text, division):
    """Other values of the params would make it non-zero, but nothing deciding whether it runs reads
    them: with the rulebook's values it fails every time it runs (a backtest showed every
    evaluation of the rule as an error, and validate had said the rulebook was fine)."""
    [warning] = compile_expr(text, ZERO).warnings
    assert (warning.severity, warning.code, marked(text, warning)) == ("warning", "division-by-zero", division)
    assert "what decides whether it runs does not read" in (warning.hint or "")


# The values each param may take, as `--set` and a sweep check them: a plain number takes any
# number (`p: 3` accepts `--set p=2.5`), a declared int whole numbers in its range, a text or
# bool its choices (or any text, true and false).
DECLARED = Scope.build(
    params={"p": 3, "n": 3, "k": 5, "f": 3.0, "g": 2000.0, "tiny": 0.0001, "mode": "b", "tag": "b", "on": False},
    indicators={},
    timeframes=["1m"],
    states=["flat"],
    decls={
        "n": ParamDecl("n", 3, "int", True, 1, 10),
        "k": ParamDecl("k", 5, "int", True, 0, 1000),
        "f": ParamDecl("f", 3.0, "float", True, 0.0, 100.0),
        "g": ParamDecl("g", 2000.0, "float", True, 1000.0, 5000.0),
        "tiny": ParamDecl("tiny", 0.0001, "float", True, 0.0001, 0.0002),
        "mode": ParamDecl("mode", "b", "str", True, choices=("a", "b")),
    },
)


@pytest.mark.parametrize(
    "text",
    [
        "p > 0 and price / (p - round(p)) > 1",  # 0.5 at p: 2.5, which `--set p=2.5` gives
        "price > 1 and price / (p - round(p) + 1) > 1",  # 1 at p: 3, never 0 here at all
        "price > 1 and price - round(p) > 1",  # no division
        'mode == "a" and price / (1 if mode == "a" else 0) > 1',  # 1 with mode: a, a declared choice
        'tag != "b" and price / (1 if tag == "x" else 0) > 1',  # any text is a plain text's value
        "on and price / (1 if on else 0) > 1",
        "n > 5 and price / (n - 5) > 1",
        "g > 0 and price / (g - round(g)) > 1",  # a float takes 2000.5 as well
        "tiny > 0 and price / (abs(round(tiny * 20000) - 3) - 1) > 1",  # 0 at both ends, -1 at 0.00015
    ],
)
def test_a_guarded_divisor_some_declared_param_value_makes_non_zero_compiles_without_a_warning(text):
    assert compile_expr(text, DECLARED).warnings == ()


@pytest.mark.parametrize(
    ("text", "division"),
    [
        ("n > 0 and price / (n - round(n)) > 1", "price / (n - round(n))"),  # a declared int is whole
        ("k >= 0 and price / max(k - 1000, 0) > 1", "price / max(k - 1000, 0)"),  # k is at most 1000
        ("f >= 0 and price / round(f / 5000) > 1", "price / round(f / 5000)"),  # f is at most 100
    ],
)
def test_a_guarded_divisor_zero_at_every_declared_param_value_warns(text, division):
    [warning] = compile_expr(text, DECLARED).warnings
    assert (warning.severity, warning.code, marked(text, warning)) == ("warning", "division-by-zero", division)
    assert "is 0 at every value" in (warning.hint or "")


def test_a_divisor_zero_at_the_params_values_that_every_evaluation_reaches_is_still_an_error():
    issue = only("price / (p - round(p)) > 1", DECLARED)
    assert (issue.code, issue.hint) == (
        "constant-error",
        "'p - round(p)' is 0 with p: 3; divide by something other than 0",
    )


def test_a_divisor_that_only_nearly_folds_to_zero_or_reads_the_market_compiles():
    assert compile_expr("price / (0.1 + 0.2 - 0.3) > 1", ZERO).warnings == ()
    assert compile_expr("price / (p - 2) > 1", ZERO).warnings == ()
    assert compile_expr("price / (price - p) > 1", ZERO).warnings == ()


def test_a_param_zero_divisor_behind_a_guard_compiles_without_a_warning():
    assert compile_expr("z > 0 and price / z > 1", ZERO).warnings == ()
    assert compile_expr("price / 2 > 1 or price / 1 > 2", ZERO).warnings == ()


def test_a_constant_that_always_fails_at_run_time_only_with_names_compiles():
    fn = compile_expr("price / (atr - atr)", SCOPE).fn
    with pytest.raises(ZeroDivisionError):
        fn(ENV)


# ---------------------------------------------------------------- parse_expr


def test_parse_expr_marks_bare_durations_as_timeframes():
    parsed = parse_expr("atr(15m, 14)")
    call = parsed.body
    assert isinstance(call, ast.Call) and isinstance(call.func, ast.Name) and call.func.id == "atr"
    tf, n = call.args
    assert isinstance(tf, ast.Constant) and tf.value == 900
    assert parsed.timeframe(tf) == "15m" and parsed.literal_kind(tf) == "duration"
    assert parsed.span(tf) == (4, 3)
    assert parsed.timeframe(n) is None and parsed.literal_kind(n) is None


def test_parse_expr_names_series_and_dotted_names():
    parsed = parse_expr("macd(close@1h, 12, 26, 9)")
    call = parsed.body
    assert isinstance(call, ast.Call)
    series = call.args[0]
    assert parsed.flat_name(series) == "close@1h" and parsed.span(series) == (5, 8)
    assert [parsed.node_text(a) for a in call.args[1:]] == ["12", "26", "9"]
    parsed = parse_expr("ema(macd.line, fast)")
    assert isinstance(parsed.body, ast.Call)
    assert parsed.flat_name(parsed.body.args[0]) == "macd.line"
    assert parsed.flat_name(parsed.body.args[1]) == "fast"


def test_parse_expr_literal_kinds():
    parsed = parse_expr("max(1.5%, true, 2)")
    assert isinstance(parsed.body, ast.Call)
    assert [parsed.literal_kind(a) for a in parsed.body.args] == ["percent", "bool", None]
    assert [parsed.node_text(a) for a in parsed.body.args] == ["1.5%", "true", "2"]


def test_parse_expr_raises_with_original_offsets():
    with pytest.raises(ExprError) as info:
        parse_expr("ema(close@15m,, 5)")
    assert info.value.issues[0].offset == 14


# ---------------------------------------------------------------- reference


@pytest.mark.parametrize(
    "text",
    [
        "crossover(ema_fast, ema_slow)",
        'price <= ema_fast and position.side == "none"',
        "risk_per_trade * equity / (2 * atr)",
        "close@15m > bb.upper and funding_rate > 0.05% and next_funding_in < 15m",
        "clamp(upnl / equity, -1%, 1%) + pct(atr) - round(price, digits)",
        'fast if mode == "calm" else -fast',
    ],
)
def test_reference_eval_agrees(text):
    assert run(text) == reference_eval(text, SCOPE, ENV)


def test_reference_eval_rejects_what_the_compiler_rejects():
    with pytest.raises(ExprError):
        reference_eval("__import__('os')", SCOPE, ENV)
    with pytest.raises(ExprError):
        reference_eval("ema_fsat > 1", SCOPE, ENV)


# ---------------------------------------------------------------- look-back x[n]


def test_a_look_back_compiles_to_a_read_of_its_own_slot():
    c = compile_expr("close@15m >= ema_fast[1] and macd.line[2] > 0", SCOPE, BOOL)
    assert c.python_source == "lambda e: ((e['close@15m'] >= e['ema_fast[1]']) and (e['macd.line[2]'] > 0))"
    assert c.names == {"close@15m", "ema_fast[1]", "macd.line[2]"}
    env = {**ENV, "ema_fast[1]": 100.0, "macd.line[2]": 0.1}
    assert c.fn(env) is True
    assert reference_eval(c.text, SCOPE, env) is True


def test_look_back_zero_is_the_value_itself():
    assert compile_expr("close@1m[0]", SCOPE).python_source == "lambda e: e['close@1m']"


def test_crossover_of_a_look_back_reads_the_previous_slot():
    c = compile_expr("crossover(close@15m, ema_fast[1])", SCOPE, BOOL)
    assert c.prev_names == {"close@15m", "ema_fast[1]"}
    env = {**ENV, "ema_fast[1]": 100.0, "prev:ema_fast[1]": 100.0, "prev:close@15m": 99.0}
    assert c.fn(env) is True
    assert reference_eval(c.text, SCOPE, env) is True


@pytest.mark.parametrize(
    ("text", "fragment", "mark"),
    [
        ("price[1] > 0", "'price' has no candles to look back on", "price[1]"),
        ("equity[1] > 0", "'equity' has no candles", "equity[1]"),
        ("fast[1] > 0", "'fast' has no candles", "fast[1]"),
        ("ema_fast[fast] > 0", "whole number n written as a literal", "fast"),
        ("ema_fast[1.5] > 0", "whole number n written as a literal", "1.5"),
        ("ema_fast[501] > 0", "between 0 and 500", "501"),
        ("(ema_fast + 1)[1] > 0", "only a candle series or an indicator", "ema_fast + 1"),
        ("ema_fsat[1] > 0", "unknown name 'ema_fsat'", "ema_fsat"),
    ],
)
def test_a_look_back_on_what_has_no_candles_or_by_a_computed_amount_is_a_placed_error(text, fragment, mark):
    issue = only(text)
    assert fragment in issue.message
    assert marked(text, issue) == mark
