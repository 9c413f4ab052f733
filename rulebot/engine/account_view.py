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

from rulebot.core.enums import MarginType, PositionSide
from rulebot.core.instruments import Instrument
from rulebot.core.margin import BracketTable, float_pnl_and_notional
from rulebot.engine.account_margin import LiqPrice, isolated_wallet, open_order_margin
from rulebot.engine.env import ACCOUNT_ORDER, POSITION_ORDER, Env
from rulebot.engine.liquidation_guard import Holding
from rulebot.engine.oms import OrderManager
from rulebot.engine.portfolio import Portfolio, PositionState

if TYPE_CHECKING:
    from rulebot.engine.engine import Engine
    from rulebot.engine.state import SymbolRun

ZERO = Decimal(0)
_ISOLATED = MarginType.ISOLATED  # a slow lookup on Python 3.11 (EnumType.__getattr__): every read asks


class AccountValues:
    """Fills one symbol's env with the account values, at the mark price.

    Runs whenever a condition reads an account value, on every trade for a rule like
    `price < bb.lower and upnl > 0`: the floats that move only with an account update (a leg's
    amount and entry, the wallet, the day's start equity) are kept with the Decimal they came
    from and converted again only when it is another one (Decimals never change in place)."""

    __slots__ = (
        "_legs",
        "_liq",
        "_mine",
        "_mine_liq",
        "_start",
        "_wallet",
        "hedge",
        "instruments",
        "margin_type",
        "oms",
        "portfolio",
        "runs",
        "symbol",
    )

    def __init__(
        self,
        symbol: str,
        portfolio: Portfolio,
        instruments: Mapping[str, Instrument],
        runs: Mapping[str, SymbolRun],
        brackets: Mapping[str, BracketTable],
        *,
        margin_type: MarginType = MarginType.ISOLATED,
        oms: OrderManager | None = None,
        hedge: bool = False,
    ) -> None:
        self.symbol = symbol
        self.portfolio = portfolio
        self.instruments = instruments
        self.runs = runs  # each symbol's leverage: the margin its position uses
        self.margin_type = margin_type
        self.oms = oms  # the open orders, whose margin `available` does not include
        self.hedge = hedge
        self._liq = LiqPrice(symbol, portfolio, instruments, runs, brackets, margin_type)
        # position key -> (amount, entry_price, float amount, float entry, side word, float size): the
        # Decimals they were taken from first
        self._legs: dict[tuple[str, PositionSide], _Leg] = {}
        self._wallet: tuple[Decimal | None, float] = (None, 0.0)
        self._start: tuple[Decimal | None, float] = (None, 0.0)
        # `position`'s last position, its leg, the leverage and the instrument
        self._mine: tuple[PositionState, _Leg, int, Instrument, Decimal] | None = None
        # `_mine`, the wallet and the liquidation price of its position, while nothing else moves it
        self._mine_liq: tuple[object, Decimal | None, float] | None = None

    @classmethod
    def of(cls, engine: Engine, symbol: str) -> AccountValues:
        """The symbol's account values in `engine`: its portfolio, brackets, margin type and open orders."""
        st = engine.state
        return cls(
            symbol,
            st.portfolio,
            engine.instruments,
            st.runs,
            engine.brackets,
            margin_type=engine.book.margin_type,
            oms=st.oms,
            hedge=engine.hedge,
        )

    def __call__(self, env: Env) -> None:
        env.filled = ACCOUNT_ORDER  # whoever filled them, the next event must recompute them
        symbol, pf, runs, instruments = self.symbol, self.portfolio, self.runs, self.instruments
        inst = instruments[symbol]
        asset = inst.margin_asset
        pos = pf.net_position(symbol)
        marks = pf.marks
        mark_d = marks.get(symbol)
        wallet_d = pf.wallet.get(asset, ZERO)
        cached = self._wallet
        if cached[0] is not wallet_d:
            cached = self._wallet = (wallet_d, float(wallet_d))
        equity = cached[1]
        # `available` (account_margin): the wallet, less each isolated position's wallet, plus each cross
        # position's PnL less its initial margin at the mark (at its entry before a mark), less open orders'
        available = equity
        isolated = self.margin_type is _ISOLATED
        this_upnl = this_notional = 0.0
        this_leg: _Leg | None = None  # the position's own leg, when the sum above valued it
        legs = self._legs
        for key, p in pf.positions.items():
            amount = p.amount
            if not amount:
                continue
            s = key[0]
            other = instruments[s]
            if other.margin_asset != asset:
                continue
            leg = legs.get(key)
            if leg is None or leg[0] is not amount or leg[1] is not p.entry_price:
                leg = legs[key] = _leg(p)
            run = runs.get(s)
            if run is not None and isolated:
                iw = p.isolated_wallet
                available -= float(iw) if iw > 0 else float(isolated_wallet(other, p, run.leverage))
            m = marks.get(s)
            if m is None:
                if run is not None and not isolated:
                    available -= float_pnl_and_notional(other, leg[2], leg[3], leg[3])[1] / run.leverage
                continue
            pnl, notional = float_pnl_and_notional(other, leg[2], leg[3], float(m))
            equity += pnl
            if run is not None and not isolated:
                available += pnl - notional / run.leverage
            if p is pos:
                this_upnl, this_notional, this_leg = pnl, notional, leg
        amount = pos.amount
        if this_leg is not None:
            leg = this_leg
        elif amount:
            leg = legs.get((symbol, pos.position_side))
            if leg is None or leg[0] is not amount or leg[1] is not pos.entry_price:
                leg = legs[(symbol, pos.position_side)] = _leg(pos)
        else:
            leg = _FLAT
        env["position.side"] = leg[4]
        env["position.size"] = leg[5]
        if amount and mark_d is not None:
            e = leg[3]
            lev = runs[symbol].leverage
            # The same product the sum above took for this leg at this mark, computed once.
            notional = (
                this_notional if this_leg is not None else float_pnl_and_notional(inst, leg[2], e, float(mark_d))[1]
            )
            _held(env, e, this_upnl, notional, lev, self._liq(pos, lev))
            env["leverage"] = notional / equity if equity > 0 else 0.0
        else:
            _flat(env)
            env["leverage"] = 0.0
        env["equity"] = equity
        oms = self.oms
        if oms is not None and oms.has_open:
            available -= float(open_order_margin(asset, pf, instruments, runs, oms, self.hedge))
        env["available"] = available
        start = pf.today.start_equity.get(asset) if pf.today is not None else None
        if start is None:
            env["daily_pnl"] = 0.0
        else:
            cached = self._start
            if cached[0] is not start:
                cached = self._start = (start, float(start))
            env["daily_pnl"] = equity - cached[1]

    def position(self, env: Env) -> None:
        """The values of the symbol's own position alone (`POSITION_NAMES`), as `__call__` fills them:
        a rule like `price < bb.lower and upnl > 0`, on every trade, reads no other. The same floats:
        its leg's product at the mark is the one the sum in `__call__` takes (its `this_upnl`)."""
        if not env.filled:  # after all of them (`__call__`), these are among them
            env.filled = POSITION_ORDER
        symbol, pf = self.symbol, self.portfolio
        pos = pf.net_position(symbol)
        amount = pos.amount
        lev = self.runs[symbol].leverage
        # The leg of the last call, kept by the position itself (no (symbol, side) key to hash), with
        # the leverage, the instrument and the isolated wallet: an isolated position's liquidation
        # price moves with nothing else (a cross one's with the wallet and the other positions too).
        mine = self._mine
        iw = pos.isolated_wallet
        if (
            mine is None
            or mine[0] is not pos
            or mine[1][0] is not amount
            or mine[1][1] is not pos.entry_price
            or mine[2] != lev
            or mine[4] is not iw
        ):
            leg = _leg(pos) if amount else _FLAT
            mine = self._mine = (pos, leg, lev, self.instruments[symbol], iw)
        leg = mine[1]
        env["position.side"] = leg[4]
        env["position.size"] = leg[5]
        mark_d = pf.marks.get(symbol)
        if amount and mark_d is not None:
            upnl, notional = float_pnl_and_notional(mine[3], leg[2], leg[3], float(mark_d))
            kept = self._mine_liq
            wallet = pf.wallet.get(mine[3].margin_asset)
            if kept is not None and kept[0] is mine and kept[1] is wallet:
                liq = kept[2]
            else:
                liq = self._liq(pos, lev)
                self._mine_liq = (mine, wallet, liq) if self._liq.steady else None
            _held(env, leg[3], upnl, notional, lev, liq)
        else:
            _flat(env)


def _held(env: Env, entry: float, upnl: float, notional: float, lev: int, liq: float) -> None:
    """The position values of a held position (`POSITION_NAMES` but its side and size)."""
    margin = notional / lev
    env["entry_price"] = entry
    env["upnl"] = upnl
    env["margin"] = margin
    env["roe"] = upnl / margin if margin else 0.0
    env["liq_price"] = liq


def _flat(env: Env) -> None:
    """The position values of no position (or none valued yet)."""
    env["entry_price"] = env["liq_price"] = math.nan
    env["upnl"] = env["margin"] = env["roe"] = 0.0


# amount, entry_price, their floats, PositionState.side, float(size), and whether it is long
_Leg = tuple[Decimal, Decimal, float, float, str, float, bool]
_FLAT: _Leg = (ZERO, ZERO, 0.0, 0.0, "none", 0.0, False)  # PositionState.side and float(size) of no position


def _leg(p: PositionState) -> _Leg:
    return (p.amount, p.entry_price, float(p.amount), float(p.entry_price), p.side, float(p.size), p.amount > 0)


def holding(
    symbol: str,
    portfolio: Portfolio,
    instruments: Mapping[str, Instrument],
    runs: Mapping[str, SymbolRun],
    brackets: Mapping[str, BracketTable],
    margin_type: MarginType,
    leg: PositionSide | None = None,
) -> Holding:
    """The position (the hedge leg `leg`, when given) with what backs it (its margin; in cross
    margin the wallet less what the other positions of the asset need, the other leg's too),
    exact: what the liquidation and margin guards read."""
    pf = portfolio
    inst = instruments[symbol]
    pos = pf.net_position(symbol) if leg is None else pf.position(symbol, leg)
    wallet = pos.isolated_wallet
    if pos.amount != 0 and wallet <= 0:  # the venue has not said: the initial margin it took
        wallet = abs(inst.notional(pos.size, pos.entry_price)) / runs[symbol].leverage
    other_maint = other_upnl = ZERO
    if margin_type is MarginType.CROSSED:
        for (other, side), o in pf.positions.items():  # each leg of hedge mode, the symbol's other one too
            if not o.amount or other not in runs or (other == symbol and side is pos.position_side):
                continue
            mark = pf.marks.get(other)
            if mark is None or instruments[other].margin_asset != inst.margin_asset:
                continue
            other_maint += brackets[other].maintenance_margin(instruments[other].notional(o.size, mark))
            other_upnl += pf.unrealized(other, side)
    return Holding(pos.amount, pos.entry_price, wallet, pf.wallet.get(inst.margin_asset, ZERO), other_maint, other_upnl)


def margin_available(
    asset: str,
    portfolio: Portfolio,
    instruments: Mapping[str, Instrument],
    runs: Mapping[str, SymbolRun],
    margin_type: MarginType,
    oms: OrderManager | None = None,
    hedge: bool = False,
) -> Decimal:
    """Binance's `availableBalance` of `asset` before any new order: the wallet less what its
    positions lock, less the open orders' initial margin (`account_margin.open_order_margin`). A
    cross position locks its initial margin at mark and lends its unrealized PnL; an isolated one
    locks its own wallet, and its PnL stays inside it (a profit of an isolated position is not
    available for another order)."""
    pf = portfolio
    total = pf.wallet.get(asset, ZERO)
    for (symbol, side), pos in pf.positions.items():
        inst = instruments.get(symbol)
        if not pos.amount or inst is None or inst.margin_asset != asset or symbol not in runs:
            continue
        if margin_type is MarginType.ISOLATED:
            total -= isolated_wallet(inst, pos, runs[symbol].leverage)
            continue
        mark = pf.marks.get(symbol, pos.entry_price)  # the simulator values it at its entry before a mark
        total += pf.unrealized(symbol, side) - abs(inst.notional(pos.size, mark)) / runs[symbol].leverage
    if oms is not None and oms.has_open:
        total -= open_order_margin(asset, pf, instruments, runs, oms, hedge)
    return total
