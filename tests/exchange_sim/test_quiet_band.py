"""The margin-ratio band of the fast path (exchange_sim/quiet.py): every price inside it is one
where the guard's float check (`isolated_ratio_clearly_below`) is clear, and it is not needlessly
narrow (its ends sit where the ratio nearly reaches the limit, or at the bracket's edge)."""

from __future__ import annotations

from decimal import Decimal as D

from hypothesis import given, settings
from hypothesis import strategies as st

from rulebot.core.enums import Market
from rulebot.core.margin import FloatBrackets, isolated_ratio_clearly_below
from rulebot.exchange_sim.quiet import ratio_band, table_floats
from rulebot.feeds.catalog import builtin_brackets, builtin_instruments

INST = builtin_instruments(Market.USDM)["BTCUSDT"]
TABLE = builtin_brackets(Market.USDM)["BTCUSDT"]
FLOATS = FloatBrackets(TABLE)
TIERS = [b.notional_cap for b in TABLE.brackets]


@settings(max_examples=300, deadline=None)
@given(
    qty=st.sampled_from(["0.001", "0.05", "1", "20", "150"]).map(D),
    short=st.booleans(),
    leverage=st.sampled_from([1, 2, 5, 20, 75, 125]),
    move=st.floats(-0.2, 0.2),
    limit=st.sampled_from([0.2, 0.5, 0.8]),
    inside=st.lists(st.floats(0, 1), min_size=1, max_size=8),
)
def test_every_price_inside_the_band_is_clear_of_the_limit(
    qty: D, short: bool, leverage: int, move: float, limit: float, inside: list[float]
) -> None:
    entry = D(60_000)
    amount = -qty if short else qty
    wallet = qty * entry / leverage
    now = (entry * D(1 + move)).quantize(D("0.1"))
    band = ratio_band(INST, FLOATS, TIERS, amount, entry, wallet, limit, now, (None, None))
    if band is None:
        assert not isolated_ratio_clearly_below(INST, FLOATS, amount, entry, wallet, now, limit * 0.999)
        return
    lo, hi = band
    assert lo is not None and hi is not None and lo < now < hi
    for share in inside:
        for price in (lo + (now - lo) * D(share), now + (hi - now) * D(share)):
            if lo < price < hi:
                assert isolated_ratio_clearly_below(INST, FLOATS, amount, entry, wallet, price, limit)
    # Not needlessly narrow: just outside a bound the ratio is (nearly) at the limit, or a
    # bracket edge or the far default ends the band there.
    for end, out in ((lo, lo * D("0.999999")), (hi, hi * D("1.000001"))):
        edge = any(abs(float(end) * float(abs(amount)) - float(t)) <= float(t) * 1e-6 for t in TIERS)
        far = end < now * D("0.00001") or end > now * D(100_000)
        assert edge or far or not isolated_ratio_clearly_below(INST, FLOATS, amount, entry, wallet, out, limit * 0.99)


@settings(max_examples=200, deadline=None)
@given(
    symbol=st.sampled_from(sorted(builtin_brackets(Market.USDM))),
    notional=st.floats(0, 1e9, allow_nan=False),
)
def test_cached_table_floats_are_the_tables_own(symbol: str, notional: float) -> None:
    """The fast path's engine band reads the cached floats and tiers (table_floats) where it built
    them per band: the same maintenance at every notional, the same tiers, the same band."""
    table = builtin_brackets(Market.USDM)[symbol]
    floats, tiers = table_floats(table)
    assert table_floats(table)[0] is floats  # built once per table
    assert tiers == tuple(b.notional_cap for b in table.brackets)
    assert floats.maintenance(notional) == FloatBrackets(table).maintenance(notional)
    entry, qty = D(60_000), D("0.5")
    fresh = ratio_band(INST, FLOATS, TIERS, qty, entry, entry * qty / 5, 0.8, D("59000.1"), (None, None))
    assert ratio_band(INST, *table_floats(TABLE), qty, entry, entry * qty / 5, 0.8, D("59000.1"), (None, None)) == fresh
