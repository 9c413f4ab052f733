"""The account as conditions and guards read it.

`AccountValues` fills a symbol's env with position and account values (`upnl`, `equity`,
`liq_price`, …) when a condition first reads one (env.Env calls it): it is given the
portfolio, the instruments and the symbols' runs it reads, nothing else of the engine.
Conditions read floats, so this is float arithmetic on the portfolio's exact values: a
condition that reads `upnl` on every trade must not pay for Decimal math. Orders and the
guards keep using the exact figures (`holding`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from decimal import Decimal
from typing import TYPE_CHECKING

from rulebot.core.enums import MarginType
from rulebot.core.instruments import Instrument
from rulebot.core.margin import BracketTable, float_pnl_and_notional
from rulebot.engine.env import Env
from rulebot.engine.liquidation_guard import Holding
from rulebot.engine.portfolio import Portfolio

if TYPE_CHECKING:
    from rulebot.engine.state import SymbolRun

ZERO = Decimal(0)
_MAINT = 0.004  # maintenance rate for the liq_price estimate shown to conditions


class AccountValues:
    """Fills one symbol's env with the account values, at the mark price."""

    __slots__ = ("instruments", "portfolio", "runs", "symbol")

    def __init__(
        self, symbol: str, portfolio: Portfolio, instruments: Mapping[str, Instrument], runs: Mapping[str, SymbolRun]
    ) -> None:
        self.symbol = symbol
        self.portfolio = portfolio
        self.instruments = instruments
        self.runs = runs  # each symbol's leverage: the margin its position uses

    def __call__(self, env: Env) -> None:
        env.filled = True  # whoever filled them, the next event must recompute them
        symbol, pf, runs = self.symbol, self.portfolio, self.runs
        inst = self.instruments[symbol]
        asset = inst.margin_asset
        pos = pf.net_position(symbol)
        mark_d = pf.marks.get(symbol)
        wallet = float(pf.wallet.get(asset, ZERO))
        equity = wallet
        used = 0.0
        this_upnl = 0.0
        for (s, _), p in pf.positions.items():
            if p.amount == 0:
                continue
            other = self.instruments[s]
            m = pf.marks.get(s)
            if other.margin_asset != asset or m is None:
                continue
            pnl, notional = float_pnl_and_notional(other, float(p.amount), float(p.entry_price), float(m))
            equity += pnl
            used += notional / runs[s].leverage if s in runs else 0.0
            if s == symbol and p is pos:
                this_upnl = pnl
        env["position.side"] = pos.side
        env["position.size"] = float(pos.size)
        if pos.amount and mark_d is not None:
            e = float(pos.entry_price)
            lev = runs[symbol].leverage
            _, notional = float_pnl_and_notional(inst, float(pos.amount), e, float(mark_d))
            margin = notional / lev
            # Isolated estimate with a flat maintenance rate; the liquidation-distance guard
            # uses the symbol's brackets instead.
            liq = e * (1 - 1 / lev) / (1 - _MAINT) if pos.amount > 0 else e * (1 + 1 / lev) / (1 + _MAINT)
            env["entry_price"] = e
            env["upnl"] = this_upnl
            env["margin"] = margin
            env["roe"] = this_upnl / margin if margin else 0.0
            env["leverage"] = notional / equity if equity > 0 else 0.0
            env["liq_price"] = liq
        else:
            env["entry_price"] = env["liq_price"] = math.nan
            env["upnl"] = env["margin"] = env["roe"] = env["leverage"] = 0.0
        env["equity"] = equity
        env["available"] = equity - used
        start = pf.today.start_equity.get(asset) if pf.today is not None else None
        env["daily_pnl"] = equity - float(start) if start is not None else 0.0


def holding(
    symbol: str,
    portfolio: Portfolio,
    instruments: Mapping[str, Instrument],
    runs: Mapping[str, SymbolRun],
    brackets: Mapping[str, BracketTable],
    margin_type: MarginType,
) -> Holding:
    """The position with what backs it (its margin; in cross margin the wallet less what the
    other positions of the asset need), exact: what the liquidation and margin guards read."""
    pf = portfolio
    inst = instruments[symbol]
    pos = pf.net_position(symbol)
    wallet = pos.isolated_wallet
    if pos.amount != 0 and wallet <= 0:  # the venue has not said: the initial margin it took
        wallet = abs(inst.notional(pos.size, pos.entry_price)) / runs[symbol].leverage
    other_maint = other_upnl = ZERO
    if margin_type is MarginType.CROSSED:
        for other in runs:
            mark = pf.marks.get(other)
            if other == symbol or mark is None or instruments[other].margin_asset != inst.margin_asset:
                continue
            o = pf.net_position(other)
            if o.amount:
                other_maint += brackets[other].maintenance_margin(instruments[other].notional(o.size, mark))
                other_upnl += pf.unrealized(other, o.position_side)
    return Holding(pos.amount, pos.entry_price, wallet, pf.wallet.get(inst.margin_asset, ZERO), other_maint, other_upnl)
