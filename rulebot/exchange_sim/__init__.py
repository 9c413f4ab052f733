"""The simulated exchange: Binance Futures' matching, margin, funding and liquidation, in-process.

Pure, synchronous and deterministic: no I/O, no clock, no asyncio. Time (ms) comes in with
every call; ids are counters; the same calls give the same replies and events. Used by the
paper venue (backtests, dry runs) and by the Binance-compatible fake server.

API (all amounts `Decimal`, in the instrument's units; events are `core.account_events`)::

    sim = SimExchange(instruments, brackets, *, market, balances,
                      fee_rates=DEFAULT_FEE_RATES, fill_model=FillModel(), hedge_mode=False,
                      default_leverage=20, default_margin_type=MarginType.CROSSED,
                      margin_call_ratio=Decimal("0.8"))

    # commands -> SimResult(ok, code, message, order: OrderView | None,
    #                       algo: AlgoOrderView | None, events: tuple[AccountEvent, ...])
    sim.execute(command: Command, time: int) -> SimResult
        # PlaceOrder (LIMIT/MARKET; COIN-M also the conditional types), CancelOrder,
        # CancelAllOrders, SetLeverage, SetMarginType, SetPositionMode, SetCountdownCancelAll
    sim.execute_algo(command: PlaceOrder, time: int) -> SimResult
        # USDⓈ-M conditional orders (POST /fapi/v1/algoOrder); as a plain order they get -4120

    # market data -> the events it caused (fills, triggers, funding, margin calls, liquidations)
    sim.on_trade(symbol, price, qty, time, is_buyer_maker) -> list[AccountEvent]
    sim.on_book(symbol, bid, bid_qty, ask, ask_qty, time) -> list[AccountEvent]
    sim.on_bar(symbol, open_time, volume) -> None   # a candle starts: the realistic model's liquidity
    sim.on_mark_price(symbol, mark, time, index=None) -> list[AccountEvent]
    sim.on_funding(symbol, rate, time, mark=None) -> list[AccountEvent]

    # queries (what the REST endpoints return)
    sim.open_orders(symbol=None) -> list[OrderView]
    sim.order(symbol, client_order_id) -> OrderView | None
    sim.order_by_id(symbol, order_id) -> OrderView | None
    sim.open_algo_orders(symbol=None) -> list[AlgoOrderView]
    sim.algo_order(symbol, client_algo_id) -> AlgoOrderView | None
    sim.algo_order_by_id(symbol, algo_id) -> AlgoOrderView | None
    sim.positions(symbol=None, *, include_flat=False) -> list[PositionRisk]
    sim.balances() -> list[AssetBalance]
    sim.account(asset) -> AccountView
    # OrderView, AlgoOrderView, PositionRisk and AssetBalance are Binance's wire objects
    # (rulebot.binance.payloads): the venue parses the real exchange's JSON into the same values.
    sim.ledger(asset) -> Ledger            # realized PnL, commission, funding since the start
    sim.leverage(symbol) -> int; sim.max_notional(symbol) -> Decimal
    sim.margin_type(symbol) -> MarginType; sim.hedge_mode -> bool
    sim.countdown(symbol) -> int | None;   sim.quotes(symbol) -> Quotes

Behaviour in brief (details in each module's docstring):
  * Every call first fires the dead man's switches that are due (`time >= set time +
    countdown`): the symbol's plain and algo orders are canceled, events timed at the
    deadline.
  * Placement checks and their codes: placement.py. A refused command changes nothing.
  * Fills: `FillModel` (model.py). A fill sends OrderUpdate (TRADE) then AccountUpdate
    (ORDER). Booked money (PnL, fees, funding, isolated margin) is rounded to 8 decimals.
  * USDⓈ-M conditionals: AlgoUpdate NEW -> TRIGGERED (+ the placed order's OrderUpdates,
    client id = clientAlgoId) -> FINISHED; or CANCELED / EXPIRED / REJECTED with `reason`.
    COIN-M conditionals are plain orders: NEW at placement, NEW again at the trigger.
  * Margin and available balance: exposure.py. Funding: funding.py. Liquidation by mark
    price (LIQUIDATION orders within the bankruptcy price, clearance fee, tiers), margin
    calls: liquidation.py. Auto-deleveraging, off unless `adl=AdlModel(enabled=True)`: adl.py.
  * Rejects carry Binance's code and message (errors.py).
"""

from rulebot.binance.codes import MESSAGES
from rulebot.binance.payloads.account_state import AssetBalance, PositionRisk
from rulebot.binance.payloads.orders import AlgoOrderView, OrderView
from rulebot.exchange_sim.account import Ledger
from rulebot.exchange_sim.adl import AdlModel
from rulebot.exchange_sim.errors import Rejected
from rulebot.exchange_sim.exchange import SimExchange
from rulebot.exchange_sim.market import Quotes
from rulebot.exchange_sim.model import (
    AccountView,
    FillModel,
    SimResult,
)

__all__ = [
    "MESSAGES",
    "AccountView",
    "AdlModel",
    "AlgoOrderView",
    "AssetBalance",
    "FillModel",
    "Ledger",
    "OrderView",
    "PositionRisk",
    "Quotes",
    "Rejected",
    "SimExchange",
    "SimResult",
]
