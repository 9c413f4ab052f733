"""Funding: sign and amount per MARGIN.md E9, cross vs isolated, COIN-M in coin."""

from __future__ import annotations

from decimal import Decimal as D
from typing import Any

import pytest

from rulebot.core.enums import MarginType, PositionSide, Side
from rulebot.exchange_sim import SimExchange

from .conftest import BTCUSD, BTCUSDT, ZERO_FEES, accounts, book, coinm, market, usdm

BUY, SELL = Side.BUY, Side.SELL


def opened(side: Side, qty: str = "0.5", **kw: Any) -> SimExchange:
    sim = usdm(fee_rates=ZERO_FEES, **kw)
    book(sim, "59999.9", "60000")
    assert sim.execute(market("open", side, qty), 1).ok
    return sim


def test_long_pays_and_short_receives_margin_md_e9() -> None:
    # E9: long 0.5 BTC, mark 62,500, rate +0.0001: 3.125 USDT paid by the long.
    long = opened(BUY)
    events = long.on_funding(BTCUSDT, D("0.0001"), 28_800_000, mark=D("62500"))
    (update,) = accounts(events)
    assert update.reason == "FUNDING_FEE" and update.time == 28_800_000
    (balance,) = update.balances
    assert balance.balance_change == D("-3.125")
    assert balance.wallet_balance == D("10000") - D("3.125")
    assert update.positions == ()  # cross: only the balance (FACTS §10)
    short = opened(SELL)
    (update,) = accounts(short.on_funding(BTCUSDT, D("0.0001"), 1, mark=D("62500")))
    assert update.balances[0].balance_change == D("3.125")
    assert short.ledger("USDT").funding == D("3.125")


def test_negative_rate_pays_the_longs() -> None:
    long = opened(BUY)
    (update,) = accounts(long.on_funding(BTCUSDT, D("-0.0002"), 1, mark=D("60000")))
    assert update.balances[0].balance_change == D("6")  # 30,000 * 0.0002


def test_isolated_funding_changes_the_position_wallet() -> None:
    sim = opened(BUY, default_margin_type=MarginType.ISOLATED)
    before = sim.positions()[0].isolated_wallet
    (update,) = accounts(sim.on_funding(BTCUSDT, D("0.0001"), 1, mark=D("62500")))
    (position,) = update.positions
    assert position.isolated_wallet == before - D("3.125")
    assert update.balances[0].wallet_balance == D("10000") - D("3.125")


def test_funding_uses_the_last_mark_when_none_is_given() -> None:
    sim = opened(BUY)
    sim.on_mark_price(BTCUSDT, D("62500"), 2)
    (update,) = accounts(sim.on_funding(BTCUSDT, D("0.0001"), 3))
    assert update.balances[0].balance_change == D("-3.125")


def test_hedge_mode_both_legs_settle() -> None:
    sim = usdm(hedge_mode=True, fee_rates=ZERO_FEES)
    book(sim, "59999.9", "60000")
    sim.execute(market("l", BUY, "0.3", ps=PositionSide.LONG), 1)
    sim.execute(market("s", SELL, "0.1", ps=PositionSide.SHORT), 1)
    (update,) = accounts(sim.on_funding(BTCUSDT, D("0.0001"), 2, mark=D("50000")))
    assert update.balances[0].balance_change == D("-1.5") + D("0.5")


def test_coin_m_funding_is_in_coin() -> None:
    sim = coinm(fee_rates=ZERO_FEES)
    sim.on_book(BTCUSD, D("49999.9"), D("1000"), D("50000"), D("1000"), 0)
    sim.execute(market("open", BUY, "100", symbol=BTCUSD), 1)
    (update,) = accounts(sim.on_funding(BTCUSD, D("0.0001"), 2, mark=D("50000")))
    # FACTS §11: contracts * size / mark * rate = 100 * 100 / 50,000 * 0.0001 BTC.
    assert update.balances[0].asset == "BTC"
    assert update.balances[0].balance_change == D("-0.00002")


def test_no_position_no_funding_and_no_price_is_an_error() -> None:
    sim = usdm()
    assert sim.on_funding(BTCUSDT, D("0.0001"), 1) == []
    held = usdm()
    held.on_trade(BTCUSDT, D("60000"), D("1"), 0, False)
    held.execute(market("open", BUY, "0.1"), 1)
    assert accounts(held.on_funding(BTCUSDT, D("0.0001"), 2))  # the last trade stands in
    with pytest.raises(ValueError, match="not one of the instruments"):
        sim.on_funding("ETHUSDT", D("0.0001"), 1)
