"""`--fill-model` and its knobs, shared by `backtest`, `demo`, `sweep` and `dry-run` (docs/fill-model.md)."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any, TypeVar

import click

from rulebot.cli.params import PRICE_BPS, Number
from rulebot.exchange_sim.model import DEFAULT_IMPACT_BPS, DEFAULT_PARTICIPATION, FILL_MODELS, FillModel

F = TypeVar("F", bound=Callable[..., Any])

# Backtests that do not flatter (issue 15): a spread, a share of each bar and impact unless asked
# otherwise; `ideal` (any size at the last price) is there to compare with older runs.
DEFAULT_FILL_MODEL = "realistic"


class Share(Number):
    """A fraction above 0 and at most 1 (0.1 = 10 %)."""

    name = "fraction"

    def convert(self, value: object, param: click.Parameter | None, ctx: click.Context | None) -> Decimal:
        share = super().convert(value, param, ctx)
        if not 0 < share <= 1:
            self.fail(f"{value!r}: a share of the bar's volume is above 0 and at most 1 (0.1 = 10%)", param, ctx)
        return share


SHARE = Share()


SLIPPAGE_OPTION = click.option(
    "--slippage-bps",
    type=PRICE_BPS,
    default=Decimal(0),
    show_default=True,
    help="Taker fills this much worse than the quote or trade (basis points).",
)


def fill_model_options(command: F) -> F:
    """The fill model's options, in the order `--help` shows them."""
    options = [
        click.option(
            "--fill-model",
            "fill_model_name",
            type=click.Choice(FILL_MODELS),
            default=DEFAULT_FILL_MODEL,
            show_default=True,
            help="How orders fill (docs/fill-model.md). realistic: a spread on klines (bookTicker when given), at "
            "most --participation of each bar's volume (the rest expires for IOC and market orders, FOK is "
            "refused, GTC limits fill in later bars), and square-root impact. ideal: any size at the quote or "
            "last trade (flatters; for comparing with older runs).",
        ),
        click.option(
            "--participation",
            type=SHARE,
            help=f"realistic: the share of a bar's volume our fills may take.  [default: {DEFAULT_PARTICIPATION}]",
        ),
        click.option(
            "--impact-bps",
            type=PRICE_BPS,
            help="realistic: price impact at 100% participation, in bps; a fill pays this times "
            f"sqrt(participation).  [default: {DEFAULT_IMPACT_BPS}]",
        ),
        click.option(
            "--half-spread-bps",
            type=PRICE_BPS,
            help="realistic: the half-spread assumed on kline and trade data, in bps.  [default: one tick]",
        ),
    ]
    for option in reversed(options):
        command = option(command)
    return command


def make_fill_model(
    name: str,
    slippage_bps: Decimal,
    participation: Decimal | None,
    impact_bps: Decimal | None,
    half_spread_bps: Decimal | None,
) -> FillModel:
    """The model the options chose; a realistic-only knob with `ideal` is a usage error."""
    if name == "ideal":
        given = [
            flag
            for flag, value in (
                ("--participation", participation),
                ("--impact-bps", impact_bps),
                ("--half-spread-bps", half_spread_bps),
            )
            if value is not None
        ]
        if given:
            raise click.UsageError(f"{', '.join(given)} only apply to --fill-model realistic")
        return FillModel(slippage_bps=slippage_bps)
    return FillModel.realistic(
        slippage_bps=slippage_bps,
        participation=DEFAULT_PARTICIPATION if participation is None else participation,
        impact_bps=DEFAULT_IMPACT_BPS if impact_bps is None else impact_bps,
        half_spread_bps=half_spread_bps,
    )


def fill_model_args(model: FillModel) -> list[str]:
    """Command-line arguments that choose `model` again (sweep workers, reproduce lines)."""
    if model.name == "ideal":
        return ["--fill-model", "ideal"]
    args = [
        "--fill-model",
        model.name,
        "--participation",
        str(model.participation),
        "--impact-bps",
        str(model.impact_bps),
    ]
    if model.half_spread_bps is not None:
        args += ["--half-spread-bps", str(model.half_spread_bps)]
    return args
