"""How times, money, prices and quantities are written (rulebot/backtest/text.py)."""

from __future__ import annotations

from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from rulebot.backtest.text import exact


def test_exact_drops_the_zeros_a_step_or_tick_exponent_adds_and_nothing_else() -> None:
    assert exact(Decimal("0.010")) == "0.01"  # 0.01 rounded onto a 0.001 step
    assert exact(Decimal("57000.10")) == "57,000.1"  # on a 0.10 tick
    assert exact(Decimal("6E+4")) == "60,000"  # normalized, never 6E+4
    assert exact(Decimal("-0.00")) == exact(Decimal("0E-8")) == "0"  # no "-0"
    assert exact(Decimal("0.00000001")) == "0.00000001"


@given(st.decimals(allow_nan=False, allow_infinity=False))
def test_exact_is_the_same_number(value: Decimal) -> None:
    shown = exact(value)
    assert Decimal(shown.replace(",", "")) == value and "E" not in shown
