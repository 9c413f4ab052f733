"""What a `SimExchange` answers when asked (the GET endpoints): orders, algo orders, positions,
balances, the account's margins, leverage and settings. Read-only views and copies: nothing
here changes the account. A mixin of `SimExchange`, kept apart so that the facade holds the
commands and the market data, and each part stays readable.
"""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

from rulebot.binance.payloads.account_state import AssetBalance, PositionRisk
from rulebot.binance.payloads.orders import AlgoOrderView, OrderView
from rulebot.core.enums import MarginType, Market
from rulebot.core.instruments import Instrument
from rulebot.core.margin import BracketTable
from rulebot.exchange_sim.account import Account, Ledger
from rulebot.exchange_sim.book import OrderStore
from rulebot.exchange_sim.exposure import Exposure
from rulebot.exchange_sim.market import Quotes
from rulebot.exchange_sim.model import AccountView
from rulebot.exchange_sim.orders import algo_view, order_view
from rulebot.exchange_sim.updates import Reporter

ZERO = Decimal(0)


class AccountQueries:
    """The queries of `SimExchange`; the attributes are the facade's own (set in its __init__)."""

    market: Market
    _instruments: dict[str, Instrument]
    _brackets: dict[str, BracketTable]
    _quotes: dict[str, Quotes]
    _account: Account
    _store: OrderStore
    _exposure: Exposure
    _reporter: Reporter
    _countdowns: dict[str, int]

    def _quote(self, symbol: str) -> Quotes:
        quotes = self._quotes.get(symbol)
        if quotes is None:
            raise ValueError(f"market data for {symbol}, which is not one of the instruments")
        return quotes

    def open_orders(self, symbol: str | None = None) -> list[OrderView]:
        """Open plain orders (COIN-M stops included), by symbol then placement."""
        return [order_view(self._instruments[o.symbol], o) for o in self._store.open_orders(symbol)]

    def order(self, symbol: str, client_order_id: str) -> OrderView | None:
        """The latest order with that client id, open or final (None: Binance's -2013)."""
        order = self._store.find(symbol, client_order_id)
        return None if order is None else order_view(self._instruments[symbol], order)

    def order_by_id(self, symbol: str, order_id: int) -> OrderView | None:
        order = self._store.by_id(order_id)
        if order is None or order.symbol != symbol:
            return None
        return order_view(self._instruments[symbol], order)

    def open_algo_orders(self, symbol: str | None = None) -> list[AlgoOrderView]:
        return [algo_view(self._instruments[a.symbol], a) for a in self._store.open_algos(symbol)]

    def algo_order(self, symbol: str, client_algo_id: str) -> AlgoOrderView | None:
        algo = self._store.find_algo(symbol, client_algo_id)
        return None if algo is None else algo_view(self._instruments[symbol], algo)

    def algo_order_by_id(self, symbol: str, algo_id: int) -> AlgoOrderView | None:
        algo = self._store.algo_by_id(algo_id)
        if algo is None or algo.symbol != symbol:
            return None
        return algo_view(self._instruments[symbol], algo)

    def positions(self, symbol: str | None = None, *, include_flat: bool = False) -> list[PositionRisk]:
        """Positions of the current mode, as positionRisk rows; flat ones too (every symbol) with
        `include_flat`."""
        symbols = [symbol] if symbol is not None else sorted(self._instruments)
        legs = [p for s in symbols for p in self._account.legs(s)]
        return [self._reporter.position_view(p) for p in legs if include_flat or p.qty != 0]

    def balances(self) -> list[AssetBalance]:
        """One balance row per margin asset, as the market's balance endpoint prints it."""
        return [self._reporter.balance_view(a, self.market) for a in self._account.assets()]

    def account(self, asset: str) -> AccountView:
        exposure = self._exposure
        wallet = self._account.wallets[asset]
        upnl = sum((exposure.unrealized(p) for p in self._account.open_positions(asset)), ZERO)
        return AccountView(
            asset=asset,
            wallet_balance=wallet,
            unrealized_pnl=upnl,
            margin_balance=wallet + upnl,
            position_initial_margin=exposure.position_initial_margin(asset),
            open_order_initial_margin=exposure.open_order_margin(asset),
            maint_margin=exposure.maint_margin_total(asset),
            available_balance=exposure.available(asset),
            cross_margin_ratio=exposure.cross_ratio(asset),
        )

    def ledger(self, asset: str) -> Ledger:
        """Realized PnL, commission and funding booked on `asset` since the start (a copy)."""
        return replace(self._account.ledgers.get(asset, Ledger()))

    def leverage(self, symbol: str) -> int:
        return self._account.leverage[symbol]

    def max_notional(self, symbol: str) -> Decimal:
        """`maxNotionalValue` at the symbol's leverage (COIN-M: `maxQty`, in coin)."""
        return self._brackets[symbol].max_notional(self._account.leverage[symbol])

    def margin_type(self, symbol: str) -> MarginType:
        return self._account.margin_type[symbol]

    @property
    def hedge_mode(self) -> bool:
        return self._account.hedge_mode

    def countdown(self, symbol: str) -> int | None:
        """When the symbol's dead man's switch fires (ms), None if none is set."""
        return self._countdowns.get(symbol)

    def quotes(self, symbol: str) -> Quotes:
        """The market data known for `symbol` (a copy)."""
        return replace(self._quote(symbol))
