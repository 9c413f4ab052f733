"""The saved paper account: what it may hold, whatever Python release wrote it."""

from __future__ import annotations

import pickletools
from decimal import Decimal

from rulebot.core.enums import MarginType, Market
from rulebot.exchange_sim import SimExchange
from rulebot.feeds.catalog import builtin_brackets, builtin_instruments
from rulebot.runtime import paper_account


def test_enum_members_are_saved_by_name_not_through_getattr(tmp_path) -> None:
    # Python 3.11.2 pickles an enum member as getattr(cls, name), a global the loader refuses
    # (a restart of a dry-run failed on Debian's python3 and passed on 3.11.7).
    inst = {"BTCUSDT": builtin_instruments(Market.USDM)["BTCUSDT"]}
    brackets = {"BTCUSDT": builtin_brackets(Market.USDM)["BTCUSDT"]}
    sim = SimExchange(
        inst, brackets, market=Market.USDM, balances={"USDT": Decimal(1000)}, default_margin_type=MarginType.ISOLATED
    )
    path = tmp_path / paper_account.PAPER_FILE
    path.parent.chmod(0o700)
    paper_account.save(sim, path)
    globals_used = [arg for op, arg, _ in pickletools.genops(path.read_bytes()) if op.name == "SHORT_BINUNICODE"]
    assert "getattr" not in globals_used and "_member" in globals_used  # by name on every release
    loaded = paper_account.load(path, ["BTCUSDT"])
    assert loaded is not None and loaded.market is Market.USDM
