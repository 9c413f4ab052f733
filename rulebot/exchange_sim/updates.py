"""ACCOUNT_UPDATE pieces (balances and positions) and positionRisk/balance views (Binance's
`PositionRisk` and `AssetBalance`, with the fields the simulator's market prints: USDⓈ-M
`maxNotionalValue` and `notional`, COIN-M `maxQty`; see `binance/payloads/account_state.py`).

Break-even price: `fees.break_even_price` with the taker rate both ways (Binance's exact
`bep` definition is unverified, MARGIN.md §3).
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal

from rulebot.binance.payloads.account_state import AssetBalance, PositionRisk
from rulebot.core.account_events import AccountUpdate, BalanceChange, PositionChange
from rulebot.core.enums import Market, PositionSide
from rulebot.core.fees import FeeRates, break_even_price
from rulebot.core.instruments import Instrument
from rulebot.core.margin import BracketTable, UnderMaintenanceError, liquidation_price
from rulebot.exchange_sim.account import Account, PositionState
from rulebot.exchange_sim.exposure import Exposure

ZERO = Decimal(0)
_LONG, _SHORT = PositionSide.LONG, PositionSide.SHORT  # a slow lookup through the class on Python 3.11
# The simulated account has no alias of its own; Binance's documented example's stands in.
ACCOUNT_ALIAS = "SgsR"


class Reporter:
    """Builds events and views from the account's state at current prices."""

    def __init__(
        self,
        account: Account,
        exposure: Exposure,
        instruments: Mapping[str, Instrument],
        brackets: Mapping[str, BracketTable],
        fee_rates: FeeRates,
    ) -> None:
        self._account = account
        self._exposure = exposure
        self._instruments = instruments
        self._brackets = brackets
        self._fees = fee_rates

    def break_even(self, pos: PositionState) -> Decimal:
        if pos.qty == 0:
            return ZERO
        inst = self._instruments[pos.symbol]
        side = _LONG if pos.qty > 0 else _SHORT  # as Position.side, built for nothing
        return break_even_price(inst, side, pos.entry_price, self._fees.taker, self._fees.taker)

    # The events below are built positionally, in their fields' order (named in the comments):
    # keywords cost more than the building, and every fill makes one (issue 14).
    def balance_change(self, asset: str, change: Decimal = ZERO) -> BalanceChange:
        account = self._account
        # asset, wallet_balance, cross_wallet_balance, balance_change
        return BalanceChange(asset, account.wallets[asset], account.cross_wallet(asset), change)

    def position_change(self, pos: PositionState) -> PositionChange:
        return PositionChange(
            pos.symbol,
            pos.position_side,
            pos.qty,  # amount
            pos.entry_price,
            self.break_even(pos),  # break_even_price
            pos.realized_pnl,
            self._exposure.unrealized(pos),  # unrealized_pnl
            self._account.margin_type[pos.symbol],  # margin_type
            pos.isolated_wallet,
        )

    def account_update(
        self,
        reason: str,
        asset: str,
        positions: tuple[PositionState, ...],
        time: int,
        change: Decimal = ZERO,
    ) -> AccountUpdate:
        balances = (self.balance_change(asset, change),)
        # One position (every fill's update): no comprehension to build its tuple.
        changes = (
            (self.position_change(positions[0]),)
            if len(positions) == 1
            else tuple([self.position_change(p) for p in positions])
        )
        # reason, balances, positions, time
        return AccountUpdate(reason, balances, changes, time)

    # -- views -------------------------------------------------------------------------------

    def liquidation_price(self, pos: PositionState) -> Decimal | None:
        """Binance's liquidation price of `pos` (core `liquidation_price`), None if none."""
        if pos.qty == 0:
            return None
        inst = self._instruments[pos.symbol]
        table = self._brackets[pos.symbol]
        mark = self._exposure.price(pos)
        account, exposure = self._account, self._exposure
        try:
            if account.is_isolated(pos.symbol):
                return liquidation_price(
                    inst,
                    table,
                    [pos.as_position()],
                    pos.isolated_wallet,
                    margin_type=account.margin_type[pos.symbol],
                    mark_price=mark,
                )
            asset = inst.margin_asset
            legs = [p for p in account.legs(pos.symbol) if p.qty != 0]
            others = [
                p for p in account.open_positions(asset) if p.symbol != pos.symbol and not account.is_isolated(p.symbol)
            ]
            return liquidation_price(
                inst,
                table,
                [p.as_position() for p in legs],
                account.cross_wallet(asset),
                margin_type=account.margin_type[pos.symbol],
                other_maint_margin=sum((exposure.maint_margin(p) for p in others), ZERO),
                other_unrealized_pnl=sum((exposure.unrealized(p) for p in others), ZERO),
                mark_price=mark,
            )
        except UnderMaintenanceError:
            # Below maintenance at every price: it is being liquidated; the mark is the
            # honest figure to show.
            return mark

    def position_view(self, pos: PositionState) -> PositionRisk:
        inst = self._instruments[pos.symbol]
        account, exposure = self._account, self._exposure
        lev = account.leverage[pos.symbol]
        upnl = exposure.unrealized(pos)
        cap = self._brackets[inst.symbol].max_notional(lev)
        usdm = inst.market is Market.USDM
        return PositionRisk(
            symbol=pos.symbol,
            position_side=pos.position_side,
            amount=pos.qty,
            entry_price=pos.entry_price,
            break_even_price=self.break_even(pos),
            mark_price=exposure.price(pos),
            unrealized_pnl=upnl,
            liquidation_price=self.liquidation_price(pos),
            leverage=lev,
            margin_type=account.margin_type[pos.symbol],
            isolated_margin=pos.isolated_wallet + upnl if account.is_isolated(pos.symbol) else ZERO,
            isolated_wallet=pos.isolated_wallet,
            notional=exposure.notional(pos) if usdm else None,  # /dapi prints no notional
            max_notional=cap if usdm else None,
            max_qty=None if usdm else cap,
            auto_add_margin=False,  # never switched on here
            update_time=pos.update_time,
        )

    def balance_view(self, asset: str, market: Market) -> AssetBalance:
        available = self._exposure.available(asset)
        return AssetBalance(
            account_alias=ACCOUNT_ALIAS,
            asset=asset,
            wallet_balance=self._account.wallets[asset],
            cross_wallet_balance=self._account.cross_wallet(asset),
            cross_unrealized_pnl=self._exposure.cross_unrealized(asset),
            available_balance=available,
            max_withdraw=available,
            margin_available=True if market is Market.USDM else None,  # multi-assets mode: USDⓈ-M only
            update_time=self._account.update_time.get(asset, 0),
        )
