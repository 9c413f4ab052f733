"""A positionRisk row without `isolatedWallet` (COIN-M's /dapi/v1/positionRisk, older /fapi answers)
gives the isolated wallet as `isolatedMargin - unRealizedProfit` (MARGIN.md E10), not isolatedMargin.

Binance's own example numbers: the hedge-mode positionRisk answer (no isolatedWallet) and the
ACCOUNT_UPDATE event describe the same two isolated positions; the event's `iw` is the wallet.
The reconciliation took isolatedMargin as the wallet: 15,517.54150468 for the long (its wallet plus
its 2,316.83 unrealized profit, counted twice once marked) where the event says 13,200.70726908.
On COIN-M, where positionRisk never prints isolatedWallet, every isolated position a live bot found
at start (or re-read after a reconnect) carried its unrealized PnL in its wallet until the next
ACCOUNT_UPDATE: E8's 100-contract long at 50,000 with a 0.02 BTC wallet, marked at 55,000, read as
a 0.03818182 BTC wallet, and its liquidation price as 42,152.67 instead of 45,636.36.
"""

from __future__ import annotations

import copy
from decimal import Decimal as D

from rulebot.binance.payloads.account_state import parse_position_risk, reconciled_position
from rulebot.core.enums import MarginType, Market
from rulebot.core.margin import Position, liquidation_price
from rulebot.feeds.catalog import builtin_brackets, builtin_instruments
from rulebot.testing.shared import load_payload


def _event_wallets(name: str) -> dict[str, D]:
    return {p["ps"]: D(p["iw"]) for p in load_payload(name)["a"]["P"]}


def test_an_isolated_wallet_is_the_isolated_margin_less_the_unrealized_pnl_as_the_event_says():
    rows = parse_position_risk(load_payload("rest_fapi_v2_positionRisk_hedge.json"))
    assert all(r.isolated_wallet is None for r in rows)  # the older answer prints no isolatedWallet
    wallets = {r.position_side.value: reconciled_position(r).isolated_wallet for r in rows}
    event = _event_wallets("ws_ACCOUNT_UPDATE.json")
    assert wallets == {"LONG": event["LONG"], "SHORT": event["SHORT"]}
    assert wallets == {"LONG": D("13200.70726908"), "SHORT": D("6570.42511771")}


def _dapi_row(margin_type: str, isolated_margin: str, upnl: str) -> dict[str, object]:
    """The real /dapi/v1/positionRisk example's LONG row, with the margin figures changed."""
    row = copy.deepcopy(load_payload("rest_dapi_v1_positionRisk.json")[1])
    assert "isolatedWallet" not in row  # COIN-M's positionRisk has no such field
    row |= {"marginType": margin_type, "isolatedMargin": isolated_margin, "unRealizedProfit": upnl}
    return row


def test_a_coin_margined_isolated_position_found_at_start_keeps_its_wallet_out_of_its_pnl():
    """E8: long 100 BTCUSD_PERP contracts at 50,000, isolated wallet 0.02 BTC; marked at 55,000 its
    unrealized PnL is 100 x 100 x (1/50,000 - 1/55,000) = 0.01818182 BTC, and Binance's
    isolatedMargin 0.03818182."""
    row = _dapi_row("isolated", "0.03818182", "0.01818182")
    row |= {"symbol": "BTCUSD_PERP", "positionAmt": "100", "entryPrice": "50000", "markPrice": "55000"}
    (risk,) = parse_position_risk([row])
    change = reconciled_position(risk)
    assert (change.margin_type, change.isolated_wallet) == (MarginType.ISOLATED, D("0.02000000"))
    inst = builtin_instruments(Market.COINM)["BTCUSD_PERP"]
    table = builtin_brackets(Market.COINM)["BTCUSD_PERP"]
    held = [Position(D(100), D(50_000))]
    liq = liquidation_price(inst, table, held, change.isolated_wallet, margin_type=MarginType.ISOLATED)
    assert liq is not None and liq.quantize(D("0.01")) == D("45636.36")  # MARGIN.md E8


def test_a_cross_position_has_no_isolated_wallet_whatever_its_pnl():
    (risk,) = parse_position_risk([_dapi_row("cross", "0.00000000", "0.00005866")])
    assert reconciled_position(risk).isolated_wallet == 0
