"""`rulebot fake-exchange`: a Binance-compatible futures exchange on this machine, fed in real time
by the seeded simulated market, for testing a bot or one's own tools without Binance.

The library function is `serve_fake_exchange`; the command prints the URLs and the credentials
the fake accepts (`--format json` gives the same as one JSON object) and serves until Ctrl-C.
Faults (`--fault NAME=VALUE` at start, `/fake/faults` while it runs, `testing/fake_control.py`)
make it refuse, hold back or lose what a bot sends, so a run with faults can be reproduced.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, replace
from decimal import Decimal
from typing import Any

import click

from rulebot.cli.params import BALANCE, SPEED
from rulebot.core.enums import Market
from rulebot.feeds.simulated.config import BTCUSD_PERP, BTCUSDT, PRESETS, preset
from rulebot.feeds.simulated.market import SimulatedMarket
from rulebot.runtime.sources import paced
from rulebot.testing.fake_binance import FakeBinance
from rulebot.testing.fake_control import knobs, parse_assignment, set_faults

DEFAULT_PORT = 8765


@dataclass(frozen=True, slots=True)
class FakeExchangeInfo:
    """Where the fake listens and what it accepts."""

    market: str
    rest_url: str  # base, as a client's --rest-url
    ws_url: str
    api_key: str
    api_secret: str
    symbols: tuple[str, ...]

    @property
    def prefix(self) -> str:
        return "/fapi" if self.market == "usdm" else "/dapi"

    def lines(self) -> list[str]:
        return [
            f"REST  {self.rest_url}{self.prefix}   WS {self.ws_url}",
            f"market {self.market.upper()} · symbols {', '.join(self.symbols)}",
            f"BINANCE_API_KEY={self.api_key}",
            f"BINANCE_API_SECRET={self.api_secret}",
            f"e.g. rulebot run RULEBOOK --live --rest-url {self.rest_url} --ws-url {self.ws_url}",
            f"faults while it runs: curl -H 'X-MBX-APIKEY: {self.api_key}' {self.rest_url}/fake/faults "
            """-d '{"order_1021": 2}'""",
            "Ctrl-C stops it.",
        ]


async def serve_fake_exchange(
    *,
    host: str = "127.0.0.1",
    port: int = DEFAULT_PORT,
    market: str = "usdm",
    preset_name: str = "calm",
    seed: int = 7,
    speed: float = 1.0,
    balance: Decimal | None = None,
    api_key: str | None = None,
    api_secret: str | None = None,
    ready: Callable[[FakeExchangeInfo], None] = lambda info: None,
    stop: asyncio.Event | None = None,
    faults: Mapping[str, object] | None = None,
) -> None:
    """Serve the fake until `stop` is set (or forever), feeding it the simulated market paced at
    `speed` times real time; `ready` gets the URLs and credentials once it listens."""
    mk = Market.USDM if market == "usdm" else Market.COINM
    spec = BTCUSDT if mk is Market.USDM else BTCUSD_PERP
    config = replace(preset(preset_name), symbols=(spec,), seed=seed, duration_ms=None)
    asset = "USDT" if mk is Market.USDM else "BTC"
    amount = balance if balance is not None else Decimal(10_000 if mk is Market.USDM else 1)
    fake = FakeBinance(mk, balances={asset: amount}, host=host, port=port, api_key=api_key, api_secret=api_secret)
    set_faults(fake, faults or {})  # before it listens: a bad name is an error, not a half-faulty fake
    async with fake:
        ready(FakeExchangeInfo(market, fake.rest_url, fake.ws_url, fake.api_key, fake.api_secret, (spec.symbol,)))
        feeding = asyncio.create_task(_feed(fake, SimulatedMarket(config), speed))
        waiting = asyncio.create_task(stop.wait() if stop is not None else asyncio.Event().wait())
        try:
            done, _ = await asyncio.wait({feeding, waiting}, return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                task.result()  # a feed that failed says why
        finally:
            for task in (feeding, waiting):
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task


async def _feed(fake: FakeBinance, market: SimulatedMarket, speed: float) -> None:
    async for event in paced(market, speed):
        await fake.feed(event)


@click.command("fake-exchange")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option(
    "--port", type=click.IntRange(0, 65535), default=DEFAULT_PORT, show_default=True, help="0 picks a free port."
)
@click.option("--market", type=click.Choice(["usdm", "coinm"]), default="usdm", show_default=True)
@click.option(
    "--preset",
    "preset_name",
    type=click.Choice(sorted(PRESETS)),
    default="calm",
    show_default=True,
    help="The simulated market's character.",
)
@click.option("--seed", type=int, default=7, show_default=True, help="The same seed gives the same market.")
@click.option("--speed", type=SPEED, default=1.0, show_default=True, help="Market pace, times real time.")
@click.option("--balance", type=BALANCE, help="Starting wallet (default 10000 USDT, or 1 BTC on COIN-M).")
@click.option("--api-key", help="The API key to accept (default: a random one, printed).")
@click.option("--api-secret", help="The secret to accept (default: a random one, printed).")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@click.option(
    "--fault",
    "fault_args",
    multiple=True,
    metavar="NAME=VALUE",
    help="A fault from the start, e.g. order_1021=2, hold_user=true, slow_orders=1 with slow_ms=8000 "
    "(repeatable; --list-faults names them). POST /fake/faults changes them while it runs.",
)
@click.option("--list-faults", is_flag=True, help="Print the fault names and their defaults, then exit.")
def fake_exchange_cmd(
    host: str,
    port: int,
    market: str,
    preset_name: str,
    seed: int,
    speed: float,
    balance: Decimal | None,
    api_key: str | None,
    api_secret: str | None,
    fmt: str,
    fault_args: tuple[str, ...],
    list_faults: bool,
) -> None:
    """A Binance-compatible futures exchange here, over the simulator (for testing tools).

    It checks signatures and timestamps like Binance, meters request weight and orders, and
    serves the REST endpoints and the market and user streams a bot uses.
    """
    if list_faults:
        for name, value in knobs(FakeBinance(Market.USDM)).items():
            click.echo(f"{name}={value}")
        return
    try:
        faults = dict(parse_assignment(a) for a in fault_args)
        set_faults(FakeBinance(Market.USDM), faults)  # checked before anything listens
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--fault") from None
    if speed <= 0:
        raise click.BadParameter("must be above 0 (the market is served in real time)", param_hint="--speed")

    def ready(info: FakeExchangeInfo) -> None:
        if fmt == "json":
            doc: dict[str, Any] = {**asdict(info), "symbols": list(info.symbols)}
            click.echo(json.dumps(doc))
        else:
            for line in info.lines():
                click.echo(line)
            if faults:
                click.echo("faults on from the start: " + ", ".join(f"{k}={v}" for k, v in faults.items()))

    serving = serve_fake_exchange(
        host=host,
        port=port,
        market=market,
        preset_name=preset_name,
        seed=seed,
        speed=speed,
        balance=balance,
        api_key=api_key,
        api_secret=api_secret,
        ready=ready,
        faults=faults,
    )
    try:
        asyncio.run(serving)
    except KeyboardInterrupt:
        pass
    except OSError as exc:
        raise click.ClickException(f"cannot listen on {host}:{port} ({exc.strerror}); pick another --port") from None


__all__ = ["FakeExchangeInfo", "fake_exchange_cmd", "serve_fake_exchange"]
