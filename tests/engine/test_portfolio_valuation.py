"""Portfolio.equity values each open position inline (it runs on every bar): it must give the very
Decimal the general sum of `unrealized` gives, exponent included (the summaries print it)."""

from __future__ import annotations

from decimal import Decimal as D

from hypothesis import given, settings
from hypothesis import strategies as st

from rulebot.core.enums import PositionSide
from rulebot.engine.portfolio import ZERO, Portfolio, PositionState
from tests.core.test_instruments import make, make_inverse

LINEAR, INVERSE = make(), make_inverse()  # BTCUSDT-like (USDT), an inverse contract (its coin)
INSTRUMENTS = {"LIN": LINEAR, "INV": INVERSE}
_SIDES = (PositionSide.BOTH, PositionSide.LONG, PositionSide.SHORT)

amounts = st.decimals(min_value=D("-50"), max_value=D("50"), places=3, allow_nan=False, allow_infinity=False)
prices = st.decimals(min_value=D("0.1"), max_value=D("90000"), places=2, allow_nan=False, allow_infinity=False)
wallets = st.sampled_from([D("10000"), D("10000.00000000"), D("1E+4"), D("0"), D("-3.5")])
legs = st.lists(
    st.tuples(st.sampled_from(["LIN", "INV"]), st.sampled_from(_SIDES), amounts, prices),
    max_size=5,
    unique_by=lambda t: t[:2],
)
marks = st.dictionaries(st.sampled_from(["LIN", "INV"]), prices)


def general(pf: Portfolio, asset: str) -> D:
    """The sum as `equity` wrote it before it was inlined: `unrealized` of every open leg."""
    total = pf.wallet.get(asset, ZERO)
    for (symbol, side), pos in pf.positions.items():
        if pos.amount != 0 and pf.instruments[symbol].margin_asset == asset:
            total += pf.unrealized(symbol, side)
    return total


@given(wallet=wallets, legs=legs, marks=marks)
def test_equity_is_the_sum_of_unrealized_to_the_digit(
    wallet: D, legs: list[tuple[str, PositionSide, D, D]], marks: dict[str, D]
) -> None:
    pf = Portfolio(INSTRUMENTS, {LINEAR.margin_asset: wallet, INVERSE.margin_asset: wallet})
    for symbol, side, amount, entry in legs:
        pf.positions[(symbol, side)] = PositionState(symbol, side, amount, entry)
    pf.marks.update(marks)
    for asset in (LINEAR.margin_asset, INVERSE.margin_asset, "NONE"):
        assert str(pf.equity(asset)) == str(general(pf, asset))


def looped_net_amount(pf: Portfolio, symbol: str) -> D:
    """`net_amount` as it read before its one-way shortcut: the first open leg, BOTH, LONG, SHORT."""
    for side in _SIDES:
        pos = pf.positions.get((symbol, side))
        if pos is not None and pos.amount != 0:
            return pos.amount
    return ZERO


# Flat legs often: a flat BOTH beside an open hedge leg is the case the shortcut must not cut short.
legs_or_flat = st.lists(
    st.tuples(st.sampled_from(["LIN", "INV"]), st.sampled_from(_SIDES), st.one_of(st.just(D(0)), amounts), prices),
    max_size=4,
    unique_by=lambda t: t[:2],
)


@settings(max_examples=300)
@given(legs=legs_or_flat)
def test_net_amount_and_net_position_are_the_first_open_leg(legs: list[tuple[str, PositionSide, D, D]]) -> None:
    """The shortcut for a lone BOTH position must find what the walk over every side finds."""
    pf = Portfolio(INSTRUMENTS, {})
    for symbol, side, amount, entry in legs:
        pf.positions[(symbol, side)] = PositionState(symbol, side, amount, entry)
    for symbol in ("LIN", "INV", "NONE"):
        want = looped_net_amount(pf, symbol)
        got = pf.net_amount(symbol)
        assert got is want or (want is ZERO and got is ZERO)
        pos = pf.net_position(symbol)
        assert pos.amount == want and (want == 0 or pos is pf.positions[(symbol, pos.position_side)])
        if want == 0:
            assert pos.position_side is PositionSide.BOTH and pos not in pf.positions.values()
