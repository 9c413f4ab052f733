"""The library functions behind `rulebot backtest` and `rulebot demo`."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from decimal import Decimal
from pathlib import Path

from rulebot.backtest.data_range import nothing_in_range, short_of_range
from rulebot.backtest.result import BacktestResult
from rulebot.backtest.runner import BacktestConfig, market_of, run_backtest
from rulebot.backtest.warmup import read_from as warm_from
from rulebot.binance.payloads.account import brackets_from_payload
from rulebot.binance.payloads.exchange_info import instruments_from_exchange_info
from rulebot.core.enums import Market
from rulebot.core.errors import UserError
from rulebot.core.instruments import Instrument
from rulebot.core.margin import BracketTable
from rulebot.feeds.catalog import (
    BRACKETS_HINT,
    BRACKETS_SOURCE,
    BUILT_IN_UNKNOWN,
    BracketsMissing,
    brackets_for,
    builtin_brackets,
    builtin_instruments,
    generic_instrument,
    listed_symbols,
)
from rulebot.feeds.replay import ReplaySource, to_ms
from rulebot.feeds.replay_files import NO_END
from rulebot.feeds.simulated.config import SimulatedMarketConfig
from rulebot.feeds.simulated.config import preset as make_preset
from rulebot.feeds.simulated.market import SimulatedMarket
from rulebot.rulebook.compiled import CompiledRulebook
from rulebot.rulebook.compiler import compile_file


class BacktestError(UserError):
    """A backtest cannot run as asked (no data for the symbol, unknown instrument, ...)."""


@dataclass(frozen=True, slots=True)
class Instruments:
    instruments: dict[str, Instrument]
    brackets: dict[str, BracketTable]
    notes: tuple[str, ...]
    brackets_source: str = ""  # the summary's `brackets` assumption: the snapshot and its date, or the file


def load_instruments(
    book: CompiledRulebook,
    exchange_info: str | None = None,
    sample: Iterable[object] = (),
    brackets_file: str | None = None,
) -> Instruments:
    """Contract specs for the rulebook's symbols: a real exchangeInfo file, else the catalog;
    brackets from a saved leverageBracket file, else the built-in snapshot."""
    market = market_of(book)
    brackets, bracket_note = load_brackets(book, brackets_file)
    notes: list[str] = []
    if exchange_info:
        instruments = _read_exchange_info(exchange_info, market)
        notes.append(f"instruments from {exchange_info}")
    else:
        instruments = builtin_instruments(market)
    for symbol in book.symbols:
        if symbol in instruments:
            continue
        tick, step = _infer_grid(symbol, sample)
        inst = instruments[symbol] = generic_instrument(symbol, market, tick, step)
        # On COIN-M the contract size is assumed, not inferred: every amount in coin scales with it.
        size = f", contract size {inst.contract_size} USD assumed" if inst.is_inverse else ""
        notes.append(
            f"{symbol} is not in the built-in catalog: tick {tick} and step {step} were inferred "
            f"from the data{size}; pass --exchange-info for Binance's real filters"
        )
    return Instruments(instruments, brackets, tuple(notes), bracket_note.removeprefix("brackets: "))


def load_brackets(book: CompiledRulebook, brackets_file: str | None = None) -> tuple[dict[str, BracketTable], str]:
    """The rulebook's symbols' own brackets and a note naming where they came from; a symbol
    without brackets stops the run (another symbol's would make its liquidations a fiction)."""
    market = market_of(book)
    if brackets_file:
        tables, source = _read_brackets(brackets_file, market), f"brackets file {brackets_file}"
    else:
        tables, source = builtin_brackets(market), BRACKETS_SOURCE[market]
    try:
        return brackets_for(book.symbols, market, tables, source), f"brackets: {source}"
    except BracketsMissing as exc:
        raise BacktestError(str(exc)) from None


def refuse_unknown_symbols(
    rulebook: str,
    overrides: Mapping[str, str] | None,
    book: CompiledRulebook,
    exchange_info: str | None = None,
    brackets_file: str | None = None,
    advice: str | None = None,
) -> None:
    """A symbol that neither the instruments nor the brackets list is a typo, not a listing newer than
    both: said at its place in the rulebook, as `rulebot validate` says it (RulebookError), before
    the data is looked for. A symbol only one of them lists runs (its grid inferred from the data)
    or is refused for its missing brackets by load_instruments. `advice`: what to do for a symbol
    Binance lists, when the caller has no --exchange-info and --brackets to offer."""
    market = market_of(book)
    if not exchange_info and not brackets_file:
        listed, where = set(listed_symbols(market)), BUILT_IN_UNKNOWN
    else:
        listed = set(_read_exchange_info(exchange_info, market) if exchange_info else builtin_instruments(market))
        listed |= set(_read_brackets(brackets_file, market) if brackets_file else builtin_brackets(market))
        where = f"not in {exchange_info}" if exchange_info else "not in the built-in catalog"
        where += f" nor in {brackets_file}" if brackets_file else " nor in the built-in leverage brackets"
    if all(s in listed for s in book.symbols):
        return
    missing = [opt for opt, given in (("--exchange-info", exchange_info), ("--brackets", brackets_file)) if not given]
    if advice is not None:
        where += f"; {advice}"
    elif missing:
        where += "; for a symbol Binance lists, pass " + " and ".join(f"{opt} FILE" for opt in missing)
    compile_file(rulebook, overrides, {book.market: (frozenset(listed), where)})  # raises RulebookError


def _read_brackets(path: str, market: Market) -> dict[str, BracketTable]:
    """A saved leverageBracket response's tables; any file that is not one is the user's to fix."""
    try:
        with open(path, "rb") as fh:
            raw = fh.read(_MAX_EXCHANGE_INFO + 1)
        if len(raw) > _MAX_EXCHANGE_INFO:
            raise ValueError(f"larger than {_MAX_EXCHANGE_INFO // 1_000_000} MB")
        payload = json.loads(raw)
        if not isinstance(payload, dict | list):
            raise ValueError("neither a list of symbols nor one symbol's object")
        tables = brackets_from_payload(payload, market)
        empty = [s for s, t in tables.items() if not t.brackets]
        if empty:
            raise ValueError(f"{', '.join(empty)} without brackets")
        return tables
    except OSError as exc:
        raise BacktestError(f"{path}: cannot read it ({exc.strerror})", hint=BRACKETS_HINT) from None
    except (ValueError, TypeError, AttributeError, KeyError, ArithmeticError) as exc:
        raise BacktestError(f"{path}: not a Binance leverageBracket file ({exc})", hint=BRACKETS_HINT) from None


def _read_exchange_info(path: str, market: Market) -> dict[str, Instrument]:
    """A saved exchangeInfo file's instruments; any file that is not one is the user's to fix."""
    try:
        with open(path, "rb") as fh:
            raw = fh.read(_MAX_EXCHANGE_INFO + 1)
        if len(raw) > _MAX_EXCHANGE_INFO:
            raise ValueError(f"larger than {_MAX_EXCHANGE_INFO // 1_000_000} MB")
        payload = json.loads(raw)
        if not isinstance(payload, dict) or not isinstance(payload.get("symbols"), list):
            raise ValueError("no `symbols` list at the top")
        # The parser trusts Binance's shapes; a hand-edited file can break them anywhere.
        return instruments_from_exchange_info(payload, market)
    except (ValueError, TypeError, AttributeError, KeyError, ArithmeticError) as exc:
        raise BacktestError(
            f"{path}: not a Binance exchangeInfo file ({exc})",
            hint="save one with `curl https://fapi.binance.com/fapi/v1/exchangeInfo` (dapi for COIN-M), "
            "or leave out --exchange-info to use the built-in catalog",
        ) from None


# Binance's full exchangeInfo is about 1.5 MB; a file far larger is not one.
_MAX_EXCHANGE_INFO = 50_000_000


def _infer_grid(symbol: str, sample: Iterable[object]) -> tuple[Decimal, Decimal]:
    tick_exp, step_exp = 0, 0
    for n, event in enumerate(sample):
        if getattr(event, "symbol", None) != symbol:
            continue
        for attr, which in (("price", 0), ("close", 0), ("qty", 1), ("volume", 1)):
            v = getattr(event, attr, None)
            if isinstance(v, Decimal):
                exp = v.normalize().as_tuple().exponent
                if isinstance(exp, int) and exp < 0:
                    if which == 0:
                        tick_exp = min(tick_exp, exp)
                    else:
                        step_exp = min(step_exp, exp)
        if n > 5000:
            break
    return Decimal(1).scaleb(tick_exp), Decimal(1).scaleb(step_exp)


def backtest(
    rulebook: str,
    data: Sequence[str],
    *,
    start: str | int | None = None,
    end: str | int | None = None,
    overrides: Mapping[str, str] | None = None,
    config: BacktestConfig = BacktestConfig(),
    exchange_info: str | None = None,
    brackets_file: str | None = None,
    on_record: Callable[[object], None] | None = None,
    on_progress: Callable[[int, int], None] | None = None,
    journal_path: Path | None = None,
    on_span: Callable[[int, int], None] | None = None,
) -> tuple[BacktestResult, CompiledRulebook, tuple[str, ...]]:
    """Compile `rulebook` and replay Binance archive files (`data`) through it; with
    `journal_path`, every decision, verdict, command and fill goes to that SQLite journal."""
    book = compile_file(rulebook, overrides)
    refuse_unknown_symbols(rulebook, overrides, book, exchange_info, brackets_file)
    trade_from = to_ms(start) if start is not None else None
    end_ms = to_ms(end) if end is not None else None
    # The data before --from is read too, as far as the indicators need, to warm them (warmup.py).
    read_from = None if trade_from is None else warm_from(book, trade_from)
    source = ReplaySource(
        list(data),
        read_from or None,
        end_ms,
        symbols=set(book.symbols),
    )
    config = replace(config, trade_from=trade_from)
    if not source.files:
        message, hint = nothing_in_range(book, data, trade_from, end_ms, found=False)
        raise BacktestError(message, hint=hint)
    source = clip_to_prices(source, list(data), set(book.symbols))
    inst = load_instruments(book, exchange_info, iter(source), brackets_file)
    if on_span is not None and (covered := replay_span(source)) is not None:
        on_span(*covered)
    source.trade_runs = True  # trades come in runs; the runner walks those that can act (fast_trades.py)
    result = _run(
        book,
        source,
        inst.instruments,
        inst.brackets,
        config,
        on_record,
        on_progress,
        journal_path,
        "backtest",
        "replay:" + ",".join(data),
    )
    if result.events == 0:
        message, hint = nothing_in_range(book, data, trade_from, end_ms, found=True)
        raise BacktestError(message, hint=hint)
    result.brackets_source = inst.brackets_source
    result.rulebook_warnings = rulebook_warnings(book)
    result.notes = inst.notes + result.notes + short_of_range(result.start_time, result.end_time, trade_from, end_ms)
    return result, book, result.notes


def rulebook_warnings(book: CompiledRulebook) -> tuple[str, ...]:
    """The compiler's warnings as the summary lists them: `file:line:col: message`."""
    return tuple(
        (f"{d.span.file}:{d.span.line}:{d.span.column}: " if d.span is not None else "") + d.message
        for d in book.warnings
    )


def clip_to_prices(source: ReplaySource, data: list[str], symbols: set[str]) -> ReplaySource:
    """The replay limited to the time the price files cover where --from/--to leave it open.

    fundingRate files are monthly only: with two days of klines, a month's funding file would
    otherwise stretch the run to the whole month, and a position held at the end of the prices
    would pay every funding after it at a price that no longer moves. Price files are every
    kind but fundingRate; their span is what their names say (a day, a month).
    """
    prices = [f.period() for f in source.files if f.kind != "fundingRate"]
    if not prices or any(p is None for p in prices) or len(prices) == len(source.files):
        return source
    first = min(p[0] for p in prices if p is not None)
    last = max(p[1] for p in prices if p is not None)
    start = source.start if source.start > 0 else first
    end = source.end if source.end != NO_END else last
    if (start, end) == (source.start, source.end):
        return source
    return ReplaySource(data, start, end, symbols=symbols)


def replay_span(source: ReplaySource) -> tuple[int, int] | None:
    """The time the replay will cover, from the days or months the files' names say, within
    --from/--to: what a progress bar measures against. None when a file names no date."""
    periods = [f.period() for f in source.files]
    if not periods or any(p is None for p in periods):
        return None
    first = max(source.start, min(p[0] for p in periods if p is not None))
    last = min(source.end, max(p[1] for p in periods if p is not None))
    return (first, last) if last > first else None


def _run(
    book: CompiledRulebook,
    events: Iterable[object],
    instruments: Mapping[str, Instrument],
    brackets: Mapping[str, BracketTable],
    config: BacktestConfig,
    on_record: Callable[[object], None] | None,
    on_progress: Callable[[int, int], None] | None,
    journal_path: Path | None,
    mode: str,
    venue: str,
) -> BacktestResult:
    if journal_path is None:
        return run_backtest(book, events, instruments, brackets, config, on_record, on_progress)
    from rulebot.journal.backtest_sink import RunJournal

    try:
        journal = RunJournal(journal_path, book, mode, venue)
    except (RuntimeError, sqlite3.Error) as exc:  # tampered, from a newer release, not a database
        raise BacktestError(f"cannot journal to {journal_path}: {exc}") from exc

    def also(obj: object) -> None:
        journal.record(obj)
        if on_record is not None:
            on_record(obj)

    # ~100k records a 3-month run: without a caller's on_record, straight to the journal (no call between).
    record = journal.record if on_record is None else also

    result: BacktestResult | None = None
    failure = "interrupted"
    try:
        result = run_backtest(book, events, instruments, brackets, config, record, on_progress, journal.end_step)
    except Exception as exc:
        failure = f"{type(exc).__name__}: {exc}"
        raise
    finally:
        # A run that failed still ends its journal, saying why, so that the file verifies.
        if result is not None:
            journal.close(
                {"events": result.events, "end_equity": str(result.end_equity), "fills": len(result.fills)},
                result.end_time,
            )
        else:
            journal.close({"aborted": True, "error": failure})
    return result


def demo(
    rulebook: str,
    *,
    seed: int = 7,
    preset: str = "calm",
    hours: int = 72,
    config: BacktestConfig = BacktestConfig(),
    on_progress: Callable[[int, int], None] | None = None,
    journal_path: Path | None = None,
    brackets_file: str | None = None,
    on_span: Callable[[int, int], None] | None = None,
    adl: bool | None = None,
    on_record: Callable[[object], None] | None = None,
) -> tuple[BacktestResult, CompiledRulebook]:
    """Run a rulebook against the built-in simulated market: no data, no keys, no network.

    `adl`: model auto-deleveraging (None: `config.adl` as given, turned on for the `crash`
    preset, whose cascade is what ADL exists for). `on_record`: as for `backtest`."""
    book = compile_file(rulebook)
    inst, brackets, bracket_note = demo_market(book, brackets_file)
    cfg = _with_symbols_and_duration(make_preset(preset), book, hours)
    events = SimulatedMarket(cfg, seed=seed)
    if on_span is not None and cfg.end is not None:
        on_span(cfg.start_time, cfg.end)
    if adl is None:
        adl = config.adl.enabled or preset == "crash"
    config = replace(config, adl=replace(config.adl, enabled=adl))
    result = _run(
        book, events, inst, brackets, config, on_record, on_progress, journal_path, "demo", f"simulated:{preset}:{seed}"
    )
    result.brackets_source = bracket_note.removeprefix("brackets: ")
    result.rulebook_warnings = rulebook_warnings(book)
    return result, book


def demo_market(
    book: CompiledRulebook, brackets_file: str | None = None
) -> tuple[dict[str, Instrument], dict[str, BracketTable], str]:
    """The instruments and brackets a demo of `book` runs on (and where the brackets came from);
    BacktestError or UserError when the simulated market cannot trade one of its symbols."""
    inst = builtin_instruments(market_of(book))
    brackets, bracket_note = load_brackets(book, brackets_file)
    missing = [s for s in book.symbols if s not in inst]
    if missing:
        raise BacktestError(
            f"the simulated market has no spec for {', '.join(missing)} (it simulates {', '.join(sorted(inst))})",
            hint="backtest the rulebook on Binance's files instead: `rulebot backtest RULEBOOK --data FILES`",
        )
    return inst, brackets, bracket_note


def _with_symbols_and_duration(cfg: SimulatedMarketConfig, book: CompiledRulebook, hours: int) -> SimulatedMarketConfig:
    """The preset's market dynamics, for the rulebook's own symbols and for `hours`."""
    market = market_of(book)
    template = cfg.symbols[0]
    catalog = builtin_instruments(market)
    specs = []
    for symbol in book.symbols:
        inst = catalog[symbol]
        start_price = _START_PRICES.get(inst.base_asset, Decimal(100))
        specs.append(
            replace(
                template,
                symbol=symbol,
                start_price=start_price,
                tick_size=inst.price_filter.tick_size,
                step_size=inst.lot_size.step_size,
                market=market,
                contract_size=inst.contract_size,
                trade_qty_median=Decimal(1) if market is Market.COINM else template.trade_qty_median,
            )
        )
    # A trade a second keeps a week-long demo to seconds; the regimes set the character.
    return replace(cfg, symbols=tuple(specs), duration_ms=hours * 3_600_000, trade_rate=min(cfg.trade_rate, 1.0))


_START_PRICES = {"BTC": Decimal(60000), "ETH": Decimal(3000), "SOL": Decimal(150), "ADA": Decimal("0.5")}
