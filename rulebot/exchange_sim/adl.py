"""Auto-deleveraging (ADL): a profitable position closed because the other side's liquidations
could not be absorbed by the market.

What Binance documents (sources in `docs/backtest-liquidation.md`):
  * ADL is the last step of liquidation, taken when the insurance fund cannot take over a
    bankrupt position: positions on the other side are closed at the bankruptcy price of the
    liquidated order, with no trading fee, and their open orders are canceled.
  * The queue is ranked by "Leverage PnL": PnL% = max(0, unrealized PnL) / max(1, wallet
    balance); margin ratio = maintenance margin / (wallet + unrealized PnL), 0 when that sum is
    not above 0; Leverage PnL = PnL% x margin ratio. A user sees their place as a quantile 0..4
    (the ADL lights; `GET /fapi/v1/adlQuantile`), 4 being first in the queue.
  * The user stream reports the close as an ORDER_TRADE_UPDATE with client id `adl_autoclose`,
    execution type CALCULATED, type LIQUIDATION (the documented order types have no other).

What a backtest cannot see (the other traders, the insurance fund), `AdlModel` assumes, and
the summary says so:
  * the crowd on the other side of a move opened at the highest (before a fall) or lowest
    (before a rise) last price of the past `window_ms`, at `crowd_leverage`: they are bankrupt
    at that price x (1 -/+ 1 / leverage) (inverse: price x L / (L +/- 1));
  * their liquidations could not be absorbed when the last price runs `absorb` (a fraction of
    that price) beyond their bankruptcy price inside the window: their IOC orders at the
    bankruptcy price found nobody there. Then the positions on the winning side are deleveraged;
  * a position's quantile comes from its Leverage PnL through fixed edges (`QUANTILE_EDGES`),
    Binance's ranking being against every other user; `shares` is the part of the position
    closed at each quantile (all at 4, half at 3, none below by default);
  * the close is at the crowd's bankruptcy price on the tick grid, rounded in the crowd's
    favour: never a worse price for the bankrupt side than its bankruptcy price;
  * one ADL per symbol per window: the window starts again after one.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal

from rulebot.core.account_events import AccountEvent
from rulebot.core.enums import OrderStatus, Rounding, Side, TimeInForce
from rulebot.core.instruments import Instrument
from rulebot.exchange_sim.account import Account, PositionState
from rulebot.exchange_sim.book import OrderStore
from rulebot.exchange_sim.desk import OrderDesk
from rulebot.exchange_sim.exposure import Exposure
from rulebot.exchange_sim.orders import LIQUIDATION_TYPE, Fill, SimOrder, order_update
from rulebot.exchange_sim.updates import Reporter

ZERO = Decimal(0)
ONE = Decimal(1)
ADL_CLIENT_ID = "adl_autoclose"  # FACTS §6.3: Binance's client id for an ADL close
# Leverage PnL at or above each edge: quantile 1, 2, 3, 4 (0: no profit). An assumption: Binance
# ranks against all its users; these put a 20x isolated position at +100% in 4, a 10x one at
# +50% in 3, a cross account at 2-3x in 1 or 2.
QUANTILE_EDGES = (Decimal("0"), Decimal("0.001"), Decimal("0.005"), Decimal("0.02"))


@dataclass(frozen=True, slots=True)
class AdlModel:
    """When the simulated exchange deleverages (module docstring). Off unless `enabled`."""

    enabled: bool = False
    crowd_leverage: Decimal = Decimal(20)
    absorb: Decimal = Decimal("0.02")
    window_ms: int = 60_000
    shares: tuple[Decimal, Decimal, Decimal, Decimal, Decimal] = (ZERO, ZERO, ZERO, Decimal("0.5"), ONE)

    def __post_init__(self) -> None:
        if not self.crowd_leverage > 1:
            raise ValueError(f"crowd_leverage must be above 1, not {self.crowd_leverage}")
        if not ZERO <= self.absorb < ONE:
            raise ValueError(f"absorb must be in [0, 1), not {self.absorb}")
        if self.window_ms <= 0:
            raise ValueError(f"window_ms must be above 0, not {self.window_ms}")
        if len(self.shares) != 5 or any(not ZERO <= s <= ONE for s in self.shares):
            raise ValueError("shares must be five fractions in [0, 1], for quantiles 0..4")

    def describe(self) -> str:
        """One line for the summary."""
        if not self.enabled:
            return "off"
        closes = ", ".join(f"q{q}: {s.normalize():f}" for q, s in enumerate(self.shares) if s)
        return (
            f"on: the other side at {self.crowd_leverage.normalize():f}x from the extreme of the last "
            f"{self.window_ms // 1000}s is deleveraged onto us when the price runs "
            f"{(self.absorb * 100).normalize():f}% past its bankruptcy price; share closed by quantile {closes}"
        )


NO_ADL = AdlModel()


def leverage_pnl(unrealized: Decimal, wallet: Decimal, maint_margin: Decimal) -> Decimal:
    """Binance's ADL ranking figure: max(0, uPnL) / max(1, wallet) x margin ratio."""
    equity = wallet + unrealized
    ratio = maint_margin / equity if equity > 0 else ZERO
    return max(ZERO, unrealized) / max(ONE, wallet) * ratio


def quantile(value: Decimal) -> int:
    """The ADL quantile 0..4 of a Leverage PnL (QUANTILE_EDGES)."""
    if value <= 0:
        return 0
    return sum(1 for edge in QUANTILE_EDGES if value >= edge)


def crowd_bankruptcy(inst: Instrument, anchor: Decimal, crowd_long: bool, leverage: Decimal) -> Decimal:
    """The price at which a position opened at `anchor` with `leverage` has lost its margin."""
    if inst.is_inverse:
        return anchor * leverage / (leverage + 1) if crowd_long else anchor * leverage / (leverage - 1)
    return anchor * (1 - 1 / leverage) if crowd_long else anchor * (1 + 1 / leverage)


@dataclass(slots=True)
class _Window:
    """Rolling highest and lowest last price of the past window (monotonic deques)."""

    highs: deque[tuple[int, Decimal]] = field(default_factory=deque)
    lows: deque[tuple[int, Decimal]] = field(default_factory=deque)

    def push(self, time: int, price: Decimal, span: int) -> None:
        highs, lows = self.highs, self.lows
        while highs and highs[-1][1] <= price:
            highs.pop()
        highs.append((time, price))
        while lows and lows[-1][1] >= price:
            lows.pop()
        lows.append((time, price))
        start = time - span
        while highs[0][0] < start:
            highs.popleft()
        while lows[0][0] < start:
            lows.popleft()

    def clear(self) -> None:
        self.highs.clear()
        self.lows.clear()


class Deleverager:
    """Watches every last price of a symbol and deleverages per `AdlModel`."""

    def __init__(
        self,
        model: AdlModel,
        instruments: Mapping[str, Instrument],
        account: Account,
        exposure: Exposure,
        reporter: Reporter,
        store: OrderStore,
        desk: OrderDesk,
    ) -> None:
        self.model = model
        self._instruments = instruments
        self._account = account
        self._exposure = exposure
        self._reporter = reporter
        self._store = store
        self._desk = desk
        self._windows: dict[str, _Window] = {}
        self._stretch = (ONE - model.absorb, ONE + model.absorb)

    def on_price(self, symbol: str, price: Decimal, time: int, events: list[AccountEvent]) -> None:
        window = self._windows.get(symbol)
        if window is None:
            window = self._windows[symbol] = _Window()
        window.push(time, price, self.model.window_ms)
        inst = self._instruments[symbol]
        lev = self.model.crowd_leverage
        peak, trough = window.highs[0][1], window.lows[0][1]
        # A fall: the longs who bought the peak are bankrupt; a rise: the shorts who sold the trough.
        for crowd_long, anchor in ((True, peak), (False, trough)):
            bankrupt = crowd_bankruptcy(inst, anchor, crowd_long, lev)
            past = price <= bankrupt * self._stretch[0] if crowd_long else price >= bankrupt * self._stretch[1]
            if past and self._deleverage(inst, bankrupt, crowd_long, time, events):
                window.clear()
                return

    def _deleverage(
        self, inst: Instrument, bankrupt: Decimal, crowd_long: bool, time: int, events: list[AccountEvent]
    ) -> bool:
        """Close the share of our positions on the winning side (short when the crowd is long)
        that their quantile says, at the crowd's bankruptcy price; True if any was."""
        ours = [p for p in self._account.legs(inst.symbol) if (p.qty < 0 if crowd_long else p.qty > 0)]
        plans = [(p, self._share(p)) for p in ours]
        plans = [(p, q) for p, q in plans if q > 0]
        if not plans:
            return False
        # We buy back from a bankrupt long: at or above its bankruptcy price; sell to a short: at or below.
        price = inst.round_price(bankrupt, Rounding.UP if crowd_long else Rounding.DOWN)
        self._desk.cancel_all(inst.symbol, time, events, OrderStatus.EXPIRED, "adl")
        for pos, qty in plans:
            self._close(inst, pos, qty, price, time, events)
        return True

    def rank(self, pos: PositionState) -> int:
        """The position's ADL quantile now (0..4)."""
        exposure, account = self._exposure, self._account
        upnl = exposure.unrealized(pos)
        if account.is_isolated(pos.symbol):
            value = leverage_pnl(upnl, pos.isolated_wallet, exposure.maint_margin(pos))
        else:
            asset = self._instruments[pos.symbol].margin_asset
            wallet = account.cross_wallet(asset)
            value = leverage_pnl(upnl, wallet, exposure.cross_maint_margin(asset))
            # The margin ratio is the account's: its other positions' PnL counts in its equity.
            equity = exposure.cross_margin_balance(asset)
            if equity > 0 and wallet + upnl > 0:
                value = value * (wallet + upnl) / equity
        return quantile(value)

    def _share(self, pos: PositionState) -> Decimal:
        """How much of the position its quantile closes, on the step grid (down)."""
        inst = self._instruments[pos.symbol]
        share = self.model.shares[self.rank(pos)]
        if share >= 1:
            return pos.size
        qty = inst.round_qty(pos.size * share)
        return min(qty, pos.size)

    def _close(
        self, inst: Instrument, pos: PositionState, qty: Decimal, price: Decimal, time: int, events: list[AccountEvent]
    ) -> None:
        side = Side.BUY if pos.qty < 0 else Side.SELL
        order_id = self._store.ids.next_order()
        order = SimOrder(
            order_id=order_id,
            client_order_id=ADL_CLIENT_ID,
            symbol=inst.symbol,
            side=side,
            position_side=pos.position_side,
            order_type=LIQUIDATION_TYPE,
            time_in_force=TimeInForce.IOC,
            quantity=qty,
            price=price,
            reduce_only=True,
            closing=True,
            close_position=False,
            time=time,
            status=OrderStatus.FILLED,
            executed=qty,
            cum_notional=abs(inst.notional(qty, price)),
            update_time=time,
        )
        # No trading fee on an ADL close (Binance's ADL FAQ).
        realized = self._account.apply_fill(inst, pos.position_side, side, qty, price, ZERO, time)
        fill = Fill(qty, price, False, ZERO, realized, self._store.ids.next_trade())
        self._store.record(order)
        events.append(order_update(inst, order, "CALCULATED", time, fill))
        events.append(self._reporter.account_update("ORDER", inst.margin_asset, (pos,), time))
