"""The `market:`, `symbols:` and `timeframes:` sections: symbols that exist on the rulebook's market
(and in a catalog, when the caller passes one), one margin asset, Binance's kline intervals.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from typing import Any

from rulebot.rulebook import model as m
from rulebot.rulebook.context import CompileContext
from rulebot.rulebook.diagnose import did_you_mean


def check_symbols(book: m.Rulebook, ctx: CompileContext) -> str:
    assets: set[str] = set()
    for i, sym in enumerate(book.symbols):
        if book.market == "coinm":
            if not re.fullmatch(r"[A-Z0-9]+USD_(PERP|\d{6})", sym):
                ctx.error(
                    f"'{sym}' is not a COIN-M symbol",
                    ("symbols", i),
                    "COIN-M symbols look like BTCUSD_PERP or BTCUSD_251226 (market: coinm)",
                    "symbol",
                )
            else:
                assets.add(sym.split("USD_")[0])
        else:
            quote = next((q for q in ("USDT", "USDC") if sym.endswith(q) and len(sym) > len(q)), None)
            if quote is None or ("_" in sym and not re.fullmatch(r"[A-Z0-9]+USDT_\d{6}", sym)):
                hint = "USDT-M symbols look like BTCUSDT (market: usdm)"
                if sym.endswith("_PERP"):
                    hint = f"{sym} is a COIN-M symbol: set market: coinm, or use {sym.split('USD_')[0]}USDT"
                ctx.error(f"'{sym}' is not a USDT-M symbol", ("symbols", i), hint, "symbol")
            else:
                assets.add(quote)
        if sym in book.symbols[:i]:
            ctx.error(f"symbol '{sym}' is listed twice", ("symbols", i), None, "symbol")
    if book.market == "usdm":
        if len(assets) > 1:
            ctx.error(
                "USDT-M and USDC-M symbols mixed in one rulebook",
                ("symbols",),
                "each rulebook trades against one margin asset",
                "symbol",
            )
        return next(iter(assets), "USDT")
    # COIN-M margins each symbol in its own coin; amounts in risk must then be per-coin.
    return next(iter(assets)) if len(assets) == 1 else "COIN"


def check_known_symbols(
    book: m.Rulebook, known: tuple[Collection[str], str], ctx: CompileContext, flagged: set[Any]
) -> None:
    names, where = known
    listed = sorted(names)
    for i, sym in enumerate(book.symbols):
        if sym not in names and ctx.source.span(("symbols", i)) not in flagged:
            guess = did_you_mean(sym, listed)
            # A dozen names are a hint; the first dozen of hundreds (1000BONKUSDC...) are noise.
            shown = ", ".join(listed) if len(listed) <= 12 else f"{len(listed)} symbols"
            ctx.error(
                f"unknown {book.market} symbol '{sym}' ({where})",
                ("symbols", i),
                ((guess + " ") if guess else "") + f"(known: {shown})",
                "unknown-symbol",
            )


def compile_timeframes(book: m.Rulebook, ctx: CompileContext) -> list[str]:
    out: list[str] = []
    for i, tf in enumerate(book.timeframes):
        if tf not in m.TIMEFRAMES:
            h = did_you_mean(tf, m.TIMEFRAMES)
            ctx.error(
                f"'{tf}' is not a Binance kline interval",
                ("timeframes", i),
                ((h + " ") if h else "") + f"(intervals: {', '.join(m.TIMEFRAMES)})",
                "timeframe",
            )
        elif tf in out:
            ctx.warn(f"timeframe '{tf}' is listed twice", ("timeframes", i), None, "timeframe")
        else:
            out.append(tf)
    return out
