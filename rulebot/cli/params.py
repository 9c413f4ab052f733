"""Option types shared by the commands: values that are refused before anything runs."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

import click


class StartingBalance(click.ParamType):
    """A starting wallet: a finite amount above zero. Zero, negative, NaN or infinite wallets
    would run and print nonsense (or fail deep inside the engine), so they are usage errors."""

    name = "amount"

    def convert(self, value: object, param: click.Parameter | None, ctx: click.Context | None) -> Decimal:
        if isinstance(value, Decimal):
            amount = value
        else:
            try:
                amount = Decimal(str(value).strip().replace("_", ""))
            except (InvalidOperation, ValueError):
                self.fail(f"{value!r} is not a number (an amount such as 10000 or 0.5)", param, ctx)
        if not amount.is_finite():
            self.fail(f"{value!r} is not a finite amount", param, ctx)
        if amount <= 0:
            self.fail(f"{value!r}: a starting balance must be above zero", param, ctx)
        return amount


BALANCE = StartingBalance()


EXIT_RULE_FAILED = 4  # --strict: a rule's condition failed at run time (README, exit codes)

STRICT = click.option(
    "--strict",
    is_flag=True,
    help=f"Stop at the first rule whose condition fails at run time (exit {EXIT_RULE_FAILED}); "
    "without it the condition counts as false, and the failures are counted in the summary.",
)
