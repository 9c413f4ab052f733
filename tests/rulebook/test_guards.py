"""Guards: the engine's defaults, tightening, and clamping of looser values."""

from __future__ import annotations

from decimal import Decimal

import pytest

from rulebot.rulebook.guards import MAX_LEVERAGE, RiskValueError, merge_risk, parse_percent
from rulebot.rulebook.model import Risk


def merged(account_leverage: int = 3, margin_asset: str = "USDT", **risk):
    warnings: list[tuple[str, str]] = []
    eff = merge_risk(Risk(**risk), account_leverage, margin_asset, lambda k, m, h: warnings.append((k, m)))
    return eff, warnings


def test_defaults_apply_when_the_rulebook_says_nothing():
    eff, warnings = merged()
    assert warnings == []
    assert eff.max_leverage == MAX_LEVERAGE == 10
    assert eff.daily_loss_cap_fraction == Decimal("0.05")
    assert eff.stale_after_ms == 5000
    assert eff.setting("daily_loss_cap").source == "engine"
    assert eff.setting("kill_switch").shown == "on"


def test_tighter_values_replace_defaults_and_say_so():
    eff, warnings = merged(max_leverage=5, daily_loss_cap="3%", stale_after="2s", min_liquidation_distance="15%")
    assert warnings == []
    assert (eff.max_leverage, eff.daily_loss_cap_fraction, eff.stale_after_ms) == (5, Decimal("0.03"), 2000)
    assert eff.min_liquidation_distance == Decimal("0.15")
    assert eff.setting("max_leverage").source == "rulebook"


@pytest.mark.parametrize(
    ("key", "value", "attr", "clamped_to"),
    [
        ("max_leverage", 25, "max_leverage", 10),
        ("daily_loss_cap", "20%", "daily_loss_cap_fraction", Decimal("0.05")),
        ("stale_after", "1h", "stale_after_ms", 5000),
        ("min_liquidation_distance", "1%", "min_liquidation_distance", Decimal("0.05")),
        ("max_orders_per_minute", 5000, "max_orders_per_minute", 120),
        ("volatility_breaker", 50, "volatility_breaker", Decimal(3)),
        ("funding_guard_window", "1m", "funding_guard_window_ms", 900_000),
    ],
)
def test_looser_values_are_clamped_with_a_warning_naming_the_guard(key, value, attr, clamped_to):
    eff, warnings = merged(**{key: value})
    assert getattr(eff, attr) == clamped_to
    assert eff.setting(key).source == "clamped"
    ((wkey, message),) = warnings
    assert wkey == key and f"({key} guard)" in message


def test_account_leverage_above_the_cap_warns():
    eff, warnings = merged(account_leverage=20, max_leverage=4)
    assert eff.max_leverage == 4
    assert warnings and warnings[0][0] == "account.leverage" and "clamped to 4x" in warnings[0][1]


def test_daily_loss_cap_as_an_amount_in_the_margin_asset():
    eff, _ = merged(daily_loss_cap="150 USDT")
    assert eff.daily_loss_cap_amount == Decimal(150)
    assert eff.daily_loss_cap_fraction == Decimal("0.05")  # the default still applies too
    with pytest.raises(RiskValueError, match="margin asset is BTC"):
        merged(margin_asset="BTC", daily_loss_cap="150 USDT")


def test_a_cap_in_the_wrong_asset_is_not_offered_the_same_number_in_the_right_one():
    """ "150 USDT" on a BTC-margined market was told to write "150 BTC": the number would mean
    something else entirely."""
    with pytest.raises(RiskValueError) as info:
        merged(margin_asset="BTC", daily_loss_cap="150 USDT")
    assert info.value.hint == "write an amount in BTC, the margin asset, or a percentage of equity such as 3%"


@pytest.mark.parametrize(
    ("text", "value"), [("3%", Decimal("0.03")), ("0.5%", Decimal("0.005")), (0.02, Decimal("0.02"))]
)
def test_parse_percent(text, value):
    assert parse_percent(text, "x") == value


@pytest.mark.parametrize("text", [3, "3", "abc%", -0.1])
def test_ambiguous_or_malformed_percentages_are_refused(text):
    with pytest.raises(RiskValueError):
        parse_percent(text, "x")


def test_nothing_switches_a_guard_off():
    # The model has no field that disables a guard; unknown keys such as `enabled: false`
    # are schema errors (see test_compiler), and zero is refused rather than read as "off".
    with pytest.raises(RiskValueError, match="above zero"):
        merged(stale_after="0s")
    for field in Risk.model_fields:
        assert "enable" not in field and "disable" not in field


def test_volatility_reduce_is_off_unless_a_rulebook_sets_it():
    from rulebot.rulebook.compiler import compile_text

    head = "rulebook: t\nmarket: usdm\nsymbols: [BTCUSDT]\nrules:\n  - {name: r, on: start, do: [{log: hi}]}\n"
    assert compile_text(head).risk.setting("volatility_reduce").shown == "off"
    book = compile_text(head + "risk: {volatility_reduce: 25%}\n")
    assert book.risk.volatility_reduce == Decimal("0.25")
    assert book.risk.setting("volatility_reduce").source == "rulebook"


@pytest.mark.parametrize(
    ("key", "value", "said"),
    [
        ("funding_guard_window", "5m", "5m is looser than the engine allows; clamped to 15m"),
        ("stale_after", "1h", "1h"),
    ],
)
def test_a_clamped_duration_is_said_as_a_rulebook_writes_it(key, value, said):
    # "300s is looser …; clamped to 900s" made the author convert what they had written as 5m.
    _, ((_, message),) = merged(**{key: value})
    assert said in message
