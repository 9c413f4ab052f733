"""Funding settlement: every open position of the symbol pays or receives `funding_fee`.

`fees.funding_fee` gives the wallet change (FACTS §11, MARGIN.md §5): with a positive rate
longs pay and shorts receive, sized by the notional at the mark price. The ACCOUNT_UPDATE
(reason FUNDING_FEE) carries the margin asset's balance, with `balance_change` = the net
payment, and the isolated positions whose wallets changed (cross positions are not listed,
FACTS §10).
"""

from __future__ import annotations

from decimal import Decimal

from rulebot.core.account_events import AccountUpdate
from rulebot.core.fees import funding_fee
from rulebot.core.instruments import Instrument
from rulebot.exchange_sim.account import Account, money
from rulebot.exchange_sim.updates import Reporter

ZERO = Decimal(0)


def settle_funding(
    account: Account,
    reporter: Reporter,
    inst: Instrument,
    rate: Decimal,
    mark: Decimal,
    time: int,
) -> AccountUpdate | None:
    """Pay the symbol's funding at `rate` and `mark`; None when no position is open."""
    legs = [p for p in account.legs(inst.symbol) if p.qty != 0]
    if not legs:
        return None
    total = ZERO
    for pos in legs:
        amount = money(funding_fee(inst, pos.qty, mark, rate))
        account.apply_funding(inst, pos, amount, time)
        total += amount
    isolated = tuple(legs) if account.is_isolated(inst.symbol) else ()
    return reporter.account_update("FUNDING_FEE", inst.margin_asset, isolated, time, total)
