"""The state machine follows the real position (issue 11, item 1): a refused exit, an exit before
the entry's fill, a stalled user stream, a restart or a fresh journal on an account that holds a
position never let an `in: flat` rule add to it."""

from __future__ import annotations

from decimal import Decimal

from rulebot.core.account_events import AccountUpdate, PositionChange
from rulebot.core.commands import PlaceOrder
from rulebot.core.enums import MarginType, OrderType, PositionSide

from .faulty_paper import FaultyPaper

D = Decimal
BOOK = """\
rulebook: drift
market: usdm
symbols: [BTCUSDT]
account: {leverage: 3}
rules:
  - name: buy
    on: trade
    in: flat
    when: price < 60020
    do: [{enter: {side: long, size: "0.01"}}, {stop_loss: {distance: 5%}}, {goto: long}]
  - name: sell
    on: trade
    in: long
    when: price > 60050
    do: [exit, {goto: flat}]
  - name: note
    on: trade
    in: long
    do: [{log: "holding {position.size}"}]
"""
TIMESTAMP = (-1021, "Timestamp for this request is outside of the recvWindow.")


def market_exit(cmd: PlaceOrder) -> bool:
    return cmd.reduce_only and cmd.order_type is OrderType.MARKET


def refuse_exits(times: int):
    left = [times]

    def refuse(cmd: PlaceOrder):
        if market_exit(cmd) and left[0] > 0:
            left[0] -= 1
            return TIMESTAMP
        return None

    return refuse


def test_an_exit_binance_refuses_twice_leaves_the_state_long_and_is_sent_again():
    fp = FaultyPaper(BOOK)
    fp.start()
    fp.trade(60000)
    assert fp.state == "long" and fp.position == D("0.01")
    fp.refuse = refuse_exits(2)
    fp.trade(60060)  # the exit rule fires; Binance refuses the exit (-1021)
    assert fp.state == "long" and fp.position == D("0.01")
    refused = fp.notices("order-rejected")
    assert refused and "nothing was opened" not in refused[-1] and "position" in refused[-1]
    for _ in range(6):
        fp.trade(60000)  # the entry rule's price: in `flat` it would buy again
        assert fp.max_position == D("0.01")
    assert fp.position == D("0.01") or fp.state == "flat"
    exits = [c for c in fp.placed if market_exit(c)]
    assert len(exits) == 1  # sent again until the exchange took it, then flat
    assert ("long", "flat", "rule sell") in fp.states()
    assert len(fp.sent_ids) == len(set(fp.sent_ids))


def test_an_exit_rule_that_fires_before_the_entrys_fill_does_not_go_flat():
    fp = FaultyPaper(BOOK)
    fp.start()
    fp.stalled = True  # the user stream holds the entry's fill back
    fp.trade(60000)
    assert fp.state == "long" and fp.position == D("0.01")
    fp.trade(60060)  # the exit rule fires: the engine has seen no position yet
    assert fp.state == "long"
    fp.trade(60000)
    fp.trade(60000)
    assert fp.max_position == D("0.01") and len(fp.entries()) == 1
    fp.release()  # the fill arrives: the exit the rule asked for goes out for it
    assert fp.position == 0 and fp.state == "flat"
    assert fp.max_position == D("0.01")


def test_a_stalled_user_stream_and_a_burst_give_one_entry_not_three():
    fp = FaultyPaper(BOOK)
    fp.start()
    fp.stalled = True
    fp.trade(60000)
    fills = [e for e in fp.held if not hasattr(e, "positions")]
    account = [e for e in fp.held if hasattr(e, "positions")]
    fp.held = []
    fp.stalled = False
    fp.report(fills)  # the entry's FILLED arrives, its ACCOUNT_UPDATE not yet
    for _ in range(3):
        fp.trade(60000, dt_ms=4)  # a burst of market data in between
    fp.report(account)
    fp.trade(60000)
    assert len(fp.entries()) == 1 and fp.max_position == D("0.01")
    assert fp.state == "long"


def position(amount: str, time: int) -> AccountUpdate:
    change = PositionChange(
        "BTCUSDT", PositionSide.BOTH, D(amount), D(60000), D(60000), D(0), D(0), MarginType.ISOLATED, D(200)
    )
    return AccountUpdate("RECONCILE", (), (change,), time)


def test_a_reconciliation_stamped_ahead_of_the_exchanges_clock_does_not_vouch_for_a_later_fill():
    """The start's reconciliation is stamped with the REST client's estimate of the exchange's clock,
    which can run ahead of the times the exchange puts on its events (seen in CI: 170 ms). A fill
    that comes after it, stamped earlier, is not yet in the position the reconciliation read: until
    the fill's own account update arrives, the state stays long and `buy` does not buy again."""
    fp = FaultyPaper(BOOK)
    fp.process(fp.engine.on_event(position("0", fp.time + 5_000)))  # read "now", by an estimate 5 s ahead
    fp.start()
    fp.stalled = True
    fp.trade(60000)  # the entry fills at the exchange's time, before the reconciliation's stamp
    fills = [e for e in fp.held if not hasattr(e, "positions")]
    account = [e for e in fp.held if hasattr(e, "positions")]
    fp.held = []
    fp.stalled = False
    fp.report(fills)  # the entry's FILLED arrives, its ACCOUNT_UPDATE not yet
    assert fp.state == "long"
    fp.trade(60000)  # `buy`'s price: in `flat` it would buy again
    fp.report(account)
    fp.trade(60000)
    assert len(fp.entries()) == 1 and fp.max_position == D("0.01")
    assert fp.state == "long" and ("long", "flat", "position closed") not in fp.states()


def test_a_fresh_journal_on_an_account_holding_a_position_adopts_it_and_does_not_add():
    fp = FaultyPaper(BOOK)
    fp.process(fp.engine.on_event(position("0.01", fp.time)))  # what the start's reconciliation reads
    fp.start()
    assert fp.state == "long"
    fp.trade(60000)
    assert not fp.entries()


def test_a_restart_that_comes_back_flat_on_a_held_position_does_not_buy_more():
    fp = FaultyPaper(BOOK)
    assert fp.engine.restore_state("BTCUSDT", "flat", fp.time - 5000)  # the journal's last word
    fp.process(fp.engine.on_event(position("0.01", fp.time)))
    fp.start()
    fp.trade(60000)
    assert fp.state == "long" and not fp.entries()


def test_a_restart_in_long_without_a_position_falls_back_to_flat_at_start():
    fp = FaultyPaper(BOOK)
    assert fp.engine.restore_state("BTCUSDT", "long", fp.time - 5000)
    fp.process(fp.engine.on_event(position("0", fp.time)))
    fp.start()
    assert fp.state == "flat"
    fp.trade(60000)
    assert len(fp.entries()) == 1


ADDING = """\
rulebook: adding
market: usdm
symbols: [BTCUSDT]
account: {leverage: 3}
rules:
  - name: buy
    on: trade
    in: flat
    do: [{enter: {side: long, size: "0.01"}}, {stop_loss: {distance: 5%}}, {goto: long}]
  - name: add
    on: trade
    in: long
    when: position.size < 0.12
    do: [{enter: {side: long, size: "0.01"}}, {stop_loss: {distance: 5%}}]
  - name: out
    on: trade
    in: long
    when: price > 70000
    do: [exit, {goto: flat}]
"""


def test_stops_do_not_pile_up_to_the_exchanges_limit_when_a_position_is_added_to():
    fp = FaultyPaper(ADDING)
    fp.start()
    for _ in range(14):
        fp.trade(60000)
    assert fp.position == D("0.12")
    stops = fp.sim.open_algo_orders("BTCUSDT")
    # one stop-loss, and one daily-loss-cap stop (re-priced, not added, as the position grows)
    assert sorted(fp.engine.order(a.client_algo_id).purpose for a in stops) == ["daily_cap", "stop_loss"]
    assert not [m for m in fp.notices("order-rejected") if "-4045" in m]


def test_a_refused_flatten_after_a_halt_is_sent_again_until_the_position_is_closed():
    fp = FaultyPaper(BOOK.replace("do: [exit, {goto: flat}]", 'do: [{halt: "stop now"}]'))
    fp.start()
    fp.trade(60000)
    fp.refuse = refuse_exits(1)
    fp.trade(60060)
    assert fp.position == D("0.01") and fp.engine.halted
    fp.trade(60040)  # the halt rule does not fire again: only the engine can send the flatten again
    fp.trade(60040)
    assert fp.position == 0 and fp.state == "flat"


def test_a_goto_flat_with_nothing_closing_the_position_keeps_the_state_and_says_why():
    fp = FaultyPaper(BOOK.replace("do: [exit, {goto: flat}]", "do: [{goto: flat}]"))
    fp.start()
    fp.trade(60000)
    fp.trade(60060)
    assert fp.state == "long" and fp.position == D("0.01")
    (kept,) = fp.notices("state-kept")
    assert "no exit is working" in kept
    fp.trade(60000)
    assert len(fp.entries()) == 1
