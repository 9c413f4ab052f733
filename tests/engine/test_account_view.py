"""AccountValues keeps the floats of what moves only with an account update (legs, wallet, the day's
start) with the Decimals they came from: one object asked after every change must fill the env
exactly as the straightforward computation at that moment does, float for float."""

from __future__ import annotations

import math
from decimal import Decimal as D
from types import SimpleNamespace
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from rulebot.core.enums import MarginType, PositionSide
from rulebot.core.margin import Bracket, BracketTable, Position, UnderMaintenanceError, float_pnl_and_notional
from rulebot.core.margin import liquidation_price as exact_liq
from rulebot.engine.account_view import AccountValues
from rulebot.engine.env import POSITION_NAMES, Env
from rulebot.engine.portfolio import ZERO, DayStats, Portfolio, PositionState
from tests.core.test_instruments import make, make_inverse

LINEAR, INVERSE = make(), make_inverse()
INSTRUMENTS = {"LIN": LINEAR, "INV": INVERSE}
_SIDES = (PositionSide.BOTH, PositionSide.LONG, PositionSide.SHORT)
# One bracket at 0.4 %, the other from a notional of 50,000 at 0.5 % (cum 50; in coin for INV: from 1)
BRACKETS = {
    "LIN": BracketTable(
        "LIN",
        (Bracket(1, 125, D(0), D(50_000), D("0.004"), D(0)), Bracket(2, 100, D(50_000), D(10**12), D("0.005"), D(50))),
    ),
    "INV": BracketTable(
        "INV",
        (Bracket(1, 125, D(0), D(1), D("0.004"), D(0)), Bracket(2, 100, D(1), D(10**12), D("0.005"), D("0.001"))),
    ),
}

amounts = st.decimals(min_value=D("-50"), max_value=D("50"), places=3, allow_nan=False, allow_infinity=False)
prices = st.decimals(min_value=D("0.1"), max_value=D("90000"), places=2, allow_nan=False, allow_infinity=False)
moments = st.lists(
    st.tuples(
        st.lists(
            st.tuples(st.sampled_from(["LIN", "INV"]), st.sampled_from(_SIDES), amounts, prices),
            max_size=4,
            unique_by=lambda t: t[:2],
        ),
        st.dictionaries(st.sampled_from(["LIN", "INV"]), prices),
        st.sampled_from([D("10000"), D("10000.00000000"), D("0"), D("-3.5")]),
        st.sampled_from([None, D("9000"), D("12000.5")]),
        st.integers(min_value=1, max_value=125),
    ),
    min_size=1,
    max_size=6,
)


def reference(symbol: str, pf: Portfolio, runs: dict[str, Any]) -> dict[str, Any]:
    """The values as computed from scratch, every Decimal converted where it is read."""
    inst = INSTRUMENTS[symbol]
    asset = inst.margin_asset
    pos = pf.net_position(symbol)
    mark_d = pf.marks.get(symbol)
    equity = float(pf.wallet.get(asset, ZERO))
    available = equity
    this_upnl = 0.0
    for (s, _), p in pf.positions.items():
        m = pf.marks.get(s)
        if p.amount == 0 or INSTRUMENTS[s].margin_asset != asset:
            continue
        # isolated (the default): each position locks its initial margin at entry (no wallet reported)
        available -= float(abs(INSTRUMENTS[s].notional(p.size, p.entry_price)) / runs[s].leverage)
        if m is None:
            continue
        pnl, notional = float_pnl_and_notional(INSTRUMENTS[s], float(p.amount), float(p.entry_price), float(m))
        equity += pnl
        if s == symbol and p is pos:
            this_upnl = pnl
    out: dict[str, Any] = {"position.side": pos.side, "position.size": float(pos.size)}
    if pos.amount and mark_d is not None:
        e, lev = float(pos.entry_price), runs[symbol].leverage
        _, notional = float_pnl_and_notional(inst, float(pos.amount), e, float(mark_d))
        margin = notional / lev
        wallet = abs(inst.notional(pos.size, pos.entry_price)) / lev
        legs = [Position(pos.amount, pos.entry_price, pos.position_side)]
        try:
            exact = exact_liq(inst, BRACKETS[symbol], legs, wallet, margin_type=MarginType.ISOLATED, mark_price=mark_d)
            liq = (0.0 if pos.amount > 0 else math.inf) if exact is None else float(exact)
        except UnderMaintenanceError:
            liq = float(mark_d)
        out.update(entry_price=e, upnl=this_upnl, margin=margin, roe=this_upnl / margin if margin else 0.0)
        out.update(leverage=notional / equity if equity > 0 else 0.0, liq_price=liq)
    else:
        out.update(entry_price=math.nan, liq_price=math.nan, upnl=0.0, margin=0.0, roe=0.0, leverage=0.0)
    start = pf.today.start_equity.get(asset) if pf.today is not None else None
    out.update(equity=equity, available=available, daily_pnl=equity - float(start) if start is not None else 0.0)
    return out


def same(a: Any, b: Any) -> bool:
    return a == b or (isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b))


@given(moments=moments)
def test_values_kept_across_updates_are_those_computed_afresh(moments: list[Any]) -> None:
    pf = Portfolio(INSTRUMENTS, {})
    runs = {s: SimpleNamespace(leverage=10) for s in INSTRUMENTS}
    kept = {s: AccountValues(s, pf, INSTRUMENTS, runs, BRACKETS) for s in INSTRUMENTS}  # type: ignore[arg-type]
    for legs, marks, wallet, start, leverage in moments:
        # As the venue's account update does it: the same PositionState, new Decimals (equal or not).
        for pos in pf.positions.values():
            pos.amount = pos.amount + 0
        for symbol, side, amount, entry in legs:
            pos = pf.positions.setdefault((symbol, side), PositionState(symbol, side))
            if side is not PositionSide.BOTH:  # a hedge leg's amount has its side's sign
                amount = abs(amount) if side is PositionSide.LONG else -abs(amount)
            pos.amount, pos.entry_price = amount, entry
        pf.marks.update(marks)
        pf.wallet = {LINEAR.margin_asset: wallet, INVERSE.margin_asset: wallet + 1}
        pf.today = None if start is None else DayStats(0, {LINEAR.margin_asset: start, INVERSE.margin_asset: start})
        runs["LIN"].leverage = leverage
        for symbol, values in kept.items():
            want = reference(symbol, pf, runs)
            # The position's values alone (what a read of `upnl` fills), before or after all of them.
            alone = Env()
            if leverage % 2:
                values.position(alone)
            env = Env()
            values(env)
            if not leverage % 2:
                values.position(alone)
            assert env.keys() == want.keys()
            assert all(same(env[k], want[k]) for k in want), (symbol, dict(env), want)
            assert alone.keys() == POSITION_NAMES and alone.filled
            assert all(same(alone[k], want[k]) for k in alone), (symbol, dict(alone), want)


def test_a_read_fills_the_position_values_alone_or_all_of_them() -> None:
    """`upnl` fills the position's values (no sum over the account), `equity` all of them; a value
    the first read did not fill is filled by its own read, and forgetting drops them all."""
    pf = Portfolio(INSTRUMENTS, {})
    pf.wallet = {LINEAR.margin_asset: D("1000")}
    pos = pf.positions.setdefault(("LIN", PositionSide.BOTH), PositionState("LIN", PositionSide.BOTH))
    pos.amount, pos.entry_price = D("2"), D("100")
    pf.marks["LIN"] = D("103")
    runs = {s: SimpleNamespace(leverage=10) for s in INSTRUMENTS}
    values = AccountValues("LIN", pf, INSTRUMENTS, runs, BRACKETS)  # type: ignore[arg-type]
    env = Env()
    env.resolve, env.resolve_position = values, values.position
    want = reference("LIN", pf, runs)
    assert env["upnl"] == want["upnl"] == 6.0
    assert env.keys() == POSITION_NAMES and env.filled
    assert env["leverage"] == want["leverage"] and env["equity"] == want["equity"] == 1006.0
    assert env.keys() == want.keys()
    env.forget_account()
    assert not env and not env.filled


def _liq_shown(symbol: str, amount: str, entry: str, lev: int) -> float:
    pf = Portfolio(INSTRUMENTS, {})
    pf.wallet = {LINEAR.margin_asset: D("1000"), INVERSE.margin_asset: D("1")}
    pos = pf.positions.setdefault((symbol, PositionSide.BOTH), PositionState(symbol, PositionSide.BOTH))
    pos.amount, pos.entry_price = D(amount), D(entry)
    pf.marks[symbol] = D(entry)
    runs = {s: SimpleNamespace(leverage=lev) for s in INSTRUMENTS}
    env = Env()
    AccountValues(symbol, pf, INSTRUMENTS, runs, BRACKETS)(env)  # type: ignore[arg-type]
    return float(env["liq_price"])


def test_a_coinm_positions_liq_price_is_the_inverse_contracts_own():
    # An inverse position's liquidation price is not the linear one: a 2x COIN-M long is
    # liquidated about 33% down, not 50% (MARGIN.md §4, one-way isolated, its wallet the initial
    # margin). `liq_price` gave the linear figure, so `when: price < liq_price * 1.05` never fired
    # before the liquidation. MARGIN.md's E8 (10x long at 50,000, MMR 0.4%): 45,636.36.
    from rulebot.core.enums import MarginType
    from rulebot.core.margin import Bracket, BracketTable, Position, liquidation_price

    table = BracketTable("BTCUSD_PERP", (Bracket(1, 125, D(0), D(10**6), D("0.004"), D(0)),))
    assert abs(_liq_shown("INV", "100", "50000", 10) - 45636.3636) < 0.01
    for amount, lev in (("100", 2), ("-100", 2), ("100", 10), ("-40", 5), ("7", 3)):
        wallet = abs(INVERSE.notional(D(amount), D(50000))) / lev  # the initial margin
        want = liquidation_price(
            INVERSE, table, [Position(D(amount), D(50000))], wallet, margin_type=MarginType.ISOLATED
        )
        assert want is not None
        assert abs(_liq_shown("INV", amount, "50000", lev) - float(want)) < 1e-6 * float(want), (amount, lev)
    # A 1x inverse short is backed by its whole notional in coin: no price liquidates it.
    assert _liq_shown("INV", "-100", "50000", 1) == math.inf
    # The linear estimate is unchanged: 10x long at 100, MMR 0.4%.
    assert _liq_shown("LIN", "2", "100", 10) == 100 * (1 - 1 / 10) / (1 - 0.004)
