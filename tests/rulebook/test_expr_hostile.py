"""Hostile expressions: each is refused at compile time, with a message that says why.

Nothing here may run: a refusal must come from checking, before any generated code exists
(several inputs would hang, exhaust memory or escape the sandbox if evaluated).
"""

from __future__ import annotations

import time

import pytest

from rulebot.rulebook.errors import ExprError
from rulebot.rulebook.expr import compile_expr, parse_expr
from rulebot.rulebook.scope import Scope

SCOPE = Scope.build(
    params={"fast": 21},
    indicators={"ema_fast": (), "macd": ("line", "signal", "hist")},
    timeframes=["1m", "15m"],
    states=["flat", "long"],
)

# (expression, fragment of one issue's message); the fragment is matched case-insensitively.
CORPUS: list[tuple[str, str]] = [
    # escapes through Python internals
    ("__import__('os')", "double underscores"),
    ("__import__('os').system('id')", "double underscores"),
    ("().__class__", "double underscores"),
    ("().__class__.__bases__[0].__subclasses__()", "double underscores"),
    ("x.__dict__", "double underscores"),
    ("position.__class__", "double underscores"),
    ("price.__class__", "double underscores"),
    ("__builtins__", "double underscores"),
    ("price._secret", "attribute '_secret' is not allowed"),
    ("(1).real", "can only follow a name"),
    ("price.real", "has no '.real'"),
    ("'{}'.format(price)", "methods like '.format(...)' cannot be called"),
    ("'%s' % price", "needs a number, but this is text"),
    ('f"{().__class__}"', "f-strings are not allowed"),
    ('f"{price}" == "1"', "f-strings are not allowed"),
    # calls outside the list
    ("open('x')", "unknown function 'open'"),
    ("getattr(price, 'real')", "unknown function 'getattr'"),
    ("eval('1')", "unknown function 'eval'"),
    ("exec('x = 1')", "unknown function 'exec'"),
    ("compile('1', 'f', 'eval')", "unknown function 'compile'"),
    ("globals()", "unknown function 'globals'"),
    ("type(price)", "unknown function 'type'"),
    ("print(price)", "unknown function 'print'"),
    ("price(1)", "is a value, not a function"),
    ("(lambda: 1)()", "only the listed functions can be called"),
    ("max.__call__(1, 2)", "double underscores"),
    ("max(1, 2, key=abs)", "keyword arguments are not allowed"),
    ("max(1, **{'key': abs})", "'**' arguments are not allowed"),
    ("max(*price)", "starred arguments"),
    ("max(1, *[2, 3])", "starred arguments"),
    # constructs the language does not have
    ("lambda: 1", "lambda functions are not allowed"),
    ("lambda x: x", "lambda functions are not allowed"),
    ("[x for x in price]", "comprehensions are not allowed"),
    ("max(x for x in price)", "comprehensions"),
    ("{x: 1 for x in price}", "comprehensions are not allowed"),
    ("price[0]", "has no candles to look back on"),
    ("[1, 2][0]", "only a candle series or an indicator can be looked back on"),
    ("close@1m[__import__('os')]", "double underscores"),
    ("close@1m[max(1, 2)]", "whole number n written as a literal"),
    ("close@1m[10 ** 9]", "whole number n written as a literal"),
    ("close@1m[999999999999]", "between 0 and 500"),
    ("close@1m[-1]", "whole number n written as a literal"),
    ("close@1m[1:2]", "slices are not allowed"),
    ("max(1, 2)[1]", "only a candle series or an indicator"),
    ("(y := 5) > 1", "walrus"),
    ("[1, 2]", "lists are not allowed"),
    ("(1, 2)", "tuples are not allowed"),
    ("{'a': 1}", "dicts are not allowed"),
    ("{1}", "sets are not allowed"),
    ("price in (1, 2)", "the 'in' operator is not allowed"),
    ("price not in (1, 2)", "'not in' operator is not allowed"),
    ("price is None", "the 'is' operator is not allowed"),
    ("None", "none is not allowed"),
    ("...", "'...' is not allowed"),
    ("b'x' == b'y'", "bytes literal is not allowed"),
    ("price & 1", "bitwise '&' is not allowed"),
    ("~price", "bitwise '~' is not allowed"),
    ("1 << 100000", "shift '<<' is not allowed"),
    ("await price", "await is not allowed"),
    ("import os", "syntax error"),
    ("price; 1", "unexpected character ';'"),
    ("price > 1 # and secret()", "comments are not allowed"),
    ("price \\\n > 1", "unexpected character"),
    ("price > `1`", "unexpected character"),
    ("price\x00 > 1", "unexpected character"),
    ("ｐrice > 1", "unexpected character"),  # noqa: RUF001 - Python's NFKC would read `price`
    ("0x10 > 1", "is not a number or a duration"),
    ("1_000 > 1", "is not a number or a duration"),
    ("1j > 1", "is not a number or a duration"),
    # resource exhaustion
    ("9**9**9", "exponent of ** must be a number literal"),
    ("9 ** 999", "between -64 and 64"),
    ("price ** price", "exponent of ** must be a number literal"),
    ("2 ** (64 + 1)", "exponent of ** must be a number literal"),
    ("'a'*10**9", "needs a number, but this is text"),
    ("'a' + 'b'", "needs numbers, but both sides are text"),
    ("max('a', 'b')", "max needs numbers, but both arguments are text"),
    ("-'a'", "needs a number, but this is text"),
    ("((9**64)**64)**64", "always fails"),  # float overflow, folded at compile time
    ("round(1e300) ** 64", "always fails"),
    ("round(5, -99999999)", "ndigits must be a whole number from -20 to 20"),
    ("round(price, 10 ** 9)", "ndigits must be a whole number"),
    ("(" * 200 + "1" + ")" * 200, "nested more than 32"),
    ("-" * 200 + "1", "nested more than 32"),
    ("not " * 100 + "true", "nested more than 32"),
    ("1" + "+1" * 2500, "the limit is 1000"),
    ("x" * 5000, "the limit is 1000"),
    ("max(" + ",".join(["1"] * 450) + ")", "the limit is 400"),
    ("1e999 > 1", "too large"),
    ("1e999% > 1", "too large"),
]


@pytest.mark.parametrize(("text", "fragment"), CORPUS, ids=[t[:40] for t, _ in CORPUS])
def test_hostile_input_is_refused_at_compile_time(text, fragment):
    started = time.perf_counter()
    with pytest.raises(ExprError) as info:
        compile_expr(text, SCOPE)
    assert time.perf_counter() - started < 1.0
    messages = [i.message.lower() for i in info.value.issues]
    assert any(fragment.lower() in m for m in messages), messages
    for issue in info.value.issues:
        assert 0 <= issue.offset <= len(text) and issue.length >= 1 and issue.severity == "error"


def test_dunders_are_refused_even_by_parse_alone():
    with pytest.raises(ExprError):
        parse_expr("__import__('os')")


def test_hostile_corpus_file_entries_are_all_distinct():
    texts = [t for t, _ in CORPUS]
    assert len(texts) == len(set(texts))


def test_refused_input_never_reaches_python_eval(monkeypatch):
    # The code generator is the only place that calls eval(); refusals must stop before it.
    import rulebot.rulebook.expr as expr_module

    calls: list[str] = []
    real_build = expr_module.build
    monkeypatch.setattr(expr_module, "build", lambda src: calls.append(src) or real_build(src))
    for text, fragment in CORPUS:
        if "always fails" in fragment:
            continue  # these compile (to a float overflow) and fail when folded
        with pytest.raises(ExprError):
            compile_expr(text, SCOPE)
    assert calls == []
