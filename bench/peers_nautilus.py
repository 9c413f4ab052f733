"""The EMA cross of bench/peers.py in nautilus_trader (imported only by its worker process).

Klines become Bars of an EXTERNAL 1-minute bar type; aggTrades become TradeTicks that
nautilus's own aggregator builds into INTERNAL 1-minute bars, as rulebot builds its candles from
trades. The strategy is always in the market: it takes the side of the EMAs on the first ready
bar and reverses (close, then open the other side) on each cross, 0.01 BTC a time, on a netting
Binance USDT-M perpetual margin account.
"""

from __future__ import annotations

from decimal import Decimal

import pandas as pd
from nautilus_trader.backtest.engine import BacktestEngine, BacktestEngineConfig
from nautilus_trader.config import LoggingConfig, StrategyConfig
from nautilus_trader.indicators import ExponentialMovingAverage
from nautilus_trader.model.currencies import USDT
from nautilus_trader.model.data import Bar, BarType
from nautilus_trader.model.enums import AccountType, OmsType, OrderSide
from nautilus_trader.model.identifiers import InstrumentId, Venue
from nautilus_trader.model.objects import Money
from nautilus_trader.persistence.wranglers import BarDataWrangler, TradeTickDataWrangler
from nautilus_trader.test_kit.providers import TestInstrumentProvider
from nautilus_trader.trading.strategy import Strategy


class CrossConfig(StrategyConfig, frozen=True):
    instrument_id: InstrumentId
    bar_type: BarType
    fast: int
    slow: int
    size: Decimal
    scale: float = 1.0  # bench/peers.py --strategy quiet: slow scaled out of reach, nothing trades


class AlwaysInCross(Strategy):
    def __init__(self, config: CrossConfig) -> None:
        super().__init__(config)
        self.fast = ExponentialMovingAverage(config.fast)
        self.slow = ExponentialMovingAverage(config.slow)
        self.side: OrderSide | None = None
        self.trades = 0

    def on_start(self) -> None:
        self.instrument = self.cache.instrument(self.config.instrument_id)
        self.qty = self.instrument.make_qty(self.config.size)
        self.register_indicator_for_bars(self.config.bar_type, self.fast)
        self.register_indicator_for_bars(self.config.bar_type, self.slow)
        self.subscribe_bars(self.config.bar_type)

    def on_bar(self, bar: Bar) -> None:
        if not (self.fast.initialized and self.slow.initialized):
            return
        scale = self.config.scale
        if scale == 1.0:
            want = OrderSide.BUY if self.fast.value > self.slow.value else OrderSide.SELL
        elif self.fast.value > self.slow.value * scale:
            want = OrderSide.BUY
        elif self.fast.value < self.slow.value / scale:
            want = OrderSide.SELL
        else:
            return
        if want == self.side:
            return
        if self.side is not None:
            self.close_all_positions(self.config.instrument_id)
            self.trades += 1
        self.submit_order(self.order_factory.market(self.config.instrument_id, want, self.qty))
        self.side = want


def run_nautilus(kind: str, files: list[str], fast: int, slow: int, scale: float = 1.0) -> int:
    engine = BacktestEngine(
        config=BacktestEngineConfig(trader_id="BACKTESTER-001", logging=LoggingConfig(log_level="ERROR"))
    )
    engine.add_venue(
        venue=Venue("BINANCE"),
        oms_type=OmsType.NETTING,
        account_type=AccountType.MARGIN,
        base_currency=None,
        starting_balances=[Money(10_000_000, USDT)],
    )
    instrument = TestInstrumentProvider.btcusdt_perp_binance()
    engine.add_instrument(instrument)
    if kind == "klines":
        bar_type = BarType.from_str(f"{instrument.id}-1-MINUTE-LAST-EXTERNAL")
        cols = ["open", "high", "low", "close", "volume", "close_time"]
        df = pd.concat([pd.read_csv(f, usecols=cols) for f in files], ignore_index=True)
        df.index = pd.to_datetime(df.pop("close_time") + 1, unit="ms")  # a bar is stamped when it closes
        engine.add_data(BarDataWrangler(bar_type, instrument).process(df))
    else:
        bar_type = BarType.from_str(f"{instrument.id}-1-MINUTE-LAST-INTERNAL")
        cols = ["agg_trade_id", "price", "quantity", "transact_time", "is_buyer_maker"]
        df = pd.concat([pd.read_csv(f, usecols=cols) for f in files], ignore_index=True)
        df.index = pd.to_datetime(df.pop("transact_time"), unit="ms")
        df = df.rename(columns={"agg_trade_id": "trade_id", "is_buyer_maker": "buyer_maker"})
        engine.add_data(TradeTickDataWrangler(instrument).process(df))
    strategy = AlwaysInCross(
        CrossConfig(
            instrument_id=instrument.id, bar_type=bar_type, fast=fast, slow=slow, size=Decimal("0.01"), scale=scale
        )
    )
    engine.add_strategy(strategy)
    engine.run()
    trades = strategy.trades + (strategy.side is not None)  # the last one is closed when the run ends
    engine.dispose()
    return trades
