"""Where Binance Futures lives: REST and WebSocket bases per market and network (FACTS §1)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from rulebot.core.enums import Market

Network = Literal["mainnet", "testnet", "custom"]

_REST = {
    (Market.USDM, "mainnet"): "https://fapi.binance.com",
    (Market.USDM, "testnet"): "https://demo-fapi.binance.com",
    (Market.COINM, "mainnet"): "https://dapi.binance.com",
    (Market.COINM, "testnet"): "https://testnet.binancefuture.com",
}
_WS = {
    (Market.USDM, "mainnet"): "wss://fstream.binance.com",
    (Market.USDM, "testnet"): "wss://fstream.binancefuture.com",
    (Market.COINM, "mainnet"): "wss://dstream.binance.com",
    (Market.COINM, "testnet"): "wss://dstream.binancefuture.com",
}
# Streams USDⓈ-M serves on /public (book data); everything else on /market (FACTS §0, §9).
_PUBLIC_SUFFIXES = ("@bookTicker", "@depth")


@dataclass(frozen=True, slots=True)
class Endpoints:
    market: Market
    rest: str
    ws: str
    network: Network = "mainnet"

    @classmethod
    def of(cls, market: Market, network: Network = "mainnet") -> Endpoints:
        return cls(market, _REST[(market, network)], _WS[(market, network)], network)

    @classmethod
    def custom(cls, market: Market, rest: str, ws: str) -> Endpoints:
        """A loopback or proxy base (the fake exchange, say); paths stay Binance's."""
        return cls(market, rest.rstrip("/"), ws.rstrip("/"), "custom")

    @property
    def shown(self) -> str:
        """The REST base as it may be printed, journaled or shown on the page: a proxy's login
        (`http://user:pass@host`) becomes `http://***@host`."""
        scheme, sep, rest = self.rest.partition("://")
        login, at, host = rest.rpartition("@") if "@" in rest.split("/", 1)[0] else ("", "", rest)
        return f"{scheme}{sep}***@{host}" if at and login else self.rest

    @property
    def prefix(self) -> str:
        return "/fapi" if self.market is Market.USDM else "/dapi"

    def path(self, name: str) -> str:
        """`name` like "v1/order" → the full URL for this market."""
        return f"{self.rest}{self.prefix}/{name}"

    @property
    def routed(self) -> bool:
        return self.market is Market.USDM

    def market_streams(self, streams: list[str]) -> str:
        """A combined-stream URL for market data (routed on USDⓈ-M)."""
        names = "/".join(streams)
        if not self.routed:
            return f"{self.ws}/stream?streams={names}"
        public = all(s.endswith(_PUBLIC_SUFFIXES) or "@depth" in s for s in streams)
        route = "public" if public else "market"
        return f"{self.ws}/{route}/stream?streams={names}"

    def user_stream(self, listen_key: str) -> str:
        return f"{self.ws}/private/ws/{listen_key}" if self.routed else f"{self.ws}/ws/{listen_key}"
