"""Property: the simulator's positionRisk and balance views are Binance's wire objects, exactly.

Whatever the account went through (one-way or hedge, cross or isolated, USDⓈ-M or COIN-M, fills,
mark moves, liquidations), every view the simulator answers with, printed by `binance.encode` as
the fake exchange sends it and read back by the parsers the live venue uses, is the same value:
the fake cannot print a field the venue would read differently, nor the venue lack one the
simulator fills.
"""

from __future__ import annotations

import json
from decimal import Decimal as D

from hypothesis import given, settings
from hypothesis import strategies as st

from rulebot.binance.encode import balance_json, position_json
from rulebot.binance.payloads.account_state import parse_balances, parse_position_risk
from rulebot.core.enums import MarginType, Market, PositionSide, Side
from rulebot.exchange_sim import SimExchange

from .conftest import BTCUSD, BTCUSDT, coinm, market, usdm

TICK = D("0.1")  # both BTCUSDT and BTCUSD_200925

steps = st.lists(
    st.tuples(
        st.sampled_from([Side.BUY, Side.SELL]),
        st.integers(min_value=1, max_value=40),  # lots: 0.001 BTC (USDⓈ-M) or one 100 USD contract
        st.booleans(),  # hedge mode: the LONG leg (else SHORT)
        st.floats(min_value=-0.3, max_value=0.3, allow_nan=False),  # mark and last move before it
    ),
    min_size=0,
    max_size=8,
)


def _wire(sim: SimExchange) -> None:
    """Encode each view as the fake does (through JSON text), parse it as the venue does: the same."""
    positions = sim.positions(include_flat=True)
    rows = json.loads(json.dumps([position_json(p) for p in positions]))
    assert parse_position_risk(rows) == tuple(positions)
    balances = sim.balances()
    rows = json.loads(json.dumps([balance_json(b, sim.market) for b in balances]))
    assert parse_balances(rows) == tuple(balances)


@settings(max_examples=120, deadline=None)
@given(
    coin_m=st.booleans(),
    hedge=st.booleans(),
    isolated=st.booleans(),
    leverage=st.integers(min_value=1, max_value=50),
    path=steps,
)
def test_every_position_and_balance_view_survives_encode_then_parse(
    coin_m: bool, hedge: bool, isolated: bool, leverage: int, path: list[tuple[Side, int, bool, float]]
) -> None:
    margin = MarginType.ISOLATED if isolated else MarginType.CROSSED
    kw = {"hedge_mode": hedge, "default_margin_type": margin, "default_leverage": leverage}
    sim = coinm("10", **kw) if coin_m else usdm("100000", **kw)
    symbol, lot = (BTCUSD, D(1)) if coin_m else (BTCUSDT, D("0.001"))
    assert sim.market is (Market.COINM if coin_m else Market.USDM)
    price, t = D(60000), 1
    _wire(sim)  # flat, before any market data
    for i, (side, lots, long_leg, move) in enumerate(path):
        sim.on_book(symbol, price - TICK, D(1000), price, D(1000), t)
        ps = (PositionSide.LONG if long_leg else PositionSide.SHORT) if hedge else PositionSide.BOTH
        sim.execute(market(f"o{i}", side, str(lots * lot), symbol=symbol, ps=ps), t)  # a refusal is fine
        price = max(TICK, (price * (1 + D(str(move)))).quantize(TICK))
        t += 1_000
        sim.on_trade(symbol, price, D(1), t, False)
        sim.on_mark_price(symbol, price, t)
        _wire(sim)
    rows = sim.positions(include_flat=True)
    assert [p.position_side for p in rows] == (
        [PositionSide.LONG, PositionSide.SHORT] if hedge else [PositionSide.BOTH]
    )
    # Each market prints its own cap and only USDⓈ-M a notional; the round trip keeps which is which.
    assert all(
        (p.max_qty is None, p.max_notional is None, p.notional is None) == (not coin_m, coin_m, coin_m) for p in rows
    )
