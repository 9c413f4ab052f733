"""A stop-loss or take-profit whose trigger the price has already passed closes the position.

Binance refuses a stop that would trigger at once (-2021, "Order would immediately trigger"). The
engine recorded the refusal and left the position with only the protective stop, 5% away: the bot
held a position its rulebook said to be out of. Now the position is closed at market, once.
"""

from __future__ import annotations

from decimal import Decimal

from rulebot.core.commands import CancelOrder, PlaceOrder
from rulebot.core.enums import OrderType, PositionSide, Side
from rulebot.engine import records as rec

from .faulty_paper import FaultyPaper

D = Decimal


def book(action: str = 'stop_loss: {price: "entry_price * 0.999"}', mode: str = "one_way") -> str:
    return f"""\
rulebook: passed-stop
market: usdm
symbols: [BTCUSDT]
account: {{leverage: 3, position_mode: {mode}}}
states:
  flat: {{position: none}}
  long: {{position: long}}
rules:
  - name: buy
    on: trade
    in: flat
    when: price > 59990 and price < 60020
    do: [{{enter: {{side: long, size: "0.01"}}}}, {{{action}}}, {{goto: long}}]
"""


def position_size(fp: FaultyPaper) -> Decimal:
    return sum((abs(p.amount) for p in fp.sim.positions(fp.symbol)), D(0))


def late_fill(fp: FaultyPaper, *prices: float) -> None:
    """The entry fills at 60,000 but its reports arrive after the trades at `prices`."""
    fp.stalled = True
    fp.trade(60000)
    for p in prices:
        fp.trade(p)
    fp.release()


def closes(fp: FaultyPaper) -> list[D]:
    return [c.quantity for c in fp.placed if c.reduce_only and c.order_type is OrderType.MARKET and c.quantity]


def test_a_stop_loss_already_passed_when_placed_closes_the_position_at_market():
    fp = FaultyPaper(book())
    fp.start()
    late_fill(fp, 59400)  # 1% down: the stop at 59,940 is above the price, -2021
    assert any("-2021" in n for n in fp.notices("order-rejected"))
    assert position_size(fp) == 0, [(o.order_type, o.trigger_price) for o in fp.sim.open_algo_orders(fp.symbol)]
    assert closes(fp) == [D("0.01")]
    assert fp.state == "flat"
    assert fp.sim.open_algo_orders(fp.symbol) == []  # no protective stop left behind


def test_the_journal_says_which_stop_had_passed_and_where_the_price_was():
    fp = FaultyPaper(book('stop_loss: {price: "entry_price * 0.999", working_type: contract_price}'))
    fp.start()
    late_fill(fp, 59400)
    (notice,) = fp.notices("order-rejected")
    assert "its trigger price was already passed: the position is closed at market" in notice
    reasons = [v.reason for r in fp.records if isinstance(r, rec.GuardRecord) and r.rule == "buy" for v in r.verdicts]
    assert "stop-loss 59940.00 had already passed (last 59400): closed at market" in reasons


def test_a_take_profit_already_passed_when_placed_takes_the_profit_at_market():
    fp = FaultyPaper(book('take_profit: {price: "entry_price * 1.001"}'))
    fp.start()
    late_fill(fp, 60600)  # 1% up: the take-profit at 60,060 is below the price, -2021
    assert position_size(fp) == 0 and fp.state == "flat"
    assert closes(fp) == [D("0.01")]
    assert fp.sim.open_algo_orders(fp.symbol) == []


def test_a_stop_loss_refused_for_another_reason_is_left_to_the_protective_stop():
    """Only a trigger already passed closes the position: a stop refused otherwise (here the limit
    on stop orders, -4045) says nothing about the price, and the protective stop takes over."""
    fp = FaultyPaper(book('stop_loss: {price: "entry_price * 0.99"}'))
    fp.refuse = lambda cmd: (-4045, "Reach max stop order limit.") if cmd.tag is None and cmd.is_conditional else None
    fp.start()
    fp.trade(60000)
    fp.trade(59990, dt_ms=20_000)  # past the guard's countdown
    assert position_size(fp) == D("0.01") and closes(fp) == []
    assert [o.tag for o in fp.placed if o.is_conditional and o.tag != "daily_loss_cap"] == ["protective"]
    # Its verdict counts from the refusal, and says so (it read "10s after it opened").
    (notice,) = fp.notices("order-rejected")
    refused = notice.split(" order ")[1].split(" ")[0]  # "stop_loss order t-2 rejected by the exchange (-4045: ..."
    (guard,) = [r for r in fp.records if getattr(r, "rule", None) == "protective_stop"]
    why = guard.verdicts[0].reason
    assert f"no stop on the exchange 10s after its stop {refused} was refused (-4045): placed" in why, why


def test_a_stop_refused_again_while_the_close_works_sends_no_second_close():
    """A rule asks for the stop again on every trade; each is refused while the close's reports are
    held back (the engine still sees the position, and its close working): one close, not one per
    refusal."""
    fp = FaultyPaper(
        book() + '  - name: again\n    on: trade\n    in: long\n    do: [{stop_loss: {price: "entry_price * 0.999"}}]\n'
    )

    def hold_after_the_stop(cmd: PlaceOrder) -> None:
        if cmd.order_type is OrderType.STOP_MARKET and cmd.tag is None:
            fp.stalled = True  # what follows the stop (the close's fill) is held back
        return None

    fp.refuse = hold_after_the_stop
    fp.start()
    late_fill(fp, 59400)
    fp.trade(59300)
    fp.trade(59200)
    stops = [c for c in fp.sent_ids if fp.engine.state.oms.get(c).purpose == "stop_loss"]
    assert len(stops) == 3, stops  # the first, then one per trade: each refused
    refused = fp.notices("order-rejected")
    assert len(refused) == 3 and all("a market close of the position is already working" in n for n in refused[1:])
    fp.release()
    assert closes(fp) == [D("0.01")] and position_size(fp) == 0 and fp.state == "flat"


def test_a_refusal_heard_after_the_position_closed_closes_nothing():
    fp = FaultyPaper(book('stop_loss: {price: "entry_price * 0.999"}'))
    fp.start()
    fp.trade(60000)
    (stop,) = [c for c in fp.placed if c.order_type is OrderType.STOP_MARKET and c.tag is None]
    fp.trade(59000)  # the stop fires: flat
    assert position_size(fp) == 0
    fp.session.refused(stop, -2021, "Order would immediately trigger.", fp.time)  # a late word on it
    assert closes(fp) == []
    assert "the position it was for is gone: nothing to close" in fp.notices("order-rejected")[-1]


def hedge_book() -> str:
    return """\
rulebook: passed-hedge
market: usdm
symbols: [BTCUSDT]
account: {leverage: 3, position_mode: hedge}
states:
  flat: {position: none}
  long: {position: long}
  both: {position: any}
rules:
  - name: buy
    on: trade
    in: flat
    when: price < 60020
    do: [{enter: {side: long, size: "0.02"}}, {stop_loss: {distance: 3%}}, {goto: long}]
  - name: hedge
    on: trade
    in: long
    when: price > 60050
    do: [{enter: {side: short, size: "0.01"}}, {stop_loss: {price: "entry_price * 1.001"}}, {goto: both}]
"""


def test_hedge_mode_closes_only_the_leg_whose_stop_had_passed():
    fp = FaultyPaper(hedge_book())
    fp.start()
    fp.trade(60000)  # the long leg, with its 3% stop
    fp.stalled = True
    fp.trade(60060)  # the short leg fills; its reports come after a 1% rise
    fp.trade(60700)
    fp.release()
    legs = {p.position_side: p.amount for p in fp.sim.positions(fp.symbol) if p.amount}
    assert legs == {PositionSide.LONG: D("0.02")}
    short = [c for c in fp.placed if c.order_type is OrderType.MARKET and c.position_side is PositionSide.SHORT]
    assert [(c.side, c.quantity) for c in short] == [(Side.SELL, D("0.01")), (Side.BUY, D("0.01"))]
    assert [o for o in fp.sim.open_algo_orders(fp.symbol) if o.position_side is PositionSide.SHORT] == []
    long_stops = [o for o in fp.sim.open_algo_orders(fp.symbol) if o.position_side is PositionSide.LONG]
    assert [o.trigger_price for o in long_stops if o.order_type is OrderType.STOP_MARKET][:1] == [D("58200.00")]


def test_the_bracket_take_profit_sent_after_the_refused_stop_does_not_outlive_the_position():
    """The stop-loss is refused and the position closed before the take-profit named after it goes
    out (the simulator answers at once): the take-profit's cancel reached the exchange before it did
    (-2011) and it stayed working, a close-position order that would close the next position."""
    fp = FaultyPaper(book('stop_loss: {price: "entry_price * 0.999"}}, {take_profit: {distance: 5%}'))
    fp.start()
    late_fill(fp, 59400)
    assert position_size(fp) == 0 and fp.state == "flat"
    assert fp.sim.open_algo_orders(fp.symbol) == []
    assert fp.notices("cancel-failed") == []


def test_a_held_cancel_of_an_order_the_exchange_then_refuses_is_not_sent():
    fp = FaultyPaper(book('stop_loss: {price: "entry_price * 0.999"}}, {take_profit: {distance: 5%}'))
    fp.refuse = lambda cmd: (
        (-4045, "Reach max stop order limit.") if cmd.order_type.name == "TAKE_PROFIT_MARKET" else None
    )
    fp.start()
    late_fill(fp, 59400)
    assert position_size(fp) == 0 and fp.state == "flat"
    (tp,) = [c for c in fp.sent_ids if fp.engine.state.oms.get(c).purpose == "take_profit"]
    assert not [r for r in fp.records if isinstance(r, CancelOrder) and r.client_order_id == tp]
    assert fp.notices("cancel-failed") == []


def test_the_strategy_form_of_the_refusal_closes_the_position_too():
    """-4142 ("take profit or stop order will be triggered immediately") says the same as -2021."""
    fp = FaultyPaper(book('stop_loss: {price: "entry_price * 0.99"}'))
    text = "REJECT: take profit or stop order will be triggered immediately"
    fp.refuse = lambda cmd: (-4142, text) if cmd.order_type is OrderType.STOP_MARKET and cmd.tag is None else None
    fp.start()
    fp.trade(60000)
    assert position_size(fp) == 0 and closes(fp) == [D("0.01")]


def test_the_protective_stop_already_passed_closes_the_position_too():
    """The guard's stop is priced from the engine's mark, which may lag the exchange's: refused as
    passed, it closes the position rather than being placed again further away on every try."""
    fp = FaultyPaper(book("take_profit: {distance: 50%}"))  # no stop: the guard places one
    passed = (-2021, "Order would immediately trigger.")
    fp.refuse = lambda cmd: passed if cmd.tag == "protective" else None
    fp.start()
    fp.trade(60000)
    fp.trade(59990, dt_ms=20_000)  # past the guard's countdown: its stop goes, and is refused
    assert position_size(fp) == 0 and closes(fp) == [D("0.01")]
    reasons = [v.reason for r in fp.records if isinstance(r, rec.GuardRecord) for v in r.verdicts]
    assert any(
        r.startswith("protective stop ") and r.endswith("had already passed (mark 59990): closed at market")
        for r in reasons
    ), reasons
