"""The action table: every action the language accepts has its compiler."""

from __future__ import annotations

import typing

import pytest

from rulebot.rulebook import model as m
from rulebot.rulebook.compile_actions import ACTIONS
from rulebot.rulebook.compiler import compile_text
from rulebot.rulebook.errors import RulebookError


def test_every_action_of_the_language_has_a_compiler() -> None:
    union = typing.get_args(m.Action)[0]
    accepted = {typing.get_args(member)[0] for member in typing.get_args(union)}
    assert len(accepted) == 12
    assert set(ACTIONS) == accepted


_ENTRY = """\
rulebook: t
market: usdm
symbols: [BTCUSDT]
timeframes: [1m]
rules:
  - name: buy
    on: candle_close 1m
    in: flat
    do:
      - enter: {side: long, size: SIZE}
      - stop_loss: {distance: 2%}
      - goto: long
  - name: out
    on: candle_close 1m
    in: long
    do: [exit, {goto: flat}]
"""


@pytest.mark.parametrize("size", ['"1e3 USDT"', '"1,000 USDT"', '"1_000 USDT"', '"1000USDT"', '"$1000 USDT"'])
def test_an_amount_not_written_as_digits_says_how_to_write_it(size: str) -> None:
    # It was "syntax error: invalid syntax" with a caret under USDT.
    with pytest.raises(RulebookError) as info:
        compile_text(_ENTRY.replace("SIZE", size))
    (d,) = [d for d in info.value.diagnostics if d.is_error]
    assert "syntax error" not in d.message and "amount" in d.message, d.message
    assert d.hint is not None and '"1000 USDT"' in d.hint


def test_plain_amounts_still_compile() -> None:
    for size in ('"1000 USDT"', '"250.5 USDT"', "2%", "0.01"):
        compile_text(_ENTRY.replace("SIZE", size))


@pytest.mark.parametrize(
    ("exit_action", "message"),
    [
        ("{exit: {by: 150%}}", "exit by more than 100%"),
        ('{exit: {size: "0"}}', "exit size must be above zero, got 0"),
        ('{exit: {size: "-1"}}', "exit size must be above zero, got -1"),
        ('{reduce: {size: "1 - 2"}}', "reduce size must be above zero, got 1 - 2"),
    ],
)
def test_an_exit_or_reduce_that_could_never_close_anything_is_an_error(exit_action: str, message: str) -> None:
    """`reduce: {by: 150%}` was refused but `exit: {by: 150%}` compiled, and so did a size of -1:
    each exit would be refused at run time, every time, while the position stayed open."""
    text = _ENTRY.replace("SIZE", "2%").replace("do: [exit, {goto: flat}]", f"do: [{exit_action}, {{goto: flat}}]")
    with pytest.raises(RulebookError) as info:
        compile_text(text)
    assert [d.message for d in info.value.diagnostics if d.is_error] == [message]


@pytest.mark.parametrize(
    ("enter", "message"),
    [
        (
            "{side: long, size: 2%, order: limit, price: bid, expire: 0s}",
            "expire 0s would cancel the order as it is placed",
        ),
        ("{side: long, size: 2%, expire: 5m}", "a market entry takes no price, post_only, time_in_force or expire"),
        (
            "{side: long, size: 2%, time_in_force: GTX}",
            "a market entry takes no price, post_only, time_in_force or expire",
        ),
        (
            "{side: long, size: 2%, order: limit, price: bid, time_in_force: IOC, expire: 5m}",
            "expire cancels a resting order, and an IOC order never rests",
        ),
        ('{side: long, size: "100 usdt"}', "the asset in size '100 usdt' is in lower case"),
    ],
)
def test_an_entry_option_that_cannot_take_effect_is_an_error(enter: str, message: str) -> None:
    """Each compiled: a market order with GTX or an expiry, an IOC with an expiry, an expiry of 0s;
    and '100 usdt' was a bare 'syntax error: invalid syntax'."""
    text = _ENTRY.replace("{side: long, size: SIZE}", enter)
    with pytest.raises(RulebookError) as info:
        compile_text(text)
    assert [d.message for d in info.value.diagnostics if d.is_error] == [message]


_LOG = _ENTRY.replace("SIZE", "2%").replace("do: [exit, {goto: flat}]", "do: [exit, {goto: flat}, {log: 'TEXT'}]")


@pytest.mark.parametrize("text", ["{round(equity, 2)}", "{equity * 2}", "{-equity}", "{abs(upnl)}"])
def test_a_log_placeholder_that_is_an_expression_is_refused(text: str) -> None:
    """`{round(equity, 2)}` compiled, and the journal line read "None": the engine fills a
    placeholder by looking its text up as a name."""
    with pytest.raises(RulebookError) as info:
        compile_text(_LOG.replace("TEXT", f"equity {text}"))
    [message] = [d.message for d in info.value.diagnostics if d.is_error]
    assert message == f"log placeholder '{text}' must be a single name"


def test_a_log_placeholder_with_spaces_inside_is_filled_like_one_without() -> None:
    """`{ equity }` compiled and stayed `{ equity }` in the journal."""
    book = compile_text(_LOG.replace("TEXT", "e={ equity } s={state} x={close@1m[1]}"))
    [log] = [a for r in book.rules for a in r.actions if type(a).__name__ == "Log"]
    assert log.template == "e={equity} s={state} x={close@1m[1]}"
    assert log.names == ("equity", "state", "close@1m[1]")


@pytest.mark.parametrize("text", ["{equity:.2f}", "{equity!r}", "{equity:>10}"])
def test_a_python_format_in_a_log_placeholder_is_named_as_such(text: str) -> None:
    """`{equity:.2f}` said "'.2f' is not a number or a duration"."""
    with pytest.raises(RulebookError) as info:
        compile_text(_LOG.replace("TEXT", f"equity {text}"))
    [(message, hint)] = [(d.message, d.hint) for d in info.value.diagnostics if d.is_error]
    assert message == f"log placeholder '{text}' has a format; placeholders take a name only"
    assert hint == "write {equity}: numbers show 6 significant digits"


@pytest.mark.parametrize(
    ("text", "at", "hint"),
    [
        ("x {equity", "{equity", "close it: {equity}"),
        ("x {equity and {state}", "{equity", "close it: {equity}"),
        ("x {{equity}", "{", "a placeholder is one name in braces, e.g. {equity}"),
        ("x {", "{", "a placeholder is one name in braces, e.g. {equity}"),
    ],
)
def test_an_unclosed_log_placeholder_is_an_error_at_its_brace(text: str, at: str, hint: str) -> None:
    """`x {equity` compiled and was journaled as written."""
    source = _LOG.replace("TEXT", text)
    with pytest.raises(RulebookError) as info:
        compile_text(source)
    [d] = [d for d in info.value.diagnostics if d.is_error]
    assert d.message == f"log placeholder '{at}' is not closed with '}}'"
    assert d.hint == hint
    assert d.span is not None and d.span.length == len(at)
    line = source.splitlines()[d.span.line - 1]
    assert line[d.span.column - 1 :].startswith(at) and line.index(text) + text.index(at) == d.span.column - 1


_COINM_ENTRY = _ENTRY.replace("market: usdm", "market: coinm").replace("BTCUSDT", "BTCUSD_PERP")


@pytest.mark.parametrize("size", ["0.01", "0.5", '"0.25"'])
def test_a_coinm_size_of_less_than_one_contract_is_an_error(size: str) -> None:
    # A size on COIN-M is a number of contracts (100 USD each on BTCUSD_PERP): `size: 0.01`,
    # written as on USDT-M for 0.01 BTC, rounds to 0 contracts, and every entry was refused at
    # run time ("size rounds to zero at step 1"), the rulebook valid.
    with pytest.raises(RulebookError) as info:
        compile_text(_COINM_ENTRY.replace("SIZE", size))
    (d,) = [d for d in info.value.diagnostics if d.is_error]
    assert "less than one contract" in d.message, d.message
    assert d.hint is not None and '"1000 USD"' in d.hint


@pytest.mark.parametrize(
    ("symbols", "size", "contract"),
    [
        ("BTCUSD_PERP", '"50 USD"', "100 USD"),
        ("BTCUSD_PERP", '"99.99 USD"', "100 USD"),
        ("ETHUSD_PERP", '"5 USD"', "10 USD"),
    ],
)
def test_a_coinm_notional_of_less_than_one_contract_is_an_error(symbols: str, size: str, contract: str) -> None:
    # `size: "50 USD"` on BTCUSD_PERP is half a 100 USD contract: it compiled, and every entry was
    # refused at run time ("size rounds to zero at step 1"), as `size: 0.5` was before it was an error.
    source = _COINM_ENTRY.replace("BTCUSD_PERP", symbols).replace("SIZE", size)
    with pytest.raises(RulebookError) as info:
        compile_text(source)
    (d,) = [d for d in info.value.diagnostics if d.is_error]
    assert d.message == f"size {size.strip(chr(34))} is less than one contract of {symbols} ({contract})"
    assert d.hint is not None and "whole contracts" in d.hint


def test_a_coinm_notional_of_one_contract_or_more_compiles() -> None:
    for symbols, size in [("BTCUSD_PERP", '"100 USD"'), ("BTCUSD_PERP", '"150 USD"'), ("ETHUSD_PERP", '"10 USD"')]:
        compile_text(_COINM_ENTRY.replace("BTCUSD_PERP", symbols).replace("SIZE", size))
    # Several symbols: an error only when the size is below one contract of every one of them.
    two = _COINM_ENTRY.replace("[BTCUSD_PERP]", "[BTCUSD_PERP, BTCUSD_221230]").replace("SIZE", '"50 USD"')
    with pytest.raises(RulebookError):
        compile_text(two)


def test_coinm_sizes_of_whole_contracts_and_expressions_still_compile() -> None:
    for size in ("1", "10", "2.5", "2%", '"1000 USD"', '"contracts_wanted * 2"'.replace("contracts_wanted", "1")):
        compile_text(_COINM_ENTRY.replace("SIZE", size))
