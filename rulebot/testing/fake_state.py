"""What the fake exchange keeps beside the simulator: usage counted as Binance counts it, the
listen key, and the history the simulator does not keep (fills, income, funding, candles, trades)
so that `userTrades`, `income`, `fundingRate`, `klines` and `aggTrades` answer with real rows.
"""

from __future__ import annotations

import secrets
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import Any

from rulebot.binance.payloads.rest import RateLimit
from rulebot.core.account_events import AccountEvent, AccountUpdate, OrderUpdate
from rulebot.core.enums import Market
from rulebot.core.events import CandleClosed, FundingRate, Trade
from rulebot.feeds.simulated.config import timeframe_ms

LISTEN_KEY_VALIDITY_MS = 60 * 60_000  # FACTS §10
_TAPE = 200_000  # trades kept per symbol for aggTrades and klines


def _d(value: Decimal) -> str:
    return format(value, "f")


# -- request weight and order counts --------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Usage:
    """What one request cost: the usage headers, and the limit it broke (then nothing was spent)."""

    headers: dict[str, str]
    exceeded: RateLimit | None = None
    retry_after_s: int = 0


class UsageMeter:
    """Binance's counters: fixed windows (a minute, ten seconds) that restart on the boundary.

    A request that would pass a limit is refused and spends nothing; the exchange answers it
    429 with the seconds until the window restarts.
    """

    def __init__(self, limits: Sequence[RateLimit]) -> None:
        self.limits = tuple(lim for lim in limits if lim.kind in ("REQUEST_WEIGHT", "ORDERS"))
        self._windows: list[list[int]] = [[0, 0] for _ in self.limits]  # [start ms, count]
        self.refused = 0

    def charge(self, now_ms: int, weight: int, orders: int) -> Usage:
        for i, lim in enumerate(self.limits):
            start = now_ms - now_ms % lim.window_ms
            if self._windows[i][0] != start:
                self._windows[i] = [start, 0]
        for i, lim in enumerate(self.limits):
            amount = weight if lim.kind == "REQUEST_WEIGHT" else orders
            start, count = self._windows[i]
            if amount and count + amount > lim.limit:
                self.refused += 1
                wait_ms = start + lim.window_ms - now_ms
                return Usage(self._headers(orders > 0), lim, max(1, -(-wait_ms // 1000)))
        for i, lim in enumerate(self.limits):
            self._windows[i][1] += weight if lim.kind == "REQUEST_WEIGHT" else orders
        return Usage(self._headers(orders > 0))

    def _headers(self, with_orders: bool) -> dict[str, str]:
        out = {}
        for lim, (_, count) in zip(self.limits, self._windows, strict=True):
            if lim.kind == "REQUEST_WEIGHT":
                out[f"X-MBX-USED-WEIGHT-{lim.interval_num}{lim.interval[0]}"] = str(count)
            elif with_orders:  # order counts come only with order requests
                out[f"X-MBX-ORDER-COUNT-{lim.interval_num}{lim.interval[0]}"] = str(count)
        return out


# -- the user stream's key ------------------------------------------------------------------------


class ListenKey:
    """The account's one listen key: POST makes it (or returns and extends the live one), PUT
    extends it by its validity, DELETE ends it; it lapses when not kept alive."""

    def __init__(self, validity_ms: int = LISTEN_KEY_VALIDITY_MS) -> None:
        self.validity_ms = validity_ms
        self.key: str | None = None
        self.expires_at = 0

    def open(self, now: int) -> tuple[str, bool]:
        created = self.key is None
        if self.key is None:
            self.key = secrets.token_urlsafe(48)
        self.expires_at = now + self.validity_ms
        return self.key, created

    def keepalive(self, now: int) -> bool:
        if self.key is None:
            return False
        self.expires_at = now + self.validity_ms
        return True

    def close(self) -> str | None:
        key, self.key = self.key, None
        return key

    def lapsed(self, now: int) -> str | None:
        """The key, forgotten, if its time ran out."""
        return self.close() if self.key is not None and now >= self.expires_at else None


# -- history ---------------------------------------------------------------------------------


class History:
    """Rows for the history endpoints, in the shapes of Binance's payloads."""

    def __init__(self, market: Market, margin_asset: dict[str, str], contract_size: dict[str, Decimal]) -> None:
        self.market = market
        self._asset = margin_asset  # symbol -> margin asset
        self._size = contract_size  # symbol -> USD per contract (COIN-M)
        self._fills: list[dict[str, Any]] = []
        self._income: list[dict[str, Any]] = []
        self._funding: list[dict[str, Any]] = []
        self._candles: dict[tuple[str, str], dict[int, CandleClosed]] = {}
        self._tape: dict[str, deque[Trade]] = {}
        self._tran_id = 1_000_000

    # -- recording -------------------------------------------------------------------------------

    def on_market(self, event: object) -> None:
        if isinstance(event, Trade):
            self._tape.setdefault(event.symbol, deque(maxlen=_TAPE)).append(event)
        elif isinstance(event, CandleClosed):
            by_open = self._candles.setdefault((event.symbol, event.timeframe), {})
            by_open[event.open_time] = event
        elif isinstance(event, FundingRate):
            mark = _d(event.mark_price) if event.mark_price is not None else ""
            self._funding.append(
                {
                    "symbol": event.symbol,
                    "fundingRate": _d(event.rate),
                    "fundingTime": event.funding_time,
                    "markPrice": mark,
                }
            )

    def on_account(self, events: Iterable[AccountEvent], funding_symbol: str = "") -> None:
        """Fills become userTrades and REALIZED_PNL/COMMISSION income; funding fees income."""
        for ev in events:
            if isinstance(ev, OrderUpdate) and ev.last_filled_qty > 0:
                self._fill(ev)
            elif isinstance(ev, AccountUpdate) and ev.reason == "FUNDING_FEE":
                for b in ev.balances:
                    if b.balance_change:
                        self._add_income(funding_symbol, "FUNDING_FEE", b.balance_change, b.asset, ev.time, "")

    def _fill(self, u: OrderUpdate) -> None:
        asset = self._asset.get(u.symbol, "USDT")
        trade_id = u.trade_id or len(self._fills) + 1
        value = _d(self._value(u.symbol, u.last_filled_qty, u.last_filled_price))
        row: dict[str, Any] = {
            "symbol": u.symbol,
            "id": trade_id,
            "orderId": u.order_id,
            "side": u.side.value,
            "price": _d(u.last_filled_price),
            "qty": _d(u.last_filled_qty),
            "realizedPnl": _d(u.realized_pnl),
            "marginAsset": asset,
            "quoteQty": value,
            "commission": _d(u.commission),
            "commissionAsset": u.commission_asset or asset,
            "time": u.time,
            "positionSide": u.position_side.value,
            "buyer": u.side.value == "BUY",
            "maker": u.is_maker,
        }
        if self.market is Market.COINM:  # /dapi names it baseQty and adds the pair
            row["pair"] = u.symbol.split("_")[0]
            row["baseQty"] = row.pop("quoteQty")
        self._fills.append(row)
        if u.realized_pnl:
            self._add_income(u.symbol, "REALIZED_PNL", u.realized_pnl, asset, u.time, str(trade_id))
        if u.commission:
            fee_asset = u.commission_asset or asset
            self._add_income(u.symbol, "COMMISSION", -u.commission, fee_asset, u.time, str(trade_id))

    def _value(self, symbol: str, qty: Decimal, price: Decimal) -> Decimal:
        """USDⓈ-M: the quote value; COIN-M: the contracts' value in the base coin."""
        if self.market is Market.COINM:
            return qty * self._size.get(symbol, Decimal(100)) / price if price else Decimal(0)
        return qty * price

    def _add_income(self, symbol: str, kind: str, amount: Decimal, asset: str, time: int, trade: str) -> None:
        self._tran_id += 1
        self._income.append(
            {
                "symbol": symbol,
                "incomeType": kind,
                "income": _d(amount),
                "asset": asset,
                "info": kind,
                "time": time,
                "tranId": self._tran_id,
                "tradeId": trade,
            }
        )

    # -- queries: the oldest rows from a start (or id), else the newest `limit` -----------------

    def user_trades(
        self, symbol: str, start: int | None, end: int | None, from_id: int | None, limit: int
    ) -> list[dict[str, Any]]:
        rows = [r for r in self._fills if r["symbol"] == symbol and _within(r["time"], start, end)]
        if from_id is not None:
            rows = [r for r in rows if r["id"] >= from_id]
        return _page(rows, limit, from_start=from_id is not None or start is not None)

    def income(
        self, symbol: str | None, kind: str | None, start: int | None, end: int | None, limit: int
    ) -> list[dict[str, Any]]:
        rows = [
            r
            for r in self._income
            if (symbol is None or r["symbol"] == symbol)
            and (kind is None or r["incomeType"] == kind)
            and _within(r["time"], start, end)
        ]
        return _page(rows, limit, from_start=start is not None)

    def funding_rates(self, symbol: str | None, start: int | None, end: int | None, limit: int) -> list[dict[str, Any]]:
        rows = [
            r
            for r in self._funding
            if (symbol is None or r["symbol"] == symbol) and _within(r["fundingTime"], start, end)
        ]
        return _page(rows, limit, from_start=start is not None)

    def agg_trades(
        self, symbol: str, from_id: int | None, start: int | None, end: int | None, limit: int
    ) -> list[dict[str, Any]]:
        tape: Iterable[Trade] = self._tape.get(symbol, ())
        if from_id is not None:
            tape = (t for t in tape if t.trade_id >= from_id)
        rows = [_agg_row(t) for t in tape if _within(t.time, start, end)]
        return _page(rows, limit, from_start=from_id is not None or start is not None)

    def klines(self, symbol: str, interval: str, start: int | None, end: int | None, limit: int) -> list[list[Any]]:
        """Candles fed for this interval; else candles built from the trade tape."""
        fed = self._candles.get((symbol, interval))
        if fed:
            candles = sorted(fed.values(), key=lambda c: c.open_time)
        else:
            candles = self._build(self._tape.get(symbol, ()), interval)
        rows = [_kline_row(c) for c in candles if _within(c.open_time, start, end)]
        return _page(rows, limit, from_start=start is not None)

    def _build(self, tape: Iterable[Trade], interval: str) -> list[CandleClosed]:
        span = timeframe_ms(interval)
        out: list[CandleClosed] = []
        for t in tape:
            start = t.time - t.time % span
            value = self._value(t.symbol, t.qty, t.price)
            taker_buy = Decimal(0) if t.is_buyer_maker else t.qty
            if out and out[-1].open_time == start:
                c = out[-1]
                out[-1] = replace(
                    c,
                    high=max(c.high, t.price),
                    low=min(c.low, t.price),
                    close=t.price,
                    volume=c.volume + t.qty,
                    quote_volume=c.quote_volume + value,
                    trades=c.trades + 1,
                    taker_buy_volume=c.taker_buy_volume + taker_buy,
                )
            else:
                p, end = t.price, start + span - 1
                out.append(CandleClosed(t.symbol, interval, start, end, p, p, p, p, t.qty, value, 1, taker_buy))
        return out


def _within(t: int, start: int | None, end: int | None) -> bool:
    return (start is None or t >= start) and (end is None or t <= end)


def _page(rows: list[Any], limit: int, *, from_start: bool) -> list[Any]:
    return rows[:limit] if from_start else rows[-limit:] if limit else []


def _agg_row(t: Trade) -> dict[str, Any]:
    first = t.first_trade_id if t.first_trade_id is not None else t.trade_id
    last = t.last_trade_id if t.last_trade_id is not None else t.trade_id
    return {
        "a": t.trade_id,
        "p": _d(t.price),
        "q": _d(t.qty),
        "f": first,
        "l": last,
        "T": t.time,
        "m": t.is_buyer_maker,
    }


def _kline_row(c: CandleClosed) -> list[Any]:
    # CandleClosed carries no taker-buy quote volume: it is priced at the close.
    taker_quote = c.taker_buy_volume * c.close
    return [
        c.open_time,
        _d(c.open),
        _d(c.high),
        _d(c.low),
        _d(c.close),
        _d(c.volume),
        c.close_time,
        _d(c.quote_volume),
        c.trades,
        _d(c.taker_buy_volume),
        _d(taker_quote),
        "0",
    ]


__all__ = ["History", "ListenKey", "Usage", "UsageMeter"]
