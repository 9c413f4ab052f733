"""Hot reload of a running engine: what carries over, the rule for a vanished state, refusals."""

from __future__ import annotations

from decimal import Decimal

import pytest

from rulebot.core.account_events import OrderUpdate
from rulebot.core.commands import PlaceOrder
from rulebot.core.enums import OrderStatus, PositionSide
from rulebot.core.fees import FeeRates
from rulebot.engine import records as rec
from rulebot.engine.engine import Engine
from rulebot.engine.reload import ReloadRefused, reload_engine
from rulebot.rulebook.compiler import compile_text

from .conftest import T0, holding, trades

BASE = """\
rulebook: r
market: usdm
symbols: [ADAUSDT]
timeframes: [1m]
account: {leverage: 5}
indicators:
  fast: ema(close@1m, 3)
states:
  flat: {position: none}
  holding: {position: long}
rules:
  - name: buy
    on: candle_close 1m
    in: flat
    when: close@1m > 1000000
    do: [{enter: {side: long, size: 10}}, {stop_loss: {distance: 5%}}, {goto: holding}]
  - name: sell
    on: candle_close 1m
    in: holding
    when: close@1m > 1000000
    do: [exit, {goto: flat}]
"""


def running(usdm, text: str = BASE) -> Engine:
    engine = Engine(compile_text(text), usdm[0], {"USDT": Decimal(1000)}, brackets=usdm[1])
    engine.start(T0)
    for t in trades([100 + i for i in range(30)]):
        engine.on_event(t)
    return engine


def test_indicators_are_rewarmed_from_history_and_the_state_carries_over(usdm):
    engine = running(usdm)
    engine.state.runs["ADAUSDT"].state = "holding"
    changed = BASE.replace("ema(close@1m, 3)", "ema(close@1m, 5)")
    result = reload_engine(engine, compile_text(changed))
    new = result.engine
    fresh = Engine(compile_text(changed), usdm[0], {"USDT": Decimal(1000)}, brackets=usdm[1])
    fresh.start(T0)
    for t in trades([100 + i for i in range(30)]):
        fresh.on_event(t)
    assert new.market("ADAUSDT").env["fast"] == fresh.market("ADAUSDT").env["fast"]
    assert "fast" not in new.market("ADAUSDT").not_ready
    assert (
        new.symbol_state("ADAUSDT") == "holding"
        and new.state.portfolio is engine.state.portfolio
        and new.state.oms is engine.state.oms
    )
    assert any(isinstance(r, rec.EngineNotice) and r.kind == "reload" for r in result.step.records)
    # and it keeps running on the next data
    new.on_event(trades([131], start=T0 + 31 * 60_000)[0])
    assert new.time == T0 + 31 * 60_000


def test_a_vanished_state_moves_to_one_that_matches_the_position(usdm):
    engine = running(usdm)
    engine.state.runs["ADAUSDT"].state = "holding"
    engine.on_event(holding("10"))
    renamed = BASE.replace("holding", "in_long")
    result = reload_engine(engine, compile_text(renamed))
    assert result.engine.symbol_state("ADAUSDT") == "in_long"
    change = next(r for r in result.step.records if isinstance(r, rec.StateChange))
    assert change.from_state == "holding" and change.to_state == "in_long" and "no longer exists" in change.why


def test_a_vanished_state_with_no_state_for_the_position_does_not_claim_a_match(usdm):
    """A long position, and the new rulebook binds no state to a long: the journal said "'flat'
    matches the position (long)", a `position: none` state."""
    engine = running(usdm)
    engine.state.runs["ADAUSDT"].state = "holding"
    engine.on_event(holding("10"))
    shorts = BASE.replace("holding: {position: long}", "short: {position: short}")
    shorts = shorts.replace("in: holding", "in: short").replace("goto: holding", "goto: short")
    result = reload_engine(engine, compile_text(shorts.replace("side: long", "side: short")))
    change = next(r for r in result.step.records if isinstance(r, rec.StateChange))
    assert change.to_state == "flat" and "matches" not in change.why
    assert "no state" in change.why and "long" in change.why


def test_a_state_kept_by_name_but_bound_anew_moves_to_the_position_at_once(usdm):
    """`holding` now says `position: none` while the account holds a long: the symbol sat in it
    until the next report; it moves at the reload, journaled, to the state bound to a long."""
    engine = running(usdm)
    engine.state.runs["ADAUSDT"].state = "holding"
    engine.on_event(holding("10"))
    rebound = (
        BASE.replace("holding: {position: long}", "holding: {position: none}\n  in_long: {position: long}")
        .replace("goto: holding", "goto: in_long")
        .replace("in: holding", "in: in_long")
    )
    result = reload_engine(engine, compile_text(rebound))
    assert result.engine.symbol_state("ADAUSDT") == "in_long"
    change = next(r for r in result.step.records if isinstance(r, rec.StateChange))
    assert (change.from_state, change.to_state) == ("holding", "in_long") and "long position" in change.why


def test_a_flat_symbol_in_a_state_bound_anew_to_a_position_falls_back_to_a_flat_state(usdm):
    engine = running(usdm)
    engine.state.runs["ADAUSDT"].state = "flat"
    rebound = BASE.replace("flat: {position: none}", "flat: {position: long}\n  idle: {position: none}")
    rebound = rebound.replace("in: flat", "in: idle").replace("goto: flat", "goto: idle")
    result = reload_engine(engine, compile_text(rebound))
    assert result.engine.symbol_state("ADAUSDT") == "idle"


def test_a_flat_symbol_in_a_vanished_state_goes_to_the_initial_state(usdm):
    engine = running(usdm)
    engine.state.runs["ADAUSDT"].state = "holding"
    result = reload_engine(engine, compile_text(BASE.replace("holding", "in_long")))
    assert result.engine.symbol_state("ADAUSDT") == "flat"


ARMED = BASE.replace(
    "  holding: {position: long}", "  armed: {position: none, timeout: 2h, then: flat}\n  holding: {position: long}"
)


def test_a_renamed_flat_state_keeps_the_symbol_in_it_and_its_timeout_running(usdm):
    """`armed` (waiting for a setup, flat, 2 h at most) is called `primed` now. Before: the symbol
    went to `flat`, the first state with no position: the setup it waited in was lost, and with it
    the timeout the operator counted on."""
    engine = running(usdm, ARMED)
    entered = engine.time - 3_600_000
    assert engine.restore_state("ADAUSDT", "armed", entered)
    result = reload_engine(engine, compile_text(ARMED.replace("armed", "primed")))
    new = result.engine
    assert new.symbol_state("ADAUSDT") == "primed" and new.state.runs["ADAUSDT"].entered_at == entered
    change = next(r for r in result.step.records if isinstance(r, rec.StateChange))
    assert (change.from_state, change.to_state) == ("armed", "primed") and "no longer exists" in change.why
    (trade,) = trades([131], start=entered + 2 * 3_600_000 + 1000)  # the 2 h it entered `armed` with
    moves = [r for r in new.on_event(trade).records if isinstance(r, rec.StateChange)]
    assert [(m.from_state, m.to_state) for m in moves] == [("primed", "flat")]


def test_two_states_gone_and_one_new_is_no_rename_and_the_position_decides(usdm):
    """`armed` and `flat` both gone, `primed` and `idle` new: no telling which is which, so neither
    is taken as a rename, and the flat symbol goes to the initial state."""
    engine = running(usdm, ARMED)
    assert engine.restore_state("ADAUSDT", "armed", engine.time)
    two_gone = ARMED.replace("  armed: {position: none, timeout: 2h, then: flat}", "  primed: {position: none}")
    two_gone = two_gone.replace("flat: {position: none}", "idle: {position: none}").replace("flat", "idle")
    result = reload_engine(engine, compile_text(two_gone))
    assert result.engine.symbol_state("ADAUSDT") == "idle"  # the initial state, as before


def test_dropping_a_symbol_with_a_position_is_refused(usdm):
    engine = running(usdm)
    engine.on_event(holding("10"))
    with pytest.raises(ReloadRefused, match="ADAUSDT"):
        reload_engine(engine, compile_text(BASE.replace("[ADAUSDT]", "[BTCUSDT]")))
    with pytest.raises(ReloadRefused, match="position mode"):
        reload_engine(
            engine, compile_text(BASE.replace("account: {leverage: 5}", "account: {leverage: 5, position_mode: hedge}"))
        )


def test_a_symbol_the_bot_did_not_start_with_is_refused_with_what_to_do(usdm):
    """The runner sets up instruments and market streams for the symbols it starts with. Adding
    BTCUSDT by a reload said "no instrument for BTCUSDT on this venue", as if Binance did not list
    it: the operator needs to hear that a restart adds it."""
    engine = Engine(compile_text(BASE), {"ADAUSDT": usdm[0]["ADAUSDT"]}, {"USDT": Decimal(1000)}, brackets=usdm[1])
    engine.start(T0)
    with pytest.raises(ReloadRefused) as refused:
        reload_engine(engine, compile_text(BASE.replace("[ADAUSDT]", "[ADAUSDT, BTCUSDT]")))
    why = str(refused.value)
    assert "BTCUSDT" in why and "ADAUSDT" in why and "restart" in why and "on this venue" not in why


def test_a_tightened_notional_cap_under_a_larger_position_is_said_not_passed_over(usdm):
    """A reload that sets max_position_notional below what the symbol already holds was taken
    without a word: the position went on, larger than the rulebook now says, and the operator
    was told nothing. It is still taken (the cap is on entries), with a warning that says so."""
    engine = running(usdm)
    engine.on_event(holding("10"))  # 10 ADAUSDT at a mark of 129: 1290 USDT
    capped = BASE.replace("account: {leverage: 5}", "account: {leverage: 5}\nrisk: {max_position_notional: 500}")
    result = reload_engine(engine, compile_text(capped))
    assert len(result.warnings) == 1, result.warnings
    why = result.warnings[0]
    assert "ADAUSDT" in why and "1290" in why and "500" in why and "not reduced" in why
    assert reload_engine(engine, compile_text(BASE.replace("ema(close@1m, 3)", "ema(close@1m, 4)"))).warnings == ()


def test_a_leverage_change_is_sent_and_clamped(usdm):
    engine = running(usdm)
    result = reload_engine(engine, compile_text(BASE.replace("leverage: 5", "leverage: 8")))
    levs = [c for c in result.step.commands if type(c).__name__ == "SetLeverage"]
    assert [c.leverage for c in levs] == [8] and result.engine.leverage("ADAUSDT") == 8


def test_a_tightened_max_leverage_brings_down_a_leverage_a_rule_raised(usdm):
    engine = running(usdm)
    engine.change_leverage("ADAUSDT", 8, "raise", engine.on_event(trades([130])[0]))  # as a rule's set_leverage
    tightened = BASE.replace("account: {leverage: 5}", "account: {leverage: 5}\nrisk: {max_leverage: 6}")
    result = reload_engine(engine, compile_text(tightened))
    levs = [c for c in result.step.commands if type(c).__name__ == "SetLeverage"]
    assert [c.leverage for c in levs] == [6] and result.engine.leverage("ADAUSDT") == 6


def test_a_tightened_max_leverage_under_an_isolated_position_is_refused(usdm):
    engine = running(usdm)
    engine.change_leverage("ADAUSDT", 8, "raise", engine.on_event(trades([130])[0]))
    engine.on_event(holding("10"))
    tightened = BASE.replace("account: {leverage: 5}", "account: {leverage: 5}\nrisk: {max_leverage: 6}")
    with pytest.raises(ReloadRefused, match=r"from 8x to 6x \(its max_leverage\)"):
        reload_engine(engine, compile_text(tightened))


def test_a_reload_keeps_the_accounts_commission_rates(usdm):
    # The daily loss cap counts an entry's fees before it goes out: after a reload it must still
    # count them at the account's own rates, not the default ones.
    vip = FeeRates(Decimal("0.0001"), Decimal("0.0002"))
    engine = Engine(compile_text(BASE), usdm[0], {"USDT": Decimal(1000)}, brackets=usdm[1], fee_rates=vip)
    engine.start(T0)
    result = reload_engine(engine, compile_text(BASE.replace("ema(close@1m, 3)", "ema(close@1m, 5)")))
    assert result.engine.fee_rates == vip


def test_a_crossover_on_the_first_candle_after_a_reload_compares_with_the_candle_before(usdm):
    """Tried as a user reloading a rulebook to add `crossover(close@1m, 128.5)`: the last candle
    before the reload closed at 128, the first after it at 129, and the rule did not fire (the
    reload dropped the previous values, so prev read 129). The candle history the indicators are
    re-warmed from gives them: the new rules see the cross as a bot that ran them all along."""
    engine = running(usdm)
    crossing = BASE.replace(
        "when: close@1m > 1000000\n    do: [{enter", "when: crossover(close@1m, 128.5)\n    do: [{enter"
    )
    new = reload_engine(engine, compile_text(crossing)).engine
    assert new.market("ADAUSDT").env["close@1m"] == 128
    (trade,) = trades([131], start=T0 + 30 * 60_000)
    fired = [r.rule for r in new.on_event(trade).records if isinstance(r, rec.Decision) and r.fired]
    assert fired == ["buy"]


def test_a_symbol_dropped_and_added_back_keeps_its_real_brackets(usdm):
    """BTCUSDT dropped (flat), then added back: it came back with the one-bracket stand-in for a
    symbol the venue gave no brackets for (1% maintenance at any size, no notional limit), not
    Binance's tiers the bot started with (0.4% to 50%, and a cap on the notional per leverage)."""
    two = BASE.replace("[ADAUSDT]", "[ADAUSDT, BTCUSDT]")
    engine = running(usdm, two)
    assert engine.brackets["BTCUSDT"] == usdm[1]["BTCUSDT"]
    dropped = reload_engine(engine, compile_text(BASE)).engine
    back = reload_engine(dropped, compile_text(two)).engine
    assert back.brackets["BTCUSDT"] == usdm[1]["BTCUSDT"]


UNGUARDED = """\
rulebook: r
market: usdm
symbols: [ADAUSDT, BTCUSDT]
account: {leverage: 5}
states:
  flat: {position: none}
  holding: {position: long}
rules:
  - name: buy
    on: trade
    in: flat
    when: price > 50000
    do: [{enter: {side: long, size: "0.01"}}, {goto: holding}]
  - name: sell
    on: trade
    in: holding
    when: price > 1000000
    do: [exit, {goto: flat}]
"""


def _filled_unreported(usdm) -> Engine:
    """BTCUSDT's entry filled (ORDER_TRADE_UPDATE heard), the account update with the position not
    yet: no position, no working order."""
    engine = Engine(compile_text(UNGUARDED), usdm[0], {"USDT": Decimal(10000)}, brackets=usdm[1])
    engine.start(T0)
    step = engine.on_event(trades([60000], start=T0 + 1000, symbol="BTCUSDT")[0])
    (cmd,) = [c for c in step.commands if isinstance(c, PlaceOrder)]
    filled = OrderUpdate(
        "BTCUSDT", cmd.client_order_id, 1, cmd.side, cmd.order_type, OrderStatus.FILLED, "TRADE", cmd.quantity,
        Decimal(0), Decimal(60000), cmd.quantity, cmd.quantity, Decimal(60000), Decimal("0.24"), "USDT", Decimal(0),
        False, False, PositionSide.BOTH, None, None, None, 7, T0 + 2000,
    )  # fmt: skip
    engine.on_event(filled)
    assert engine.position("BTCUSDT").amount == 0 and not engine.open_orders("BTCUSDT")
    return engine


def test_dropping_a_symbol_whose_fill_is_not_yet_in_its_position_is_refused(usdm):
    """Before: the reload dropping BTCUSDT was taken, and the 0.01 BTC the exchange holds was
    nobody's, with no stop (the protective stop waits for the position)."""
    with pytest.raises(ReloadRefused, match="BTCUSDT"):
        reload_engine(_filled_unreported(usdm), compile_text(UNGUARDED.replace("[ADAUSDT, BTCUSDT]", "[ADAUSDT]")))


def test_lowering_the_leverage_under_a_fill_not_yet_in_its_isolated_position_is_refused(usdm):
    """Before: taken (no position yet), then Binance refused the lower leverage of the isolated
    position it holds (-4161): the bot halted and closed it at market."""
    with pytest.raises(ReloadRefused, match=r"from 5x to 3x"):
        reload_engine(_filled_unreported(usdm), compile_text(UNGUARDED.replace("leverage: 5", "leverage: 3")))


def test_a_renamed_state_under_a_fill_not_yet_in_its_position_keeps_the_symbol_in_it(usdm):
    """In `holding` with the entry's fill heard but not yet the position: renamed `in_long`, the
    symbol went to `flat` (the position read 0), to be moved on by the account update to whichever
    state binds a long first, not necessarily the renamed one."""
    engine = _filled_unreported(usdm)
    assert engine.symbol_state("BTCUSDT") == "holding"
    result = reload_engine(engine, compile_text(UNGUARDED.replace("holding", "in_long")))
    assert result.engine.symbol_state("BTCUSDT") == "in_long"


def test_a_guard_loosened_against_the_running_rulebook_is_taken_and_said(usdm):
    """daily_loss_cap 2% → 4% (the engine allows 5%), and a 150 USDT cap and a notional cap dropped:
    each taken without a word before, the operator left to believe the running 2% still held."""
    tight = BASE + 'risk: {daily_loss_cap: "150 USDT", max_position_notional: 500, max_open_orders: 5}\n'
    engine = running(usdm, tight)
    loose = BASE + "risk: {daily_loss_cap: 4%, max_open_orders: 3}\n"
    said = "\n".join(reload_engine(engine, compile_text(loose)).warnings)
    assert "risk.daily_loss_cap loosened from 150 USDT to none" in said, said
    assert "risk.max_position_notional loosened from 500 to none" in said and "max_open_orders" not in said
    two = running(usdm, BASE + "risk: {daily_loss_cap: 2%}\n")
    (why,) = reload_engine(two, compile_text(loose)).warnings
    assert why.startswith("risk.daily_loss_cap loosened from 2% to 4%") and "00:00 UTC" in why


def test_a_crossover_on_the_first_trade_after_a_reload_compares_with_the_trade_before(usdm):
    """`on: trade` with `crossover(price, 128.5)`: the last trade before the reload at 127, the first
    after it at 129. A bot that ran on fires; reloaded (another EMA), it did not: the reload dropped
    every trigger's previous values, and only candle_close ones were taken again."""
    crossing = BASE.replace(
        "on: candle_close 1m\n    in: flat\n    when: close@1m > 1000000",
        "on: trade\n    in: flat\n    when: crossover(price, 128.5)",
    )

    def fired(reload: bool) -> list[str]:
        engine = Engine(compile_text(crossing), usdm[0], {"USDT": Decimal(1000)}, brackets=usdm[1])
        engine.start(T0)
        for t in trades([100 + i for i in range(28)]):  # up to 127
            engine.on_event(t)
        if reload:
            engine = reload_engine(
                engine, compile_text(crossing.replace("ema(close@1m, 3)", "ema(close@1m, 4)"))
            ).engine
        (trade,) = trades([129], start=T0 + 28 * 60_000)
        return [r.rule for r in engine.on_event(trade).records if isinstance(r, rec.Decision) and r.fired]

    assert fired(reload=False) == ["buy"]
    assert fired(reload=True) == ["buy"]
