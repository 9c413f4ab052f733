"""A size written as float arithmetic becomes the quantity it says: `0.7 + 0.1` is 0.8, not 0.799.

Expressions work in floats, and 0.7 + 0.1 is the float 0.7999999999999999; quantized down onto
the 0.001 step it was 0.799, a step less than written. A float within a few ulps of a step now
counts as that step; a Decimal is taken as it is."""

from __future__ import annotations

from decimal import Decimal as D

from hypothesis import given, settings
from hypothesis import strategies as st

from rulebot.core.enums import Market, OrderType
from rulebot.engine.sizing import entry_quantity, to_decimal
from rulebot.feeds.catalog import builtin_instruments
from rulebot.rulebook.compiled import Size
from rulebot.rulebook.compiler import compile_text

BTC = builtin_instruments(Market.USDM)["BTCUSDT"]  # quantity step 0.001 (MARKET too)

BOOK = """
rulebook: sizes
market: usdm
symbols: [BTCUSDT]
account: {leverage: 3}
timeframes: [1m]
rules:
  - name: buy
    on: candle_close 1m
    in: flat
    when: close@1m > 0
    do: [{enter: {side: long, size: "SIZE"}}, {stop_loss: {distance: 20%}}, {goto: long}]
  - name: sell
    on: candle_close 1m
    in: long
    when: close@1m > 1000000
    do: [exit]
"""


def size_of(text: str) -> Size:
    enter = compile_text(BOOK.replace("SIZE", text)).rules[0].actions[0]
    size: Size = enter.size  # type: ignore[attr-defined]
    return size


def order_qty(text: str) -> D:
    """The MARKET entry's quantity for a size expression, on BTCUSDT's step, as the engine sizes it."""
    qty = entry_quantity(size_of(text), BTC, {}, D(60_000), D(10_000), 3)
    return BTC.round_qty(qty, OrderType.MARKET)


def test_a_sum_of_decimal_literals_is_the_step_it_adds_up_to():
    assert 0.7 + 0.1 == 0.7999999999999999  # the float the expression gives
    assert order_qty("0.7 + 0.1") == D("0.8")  # was 0.799
    assert order_qty("0.1 + 0.2") == D("0.3")  # 0.30000000000000004: was 0.3 already, still is
    assert order_qty("0.3 - 0.1") == D("0.2")  # 0.19999999999999998: was 0.199
    assert order_qty("3 * 0.1") == D("0.3")  # 0.30000000000000004
    assert order_qty("0.009 * 100") == D("0.9")  # 0.8999999999999999: was 0.899


def test_a_float_truly_below_a_step_still_rounds_down():
    assert order_qty("0.7999") == D("0.799")
    assert order_qty("0.79999999") == D("0.799")  # 1e-8 short is a real shortfall, not float noise
    assert order_qty("0.8 - 0.000001") == D("0.799")
    assert order_qty("1 / 3") == D("0.333")


def test_float_noise_is_dropped_and_decimals_are_taken_as_they_are():
    assert to_decimal(0.7 + 0.1, "size") == D("0.8")
    assert to_decimal(0.1 + 0.2, "size") == D("0.3")
    assert to_decimal(0.1, "size") == D("0.1") and str(to_decimal(100.0, "size")) == "100.0"  # as before
    assert str(to_decimal(1e20, "size")) == "1E+20" and to_decimal(5, "size") == 5
    assert to_decimal(1 / 3, "size") == D("0.333333333333")  # 12 significant digits
    # A Decimal is exact already: no rounding of its digits, however close to a step.
    close = D("0.7999999999999999")
    assert to_decimal(close, "size") is close
    assert BTC.round_qty(to_decimal(close, "size"), OrderType.MARKET) == D("0.799")


# Steps Binance uses, and multiples of them written as a sum of up to five decimal literals.
STEPS = [D("0.001"), D("0.01"), D("0.1"), D(1), D("0.0001"), D("0.00001")]


@settings(max_examples=300, deadline=None)
@given(
    st.sampled_from(STEPS),
    st.lists(st.integers(min_value=1, max_value=200_000), min_size=2, max_size=5),
)
def test_a_sum_of_literals_equal_to_k_steps_in_decimal_is_k_steps(step: D, parts: list[int]):
    literals = [f"{part * step:f}" for part in parts]
    exact = sum((D(x) for x in literals), D(0))  # k * step, exactly in decimal
    value = 0.0
    for x in literals:  # as the expression `a + b + c` evaluates it: left to right, in floats
        value += float(x)
    qty = to_decimal(value, "size")
    quantized = (qty // step) * step  # down onto the step, as round_qty quantizes
    assert quantized == exact, (literals, value, qty)
