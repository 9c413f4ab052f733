"""`SimExchange`: the simulated exchange's one entry point (commands, market data, queries).

Pure and synchronous: time comes in with every call (ms), nothing is read from a clock, and
the same calls in the same order always give the same replies, events and ids. Every call
that carries a time first fires the dead man's switches (SetCountdownCancelAll) that are due.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from decimal import Decimal

from rulebot.binance.payloads.orders import AlgoOrderView, OrderView
from rulebot.core.account_events import AccountEvent, LeverageChanged
from rulebot.core.commands import (
    CancelAllOrders,
    CancelOrder,
    Command,
    PlaceOrder,
    SetCountdownCancelAll,
    SetLeverage,
    SetMarginType,
    SetPositionMode,
)
from rulebot.core.enums import MarginType, Market, Side, WorkingType
from rulebot.core.fees import DEFAULT_FEE_RATES, FeeRates
from rulebot.core.instruments import Instrument
from rulebot.core.margin import BracketTable
from rulebot.exchange_sim import candle_path, conditional, quiet, settings
from rulebot.exchange_sim.account import Account
from rulebot.exchange_sim.adl import NO_ADL, AdlModel, Deleverager
from rulebot.exchange_sim.book import OrderStore
from rulebot.exchange_sim.desk import OrderDesk
from rulebot.exchange_sim.errors import Rejected, rejected
from rulebot.exchange_sim.exposure import Exposure, Pending
from rulebot.exchange_sim.funding import settle_funding
from rulebot.exchange_sim.liquidity import Liquidity
from rulebot.exchange_sim.market import Quotes, use_top
from rulebot.exchange_sim.matching import Matcher
from rulebot.exchange_sim.model import (
    FillModel,
    SimResult,
)
from rulebot.exchange_sim.placement import Gatekeeper
from rulebot.exchange_sim.queries import AccountQueries
from rulebot.exchange_sim.risk import RiskWatch
from rulebot.exchange_sim.stops import StopRunner
from rulebot.exchange_sim.updates import Reporter

_CONTRACT_PRICE = WorkingType.CONTRACT_PRICE  # an Enum lookup on every trade otherwise (slow on 3.11)

ZERO = Decimal(0)
DEFAULT_MARGIN_CALL_RATIO = Decimal("0.8")


class SimExchange(AccountQueries):
    """A Binance Futures account and matching engine over a market fed to it event by event.

    `instruments` and `brackets` are keyed by symbol (every instrument needs its brackets) and
    must all be of `market`. `balances` are the starting wallets per margin asset.
    `default_leverage` is capped at each symbol's bracket-1 maximum. `margin_call_ratio` is
    the margin ratio at which a MarginCall is sent (Binance's level is unverified).
    """

    def __init__(
        self,
        instruments: Mapping[str, Instrument],
        brackets: Mapping[str, BracketTable],
        *,
        market: Market,
        balances: Mapping[str, Decimal],
        fee_rates: FeeRates = DEFAULT_FEE_RATES,
        fill_model: FillModel = FillModel(),
        hedge_mode: bool = False,
        default_leverage: int = 20,
        default_margin_type: MarginType = MarginType.CROSSED,
        margin_call_ratio: Decimal = DEFAULT_MARGIN_CALL_RATIO,
        adl: AdlModel = NO_ADL,
    ) -> None:
        for symbol, inst in instruments.items():
            if inst.market is not market:
                raise ValueError(f"{symbol} is a {inst.market} instrument, not {market}")
            if symbol not in brackets:
                raise ValueError(f"{symbol}: no leverage brackets given (leverageBracket)")
        self.market = market
        self._instruments = dict(instruments)
        self._brackets = dict(brackets)
        self._quotes = {symbol: Quotes() for symbol in self._instruments}
        leverage = {s: min(default_leverage, self._brackets[s].brackets[0].initial_leverage) for s in self._instruments}
        self._account = Account(
            self._instruments,
            balances,
            hedge_mode=hedge_mode,
            leverage=leverage,
            margin_type=default_margin_type,
        )
        self._store = OrderStore()
        self._exposure = Exposure(self._account, self._instruments, self._brackets, self._valuation, self._pending)
        self._reporter = Reporter(self._account, self._exposure, self._instruments, self._brackets, fee_rates)
        # The realistic model's bar budgets; None keeps the ideal model's any-size fills.
        self._liquidity = Liquidity(fill_model) if fill_model.participation is not None else None
        self._matcher = Matcher(
            self._instruments,
            self._account,
            self._reporter,
            self._store,
            self._quotes,
            fill_model,
            fee_rates,
            self._liquidity,
        )
        self._gate = Gatekeeper(
            market,
            self._instruments,
            self._brackets,
            self._account,
            self._exposure,
            self._store,
            self._quotes,
            self._matcher.expected_price,
            self._matcher.levels,
        )
        self._stops = StopRunner(
            self._instruments, self._account, self._exposure, self._store, self._matcher, self._quotes
        )
        self._desk = OrderDesk(self._gate, self._store, self._matcher)
        self._risk = RiskWatch(
            self._instruments,
            self._account,
            self._exposure,
            self._reporter,
            self._store,
            self._desk,
            margin_call_ratio,
            self._matcher.expected_price,
            close_fee_rate=fee_rates.taker,
        )
        self._adl = (
            Deleverager(adl, self._instruments, self._account, self._exposure, self._reporter, self._store, self._desk)
            if adl.enabled
            else None
        )
        self.adl_model = adl
        self._fill_model = fill_model
        self._countdowns: dict[str, int] = {}

    # -- commands ----------------------------------------------------------------------------

    def execute(self, command: Command, time: int, *, views: bool = True) -> SimResult:
        """Run a command as the REST endpoint would (`POST /fapi/v1/order`, ...).

        `views=False` leaves the answer's order and algo views out (None): a caller that reads
        only the events (the paper venue) need not have them built.

        A conditional PlaceOrder on USDⓈ-M is refused with -4120: use `execute_algo`.
        CancelOrder finds plain orders first, then open algo orders by clientAlgoId.
        CancelAllOrders cancels the symbol's plain and algo orders alike.
        """
        events = self._tick(time) if self._countdowns else []  # no dead man's switch: nothing to fire
        try:
            order, algo = self._dispatch(command, time, events, views)
        except Rejected as exc:
            return SimResult(False, exc.code, exc.message, events=tuple(events))
        return SimResult(True, None, None, order, algo, tuple(events))  # ok, code, message, order, algo, events

    def execute_algo(self, command: PlaceOrder, time: int, *, views: bool = True) -> SimResult:
        """Place a USDⓈ-M conditional order in the algo service (`POST /fapi/v1/algoOrder`).

        No margin or reduce-only check before the trigger. Refused with -1116 for a
        non-conditional type and -1020 on COIN-M (whose conditionals are plain orders).
        """
        events = self._tick(time) if self._countdowns else []  # as in execute
        try:
            algo = self._desk.place_algo(command, time, events, views)
        except Rejected as exc:
            return SimResult(False, exc.code, exc.message, events=tuple(events))
        return SimResult(True, None, None, None, algo, tuple(events))  # as in execute

    def _dispatch(
        self, command: Command, time: int, events: list[AccountEvent], views: bool
    ) -> tuple[OrderView | None, AlgoOrderView | None]:
        if isinstance(command, PlaceOrder):
            return self._desk.place(command, time, events, views), None
        if isinstance(command, CancelOrder):
            return self._desk.cancel(command, time, events, views)
        if isinstance(command, SetPositionMode):
            settings.set_position_mode(command, self._account, self._store)
            return None, None
        inst = self._gate.instrument(command.symbol)
        if isinstance(command, CancelAllOrders):
            self._desk.cancel_all(command.symbol, time, events)
        elif isinstance(command, SetLeverage):
            table = self._brackets[command.symbol]
            settings.set_leverage(command, self._account, self._exposure, table, inst.margin_asset)
            events.append(LeverageChanged(command.symbol, command.leverage, time))
        elif isinstance(command, SetMarginType):
            settings.set_margin_type(command, self._account, self._store)
        elif isinstance(command, SetCountdownCancelAll):
            if command.countdown_ms < 0:
                raise rejected(-1130, "countdownTime")
            if command.countdown_ms == 0:
                self._countdowns.pop(command.symbol, None)
            else:
                self._countdowns[command.symbol] = time + command.countdown_ms
        else:  # pragma: no cover - the Command union is closed
            raise TypeError(f"not a command: {command!r}")
        return None, None

    def tick(self, time: int) -> list[AccountEvent]:
        """Let time pass with no market event: fires the dead man's switches that are due."""
        return self._tick(time)

    def _tick(self, time: int) -> list[AccountEvent]:
        """Fire the dead man's switches due at `time` (at or after their deadline)."""
        events: list[AccountEvent] = []
        if not self._countdowns:
            return events  # no dead man's switch armed (every command of a backtest asks)
        for symbol, deadline in sorted(self._countdowns.items()):
            if time >= deadline:
                del self._countdowns[symbol]
                self._desk.cancel_all(symbol, deadline, events)
        return events

    # -- market data ---------------------------------------------------------------------------

    def on_trade(
        self, symbol: str, price: Decimal, qty: Decimal, time: int, is_buyer_maker: bool
    ) -> list[AccountEvent]:
        """A trade printed: isolated positions it bankrupts are liquidated, resting limits
        fill, CONTRACT_PRICE triggers are checked."""
        if self._liquidity is not None:
            self._quote(symbol)  # an unknown symbol is refused before anything counts it
            self._liquidity.on_trade(symbol, time, qty)
        if not self._countdowns and self._store.idle(symbol):
            # Most trades of a backtest meet no working order: only the last price changes
            # (and the ADL watch, when modelled, sees it: a position needs no order to be hit).
            self._quote(symbol).last = price
            if self._adl is None:
                return []
            events: list[AccountEvent] = []
            self._adl.on_price(symbol, price, time, events)
            return events
        events = self._tick(time)
        self._quote(symbol).last = price
        # A gap to beyond an isolated position's bankruptcy price liquidates it before anything
        # fills there: no fill may lose more than its margin (liquidation.py).
        self._risk.check_fill_prices(symbol, price, price, time, events)
        if not events and self._adl is None and self._store.out_of_reach(symbol, _CONTRACT_PRICE):
            return events  # only mark-price stops work: the matching and the stops below would find nothing
        self._matcher.on_trade(symbol, price, qty, is_buyer_maker, time, events)
        self._stops.on_price(symbol, WorkingType.CONTRACT_PRICE, price, time, events)
        if self._adl is not None:
            self._adl.on_price(symbol, price, time, events)
        return events

    @property
    def fill_model(self) -> FillModel:
        """How this account fills (a paper account kept across restarts keeps its own)."""
        return self._fill_model

    @property
    def counts_volume(self) -> bool:
        """The realistic model caps fills by each bar's traded volume: every trade counts, even one
        at which nothing else happens (`fold_trades`)."""
        return self._liquidity is not None

    def fold_trades(self, symbol: str, time: int, qtys: Iterable[Decimal]) -> None:
        """Trades of `symbol` in the minute of `time` that the fast backtest path folded: each price
        inside the quiet band (`quiet_band`: nothing fills, triggers or is liquidated there, no ADL
        watch), so what `on_trade` leaves of them is their volume in the bar's liquidity (the last
        price is the next trade's, which `on_trade` takes before anything reads it)."""
        if self._liquidity is not None:
            self._quote(symbol)
            self._liquidity.on_trades(symbol, time, qtys)

    def fold_book(self, symbol: str, bid: Decimal, bid_qty: Decimal, ask: Decimal, ask_qty: Decimal) -> None:
        """A book top of `symbol` that the fast backtest path folded (backtest/fast_quotes.py): no dead
        man's switch armed, the margin isolated, bid and ask strictly inside `quiet_band` (no bankruptcy
        price reached, no resting limit quoted through), so what `on_book` leaves is its quotes, each
        taken down by the nothing filled against it, and the symbol's final orders pruned."""
        quotes = self._quote(symbol)
        quotes.bid, quotes.bid_qty, quotes.ask, quotes.ask_qty = bid, bid_qty, ask, ask_qty
        if self._fill_model.fill_on_book_cross:  # Matcher.on_book, with nothing crossed
            use_top(quotes, Side.BUY, ZERO)
            use_top(quotes, Side.SELL, ZERO)
            self._store.prune(symbol)

    def on_bar(self, symbol: str, open_time: int, volume: Decimal) -> None:
        """A candle (kline) is about to be walked: with a realistic fill model its volume is
        the bar's liquidity (a cap per bar, impact); the ideal model ignores it."""
        self._quote(symbol)
        if self._liquidity is not None:
            self._liquidity.on_bar(symbol, open_time, volume)

    def on_book(
        self,
        symbol: str,
        bid: Decimal,
        bid_qty: Decimal,
        ask: Decimal,
        ask_qty: Decimal,
        time: int,
    ) -> list[AccountEvent]:
        """A new book top: isolated positions it bankrupts are liquidated (as on a trade);
        market orders fill against it; resting limits it crosses fill."""
        events = self._tick(time)
        quotes = self._quote(symbol)
        quotes.bid, quotes.bid_qty, quotes.ask, quotes.ask_qty = bid, bid_qty, ask, ask_qty
        self._risk.check_fill_prices(symbol, bid, ask, time, events)
        if self._fill_model.fill_on_book_cross:
            self._matcher.on_book(symbol, time, events)
        return events

    def on_mark_price(self, symbol: str, mark: Decimal, time: int, index: Decimal | None = None) -> list[AccountEvent]:
        """A new mark price: margin calls and liquidations, then MARK_PRICE triggers."""
        quotes = self._quote(symbol)
        if (
            not self._countdowns
            and self._store.idle(symbol)
            and not any(p.qty != 0 for p in self._account.legs(symbol))
        ):
            quotes.set_mark(mark, index)  # nothing to trigger and no position to liquidate: only the mark changes
            return []
        events = self._tick(time)
        quotes.set_mark(mark, index)
        # Liquidation first: a mark that gapped past a stop and the liquidation price crossed
        # the liquidation price on its way (liquidation.py).
        self._risk.check(symbol, time, events)
        self._stops.on_price(symbol, WorkingType.MARK_PRICE, mark, time, events)
        return events

    def fold_mark(self, symbol: str, mark: Decimal, index: Decimal | None = None) -> bool:
        """`on_mark_price` for a mark the fast backtest path showed strictly inside `quiet_band` (no dead
        man's switch, no margin warning, no stop, liquidation or margin call in reach; backtest/fast_quotes.py):
        the quotes, the trailing stops watching the mark moved, the final orders pruned. False when one of
        those trailing stops triggers: the caller hands the mark to `on_mark_price`."""
        quotes = self._quote(symbol)
        store = self._store
        if store.idle(symbol) and not any(p.qty != 0 for p in self._account.legs(symbol)):
            quotes.set_mark(mark, index)  # on_mark_price's own shortcut: nothing to trigger, nothing to liquidate
            return True
        inst = self._instruments[symbol]
        for trigger in quiet.trailing_triggers(store, symbol):
            # Fed the mark as `StopRunner.on_price` feeds it. A second feed of the same price leaves a
            # trigger as the first did (the extreme is reached, the activation done): when one triggers
            # here, `on_mark_price` feeds them all again and fires it.
            if trigger.working_type is WorkingType.MARK_PRICE and conditional.update(trigger, mark, inst):
                return False
        quotes.set_mark(mark, index)
        store.prune(symbol)
        store.prune_algos(symbol)
        return True

    def on_funding(self, symbol: str, rate: Decimal, time: int, mark: Decimal | None = None) -> list[AccountEvent]:
        """A funding time: the symbol's positions pay or receive `rate` at `mark` (default:
        the last mark seen, else the last trade)."""
        events = self._tick(time)
        quotes = self._quote(symbol)
        price = mark if mark is not None else quotes.reference()
        if any(p.qty != 0 for p in self._account.legs(symbol)):
            if price is None:
                raise ValueError(f"{symbol}: funding needs a mark price and none is known yet")
            inst = self._instruments[symbol]
            update = settle_funding(self._account, self._reporter, inst, rate, price, time)
            if update is not None:
                events.append(update)
        return events

    # -- the fast backtest path (quiet.py) -------------------------------------------------------

    def quiet_band(self, symbol: str) -> quiet.Band | None:
        """The open interval of prices at which a trade or mark price of `symbol` makes the simulator
        do nothing but note the price: no fill, trigger, margin call or liquidation (trailing stops
        aside: `walk_quietly` replays them). None when it cannot be bounded (quiet.py)."""
        if self._adl is not None:
            return None  # every price moves the ADL watch's window: nothing can be skipped
        inst = self._instruments[symbol]
        return quiet.sim_band(
            symbol,
            inst,
            self._store,
            self._account,
            self._exposure,
            self._risk.warn_at,
            self._risk.warned,
            bool(self._countdowns),
        )

    def passed_take_profits(
        self, symbol: str, start: Decimal, end: Decimal, by_mark: bool, marks: tuple[Decimal, Decimal] | None = None
    ) -> list[tuple[Decimal, Decimal | None]]:
        """Take-profit triggers a candle's walk passes through from `start` to `end`, as (last price, mark
        or None) stops on the way (candle_path.py); `by_mark`: the mark walks with the last price, so
        MARK_PRICE ones count too; `marks`: a mark bar's move beside it, which passes those instead."""
        return candle_path.passes(self._store, symbol, start, end, by_mark, marks)

    def adverse_first(
        self, symbol: str, open_: Decimal, high: Decimal, low: Decimal, working_types: Collection[WorkingType]
    ) -> str | None:
        """Which extreme of a candle its walk visits first so that a stop beats a take-profit, for the
        orders that watch one of `working_types` (candle_path.py)."""
        return candle_path.adverse_first(self._store, symbol, open_, high, low, working_types)

    def has_trailing_stop(self, symbol: str) -> bool:
        """A trailing stop of the symbol is working (its stop moves with the price)."""
        return bool(quiet.trailing_triggers(self._store, symbol))

    def walk_quietly(
        self, symbol: str, prices: list[Decimal], marks: list[Decimal], trailing: bool = True, prune: bool = True
    ) -> bool:
        """`on_trade` at each of `prices` and `on_mark_price` at each of `marks`, for a walk whose
        prices all lie inside `quiet_band`: only the quotes and the trailing stops move (`trailing`
        False: the caller knows none works; `prune` False: no order turned final since the last
        walk). False, with nothing changed, when a trailing stop would trigger on the way."""
        if not prices:
            return True
        store, inst = self._store, self._instruments[symbol]
        trailing_stops = quiet.trailing_triggers(store, symbol) if trailing else []
        if trailing_stops:
            by_contract = [t for t in trailing_stops if t.working_type is WorkingType.CONTRACT_PRICE]
            by_mark = [t for t in trailing_stops if t.working_type is WorkingType.MARK_PRICE]
            if (
                quiet.trailing_quiet(by_contract, prices, inst) is None
                or quiet.trailing_quiet(by_mark, marks, inst) is None
            ):
                return False
            quiet.replay(by_contract, prices, inst)
            quiet.replay(by_mark, marks, inst)
        quotes = self._quote(symbol)
        quotes.last = prices[-1]
        if marks:
            quotes.mark = marks[-1]
        if prune:
            store.prune(symbol)
            store.prune_algos(symbol)
        return True

    # -- callbacks for the exposure model ---------------------------------------------------------

    def _valuation(self, symbol: str) -> Decimal | None:
        return self._quotes[symbol].reference()

    def _pending(self, symbol: str) -> list[Pending]:
        return [
            Pending(o.side, o.position_side, o.remaining, o.price, o.priority)
            for o in self._store.resting(symbol)
            if not o.closing and o.price is not None
        ]
