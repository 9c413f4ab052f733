"""Build a Runner for `dry-run` and `run` from command-line choices: market feed, venue, keys."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from rulebot.binance.payloads.account_state import parse_balances, parse_commission_rate
from rulebot.binance.payloads.rest import parse_exchange_info, parse_leverage_brackets
from rulebot.core.enums import Market
from rulebot.core.errors import InvalidInput
from rulebot.core.fees import DEFAULT_FEE_RATES, FeeRates
from rulebot.core.instruments import Instrument
from rulebot.core.margin import BracketTable
from rulebot.exchange_sim import FillModel
from rulebot.feeds.catalog import BRACKETS_SOURCE, BracketsMissing, brackets_for, builtin_brackets, builtin_instruments
from rulebot.feeds.replay import ReplaySource
from rulebot.feeds.simulated.config import preset as make_preset
from rulebot.feeds.simulated.market import SimulatedMarket
from rulebot.rulebook.compiled import CompiledRulebook
from rulebot.runtime.keys import CredentialsError, load_credentials
from rulebot.runtime.run_config import RunConfig
from rulebot.runtime.runner import Runner
from rulebot.runtime.sources import paced
from rulebot.runtime.warmup import klines_fetch
from rulebot.venues.binance.endpoints import Endpoints, Network
from rulebot.venues.binance.market_stream import MarketStream, stream_names
from rulebot.venues.binance.rest import BinanceRest
from rulebot.venues.binance.user_stream import UserStream
from rulebot.venues.binance.venue import BinanceVenue


@dataclass
class Connection:
    network: Network = "mainnet"
    rest_url: str | None = None
    ws_url: str | None = None

    def endpoints(self, market: Market) -> Endpoints:
        if self.rest_url or self.ws_url:
            base = Endpoints.of(market, "mainnet")
            return Endpoints.custom(market, self.rest_url or base.rest, self.ws_url or base.ws)
        return Endpoints.of(market, self.network)


def market_of(book: CompiledRulebook) -> Market:
    return book.market_type


def _catalog(book: CompiledRulebook) -> tuple[dict[str, Instrument], dict[str, BracketTable]]:
    market = market_of(book)
    inst, brackets = builtin_instruments(market), builtin_brackets(market)
    missing = [s for s in book.symbols if s not in inst]
    if missing:
        raise InvalidInput(
            f"the built-in catalog has no spec for {', '.join(missing)}: dry-run it with --market binance"
        )
    return {s: inst[s] for s in book.symbols}, _own_brackets(book, market, brackets, BRACKETS_SOURCE[market])


def _own_brackets(
    book: CompiledRulebook, market: Market, tables: dict[str, BracketTable], source: str
) -> dict[str, BracketTable]:
    try:
        return brackets_for(book.symbols, market, tables, source)
    except BracketsMissing as exc:
        raise InvalidInput(str(exc)) from None


async def account_fee_rates(rest: BinanceRest, symbols: list[str] | tuple[str, ...]) -> FeeRates:
    """The account's commission rates (`GET commissionRate`, per symbol). Binance answers per
    symbol; the engine and the paper account keep one pair, so where symbols differ the higher
    rate of each kind is used (fees are never understated)."""
    rates = [parse_commission_rate(await rest.commission_rate(s)) for s in symbols]
    return FeeRates(maker=max(r.maker for r in rates), taker=max(r.taker for r in rates))


def describe_fees(rates: FeeRates, source: str) -> str:
    return f"fees: maker {rates.maker * 100:f}% taker {rates.taker * 100:f}% ({source})"


async def _dry_run_account(
    endpoints: Endpoints,
    book: CompiledRulebook,
    market: Market,
    key_file: str | None,
    fee_rates: FeeRates | None,
) -> tuple[FeeRates, str, dict[str, BracketTable]]:
    """What a paper run on Binance's prices charges and liquidates by: the account's own commission
    rates and leverage brackets when it has a key to read them with (--key-file, or
    BINANCE_API_KEY/BINANCE_API_SECRET; brackets can differ per account); else the VIP 0 defaults and
    the built-in snapshot, per symbol, where a symbol it lacks stops the run rather than borrowing
    another's. Rates given with --fees are kept either way."""
    try:
        creds = load_credentials(key_file)
    except CredentialsError:
        if key_file is not None:
            raise
        snapshot = _own_brackets(book, market, builtin_brackets(market), BRACKETS_SOURCE[market])
        if fee_rates is not None:
            return fee_rates, "--fees", snapshot
        return DEFAULT_FEE_RATES, "Binance's VIP 0 defaults: no API key to read the account's commissionRate", snapshot
    rest = BinanceRest(endpoints, creds.api_key, creds.api_secret)
    try:
        await rest.sync_time()
        brackets = _own_brackets(
            book,
            market,
            parse_leverage_brackets(await rest.leverage_brackets(), market),
            f"account's leverageBracket at {endpoints.shown}",
        )
        if fee_rates is not None:
            return fee_rates, "--fees", brackets
        fees = await account_fee_rates(rest, book.symbols)
        return fees, f"the account's commissionRate at {endpoints.shown}", brackets
    finally:
        await rest.close()


def _market_stream(endpoints: Endpoints, book: CompiledRulebook, rest: BinanceRest) -> MarketStream:
    """Binance's public streams for the book's symbols: a push source the runner starts with its
    queue's `put` (no queue of its own), trades lost in a cut backfilled by REST, every event
    stamped on arrival with Binance's clock."""
    return MarketStream(endpoints, stream_names(book.symbols), backfill=rest.backfill_trades, clock=rest.now_ms)


async def dry_run(
    book: CompiledRulebook,
    cfg: RunConfig,
    market_spec: str,
    *,
    preset: str = "calm",
    seed: int = 7,
    hours: int = 24,
    speed: float = 0.0,
    connection: Connection | None = None,
    fee_rates: FeeRates | None = None,
    key_file: str | None = None,
    announce: Any = None,
    fill_model: FillModel = FillModel(),
) -> Runner:
    """Paper trading: fills on the exchange simulator against simulated, replayed or live prices.

    Fees: `fee_rates` (--fees) when given; on Binance's prices the account's commissionRate when
    a key is at hand; else Binance's VIP 0 defaults. Fills: `fill_model`, as `BacktestConfig`'s
    (`ideal` here as there; `rulebot dry-run`, like `rulebot backtest`, passes `realistic` unless told).
    """
    say = announce or (lambda m: print(m, file=sys.stderr))
    fees = fee_rates or DEFAULT_FEE_RATES
    if market_spec == "simulated":
        inst, brackets = _catalog(book)
        base = make_preset(preset)
        from rulebot.backtest.api import _with_symbols_and_duration

        sim_cfg = replace(_with_symbols_and_duration(base, book, hours), seed=seed)
        feed: Any = paced(SimulatedMarket(sim_cfg), speed)
        cfg.use_scheduler = cfg.use_scheduler and speed > 0
        return Runner(
            cfg,
            book,
            feed,
            instruments=inst,
            brackets=brackets,
            venue_name=f"simulated:{preset}:{seed}",
            fee_rates=fees,
            fill_model=fill_model,
        )
    if market_spec.startswith("replay:"):
        inst, brackets = _catalog(book)
        paths = [p for p in market_spec[len("replay:") :].split(",") if p]
        source = ReplaySource(paths, symbols=set(book.symbols))
        if not source.files:
            raise InvalidInput(f"no archive files for {', '.join(book.symbols)} under {', '.join(paths)}")
        from rulebot.backtest.api import clip_to_prices

        # As a backtest of the same files: a month's fundingRate file is not the period replayed.
        source = clip_to_prices(source, paths, set(book.symbols))
        # A damaged file found mid-replay is a failed feed (exit 3) of a bot already started, with its run
        # directory and journal made; found here, it is bad input, said as `backtest` says it, and nothing
        # started. Only each file's head is read: reading every row first would take as long as the replay.
        source.check_heads()
        cfg.use_scheduler = cfg.use_scheduler and speed > 0
        return Runner(
            cfg,
            book,
            paced(source, speed),
            instruments=inst,
            brackets=brackets,
            venue_name=market_spec,
            fee_rates=fees,
            fill_model=fill_model,
        )
    if market_spec == "binance":
        market = market_of(book)
        endpoints = (connection or Connection()).endpoints(market)
        rest = BinanceRest(endpoints)
        async with closed_on_error(rest):
            await rest.sync_time()  # the receive stamps that show a lagging feed are on Binance's clock
            info = await rest.exchange_info()
        all_inst = parse_exchange_info(info, market)
        missing = [s for s in book.symbols if s not in all_inst]
        if missing:
            await rest.close()
            raise ValueError(f"{', '.join(missing)} not listed by {endpoints.shown}")
        inst = {s: all_inst[s] for s in book.symbols}
        try:
            fees, fee_source, brackets = await _dry_run_account(endpoints, book, market, key_file, fee_rates)
        except BaseException:
            await rest.close()
            raise
        say(describe_fees(fees, fee_source))
        runner = Runner(
            cfg,
            book,
            _market_stream(endpoints, book, rest),
            instruments=inst,
            brackets=brackets,
            venue_name=f"binance:{endpoints.shown}",
            clock=rest.now_ms,
            warmup=klines_fetch(rest),
            clock_sync=rest.sync_time,
            fee_rates=fees,
            fill_model=fill_model,
        )
        runner.closers.append(rest.close)
        return runner
    raise ValueError(f"unknown market {market_spec!r}: use simulated, replay:PATH or binance")


async def live(
    book: CompiledRulebook, cfg: RunConfig, connection: Connection, key_file: str | None = None, announce: Any = print
) -> Runner:
    """Real orders on Binance: keys, exchange info, the account as it is, streams, dead man's switch."""
    creds = load_credentials(key_file)
    market = market_of(book)
    endpoints = connection.endpoints(market)
    rest = BinanceRest(endpoints, creds.api_key, creds.api_secret)
    async with closed_on_error(rest):
        await rest.sync_time()
        all_inst = parse_exchange_info(await rest.exchange_info(), market)
        missing = [s for s in book.symbols if s not in all_inst]
        if missing:
            raise ValueError(f"{', '.join(missing)} not listed by {endpoints.shown}")
        # The account's own brackets (they can differ from the public ones per account).
        brackets = _own_brackets(
            book,
            market,
            parse_leverage_brackets(await rest.leverage_brackets(), market),
            f"account's leverageBracket at {endpoints.shown}",
        )
        balances = parse_balances(await rest.balance())
        fees = await account_fee_rates(rest, book.symbols)
    inst = {s: all_inst[s] for s in book.symbols}
    hedge = book.hedge
    venue = BinanceVenue(rest, hedge=hedge)
    margin = book.margin_type
    shown = ", ".join(f"{b.asset} {b.wallet_balance}" for b in balances if b.wallet_balance) or "no balance"
    announce(f"LIVE on {endpoints.shown} ({connection.network}) · {book.market.upper()} · {', '.join(book.symbols)}")
    announce(
        f"account: {shown} · {margin.value.lower()} margin · {'hedge' if hedge else 'one-way'} mode · "
        f"leverage {book.leverage}x"
    )
    announce("guards: " + ", ".join(f"{g.name}={g.shown}" for g in book.risk.settings))
    announce(describe_fees(fees, "the account's commissionRate"))
    user = UserStream(endpoints, rest, lambda e: runner.put(e), clock=rest.now_ms)
    cfg.mode = "live"
    runner = Runner(
        cfg,
        book,
        _market_stream(endpoints, book, rest),
        instruments=inst,
        brackets=dict(brackets),
        venue=venue,
        user_events=user,
        venue_name=f"binance:{endpoints.shown}",
        balances={b.asset: b.wallet_balance for b in balances},
        clock=rest.now_ms,
        warmup=klines_fetch(rest),
        clock_sync=rest.sync_time,
        fee_rates=fees,
    )
    runner.closers.append(rest.close)
    return runner


@contextlib.asynccontextmanager
async def closed_on_error(rest: BinanceRest) -> AsyncIterator[None]:
    """Close the REST session if setting up fails; on success the runner closes it at the end."""
    try:
        yield
    except BaseException:
        await rest.close()
        raise


def default_run_dir(rulebook: Path, mode: str = "live") -> Path:
    """`.rulebot/<rulebook>` for live, `.rulebot/<rulebook>.dry-run` for a dry-run: the two never
    share a journal (a dry-run's paper wallet restored as the live day's start would switch the
    daily loss cap off), a lock or a control socket."""
    return Path(".rulebot") / (rulebook.stem if mode == "live" else f"{rulebook.stem}.{mode}")
