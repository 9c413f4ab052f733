"""The paper venue answers like BinanceVenue: 'no need to change' is not a refusal."""

from __future__ import annotations

from decimal import Decimal

from rulebot.core.commands import SetMarginType, SetPositionMode
from rulebot.core.enums import MarginType, Market
from rulebot.exchange_sim import SimExchange
from rulebot.feeds.catalog import builtin_brackets, builtin_instruments
from rulebot.venues.paper import PaperVenue


def test_setting_what_is_already_set_is_accepted():
    inst, brackets = builtin_instruments(Market.USDM), builtin_brackets(Market.USDM)
    sim = SimExchange(
        {"BTCUSDT": inst["BTCUSDT"]},
        {"BTCUSDT": brackets["BTCUSDT"]},
        market=Market.USDM,
        balances={"USDT": Decimal(1000)},
        default_margin_type=MarginType.ISOLATED,
    )
    venue = PaperVenue(sim, Market.USDM)
    assert sim.execute(SetMarginType("BTCUSDT", MarginType.ISOLATED), 0).code == -4046  # what the exchange says
    same = venue.execute(SetMarginType("BTCUSDT", MarginType.ISOLATED), 0)
    assert same.ok and same.code is None
    assert venue.execute(SetPositionMode(False), 0).ok  # -4059 likewise
