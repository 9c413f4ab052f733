"""Account settings commands: leverage, margin type, position mode (FACTS §5, §8).

Each function raises the reject Binance would send or changes the setting.
"""

from __future__ import annotations

from rulebot.core.commands import SetLeverage, SetMarginType, SetPositionMode
from rulebot.core.enums import MarginType
from rulebot.core.margin import BracketTable
from rulebot.exchange_sim.account import Account
from rulebot.exchange_sim.book import OrderStore
from rulebot.exchange_sim.errors import rejected
from rulebot.exchange_sim.exposure import Exposure


def set_leverage(
    cmd: SetLeverage,
    account: Account,
    exposure: Exposure,
    table: BracketTable,
    asset: str,
) -> None:
    """-4028 outside 1..bracket-1 maximum; -4161 lowering an isolated symbol's leverage with a
    position open; -2027 when the position no longer fits the new leverage's notional cap;
    -2028 when lowering a cross symbol's leverage leaves the available balance negative."""
    top = table.brackets[0].initial_leverage
    if not 1 <= cmd.leverage <= top:
        raise rejected(-4028, cmd.leverage)
    old = account.leverage[cmd.symbol]
    legs = [p for p in account.legs(cmd.symbol) if p.qty != 0]
    if legs and account.is_isolated(cmd.symbol) and cmd.leverage < old:
        raise rejected(-4161)
    if any(abs(exposure.notional(p)) > table.max_notional(cmd.leverage) for p in legs):
        raise rejected(-2027)
    account.leverage[cmd.symbol] = cmd.leverage
    if cmd.leverage < old and exposure.available(asset) < 0:
        account.leverage[cmd.symbol] = old
        raise rejected(-2028)


def set_margin_type(cmd: SetMarginType, account: Account, store: OrderStore) -> None:
    """-4046 unchanged; -4047 with open orders (algo included); -4048 with a position."""
    if account.margin_type[cmd.symbol] is MarginType(cmd.margin_type):
        raise rejected(-4046)
    if store.open_orders(cmd.symbol) or store.open_algos(cmd.symbol):
        raise rejected(-4047)
    if any(p.qty != 0 for p in account.legs(cmd.symbol)):
        raise rejected(-4048)
    account.margin_type[cmd.symbol] = MarginType(cmd.margin_type)


def set_position_mode(cmd: SetPositionMode, account: Account, store: OrderStore) -> None:
    """-4059 unchanged; -4067 with any open order; -4068 with any position (account-wide)."""
    if cmd.hedge == account.hedge_mode:
        raise rejected(-4059)
    if store.open_orders() or store.open_algos():
        raise rejected(-4067)
    if account.open_positions():
        raise rejected(-4068)
    account.hedge_mode = cmd.hedge
