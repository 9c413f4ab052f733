"""A stop replaced because the position grew never leaves the position without one.

A second entry that names its own stop, or a trailing stop resized to a grown position, replaces
the stop working on the position. The engine cancelled the old stop first and placed the new one
after it: live, the position had no stop for a request's round trip, and when the exchange refused
the new one (-4045, too many stop orders) it had none until the protective-stop guard acted. Now
the new stop goes first, the old one is cancelled once the exchange reports the new one working,
and when the new one is refused the old one stays, and the journal says why.

A small trailing stop kept that way covers part of the grown position: it is no stop for the
protective-stop guard, whose own stop covers the whole position `protective_stop_within` later
(and the resize is tried again then); refused for want of room (-4045), the small trailing stop
makes room for its resize instead, as the guard's stop would find none either.
"""

from __future__ import annotations

from decimal import Decimal

from rulebot.core.commands import CancelOrder, PlaceOrder
from rulebot.core.enums import OrderType, PositionSide, Side, WorkingType
from rulebot.engine import records as rec

from .faulty_paper import FaultyPaper, Refusal

D = Decimal
TOO_MANY: Refusal = (-4045, "Reach max stop order limit.")
# A refusal that says nothing of room: cancelling the small trailing stop would not help the resize.
BUSY: Refusal = (-1008, "Server is currently overloaded with other requests. Please try again in a few minutes.")


def book(first: str, added: str) -> str:
    """Enter long with the stop `first`, then add to it with `added` (an action, or nothing)."""
    add = f", {{{added}}}" if added else ""
    return f"""\
rulebook: growth
market: usdm
symbols: [BTCUSDT]
account: {{leverage: 3, position_mode: one_way}}
states:
  flat: {{position: none}}
  long: {{position: long}}
  added: {{position: long}}
rules:
  - name: buy
    on: trade
    in: flat
    when: price < 60020
    do: [{{enter: {{side: long, size: "0.01"}}}}, {{{first}}}, {{goto: long}}]
  - name: add
    on: trade
    in: long
    when: price > 60050
    do: [{{enter: {{side: long, size: "0.02"}}}}{add}, {{goto: added}}]
  - name: never
    on: trade
    in: added
    when: price < 0
    do: [exit, {{goto: flat}}]
"""


STOP_LOSS = book('stop_loss: {price: "entry_price * 0.98"}', 'stop_loss: {price: "entry_price * 0.99"}')
TRAILING = book("trailing_stop: {callback: 1%}", "")  # the added entry names no stop: `cover` resizes


def stops(fp: FaultyPaper) -> list[PlaceOrder]:
    """The position's stop orders sent (not the daily-cap stop), accepted or not, in order."""
    return [c for c in fp.sent if isinstance(c, PlaceOrder) and ours(fp, c.client_order_id)]


def ours(fp: FaultyPaper, client_order_id: str) -> bool:
    record = fp.engine.state.oms.get(client_order_id)
    return record is not None and record.purpose in ("stop_loss", "trailing_stop")


def working(fp: FaultyPaper) -> set[str]:
    """The position's stops working on the exchange."""
    return {o.client_algo_id for o in fp.sim.open_algo_orders(fp.symbol) if ours(fp, o.client_algo_id)}


def cancels(fp: FaultyPaper, client_order_id: str) -> list[int]:
    """Where in the commands sent the cancels of `client_order_id` are."""
    return [i for i, c in enumerate(fp.sent) if isinstance(c, CancelOrder) and c.client_order_id == client_order_id]


def grow(text: str, refuse: Refusal | None = None, stall: bool = False) -> tuple[FaultyPaper, str, str]:
    """The first entry fills with its stop, then the position grows: the old stop's and the new
    one's ids. The new one is refused with `refuse`; with `stall` its reports are held back."""
    fp = FaultyPaper(text)
    fp.start()
    fp.trade(60000)
    (old,) = stops(fp)
    assert working(fp) == {old.client_order_id}

    def refusing(cmd: PlaceOrder) -> Refusal | None:
        if not ours(fp, cmd.client_order_id) or cmd.client_order_id == old.client_order_id:
            return None
        if stall:
            fp.stalled = True  # the exchange took it; the engine has not heard so yet
        return refuse

    fp.refuse = refusing
    fp.trade(60100)
    assert fp.position == D("0.03")
    new = stops(fp)[1]
    return fp, old.client_order_id, new.client_order_id


def test_a_second_entrys_stop_loss_is_placed_before_the_first_ones_is_cancelled():
    fp, old, new = grow(STOP_LOSS)
    placed = next(i for i, c in enumerate(fp.sent) if isinstance(c, PlaceOrder) and c.client_order_id == new)
    (cancelled,) = cancels(fp, old)
    assert placed < cancelled
    assert working(fp) == {new}
    reason = next(c.reason for c in fp.sent if isinstance(c, CancelOrder) and c.client_order_id == old)
    assert reason == f"replaced by {new}: one stop_loss for the whole position"


def test_the_first_stop_loss_is_cancelled_only_once_the_new_one_is_reported_working():
    fp, old, new = grow(STOP_LOSS, stall=True)
    assert cancels(fp, old) == []
    assert working(fp) == {old, new}
    fp.release()
    assert len(cancels(fp, old)) == 1
    assert working(fp) == {new}


def test_a_refused_stop_loss_leaves_the_first_one_working_and_the_journal_says_why():
    fp, old, new = grow(STOP_LOSS, refuse=TOO_MANY)
    assert cancels(fp, old) == []
    assert working(fp) == {old}
    (notice,) = [n for n in fp.notices("replace-stop") if "stays" in n]
    assert old in notice and new in notice and "-4045" in notice, notice
    assert fp.engine.protections.unprotected(fp.symbol) is None  # no countdown: the position has its stop


def test_a_trailing_stop_resized_to_a_grown_position_is_placed_before_the_old_one_is_cancelled():
    fp, old, new = grow(TRAILING)
    placed = next(i for i, c in enumerate(fp.sent) if isinstance(c, PlaceOrder) and c.client_order_id == new)
    (cancelled,) = cancels(fp, old)
    assert placed < cancelled
    assert working(fp) == {new}
    (algo,) = [o for o in fp.sim.open_algo_orders(fp.symbol) if o.client_algo_id == new]
    assert algo.order_type is OrderType.TRAILING_STOP_MARKET and algo.quantity == D("0.03")
    reason = next(c.reason for c in fp.sent if isinstance(c, CancelOrder) and c.client_order_id == old)
    assert reason == f"replaced by {new}: resized to the position"


def test_the_small_trailing_stop_is_cancelled_only_once_the_resized_one_is_reported_working():
    fp, old, new = grow(TRAILING, stall=True)
    assert cancels(fp, old) == []
    assert working(fp) == {old, new}
    fp.release()
    assert len(cancels(fp, old)) == 1
    assert working(fp) == {new}


def test_a_refused_resized_trailing_stop_leaves_the_small_one_working_and_the_journal_says_why():
    fp, old, new = grow(TRAILING, refuse=BUSY)
    assert cancels(fp, old) == []
    assert working(fp) == {old}
    (notice,) = [n for n in fp.notices("replace-stop") if "stays" in n]
    assert old in notice and new in notice and "-1008" in notice, notice


ACTIVATED = book('trailing_stop: {callback: 1%, activation: "entry_price * 1.001", working_type: contract_price}', "")


def test_a_resized_trailing_stop_placed_again_for_its_passed_activation_still_replaces_the_small_one():
    """The resized stop keeps the activation price (60060), which the price (60100) has passed: the
    exchange refuses it (-2021) and it goes out again without one. That one replaces the small stop:
    it is cancelled once that one works, not kept beside it, and not before."""
    fp, old, refused = grow(ACTIVATED)
    assert any(refused in n and "-2021" in n for n in fp.notices("order-rejected"))
    again = stops(fp)[2]
    assert again.activation_price is None and again.quantity == D("0.03")
    placed = next(i for i, c in enumerate(fp.sent) if c is again)
    (cancelled,) = cancels(fp, old)
    assert placed < cancelled
    assert working(fp) == {again.client_order_id}
    assert fp.notices("replace-stop") == []  # nothing stayed: the small stop went once the new one worked
    reason = next(c.reason for c in fp.sent if isinstance(c, CancelOrder) and c.client_order_id == old)
    assert reason == f"replaced by {again.client_order_id}: resized to the position"


PASSED: Refusal = (-2021, "Order would immediately trigger.")


def test_a_replacement_refused_for_its_passed_trigger_closes_the_position_and_the_old_stop_goes_with_it():
    """The added entry's stop is refused because the price already passed it (-2021): the position is
    closed at market, as that stop would have closed it, and the old stop is cancelled with the position.
    The notice said the old stop "stays" while it was being cancelled."""
    fp = FaultyPaper(STOP_LOSS)
    fp.start()
    fp.trade(60000)
    (old,) = stops(fp)
    fp.refuse = lambda cmd: PASSED if ours(fp, cmd.client_order_id) and cmd is not old else None
    fp.trade(60100)
    new = stops(fp)[1].client_order_id
    assert any(new in n and "closed at market" in n for n in fp.notices("order-rejected"))
    assert fp.position == 0
    (cancelled,) = [c for c in fp.sent if isinstance(c, CancelOrder) and c.client_order_id == old.client_order_id]
    assert cancelled.reason == "position closed"
    (notice,) = fp.notices("replace-stop")
    assert "stays" not in notice, notice
    assert old.client_order_id in notice and new in notice and "-2021" in notice, notice
    assert "goes with the position" in notice, notice


def covered(fp: FaultyPaper) -> Decimal:
    """How much of the position the stops working on the exchange close, should they trigger: all of
    it for a close-position stop, a reduce-only stop's quantity otherwise (the largest of them). Not
    the daily loss cap's stop: it moves with the day's PnL, the position's own stop it is not; nor
    the account's stops the bot did not place."""
    size = abs(fp.position)
    oms = fp.engine.state.oms
    qtys = [
        size if o.close_position else o.quantity
        for o in fp.sim.open_algo_orders(fp.symbol)
        if o.status == "NEW" and getattr(oms.get(o.client_algo_id), "purpose", "daily_cap") != "daily_cap"
    ]
    return min(size, max(qtys, default=Decimal(0)))


def test_a_refused_resize_leaves_the_grown_part_bare_no_longer_than_the_protective_stop_guard_allows():
    """The trailing stop (0.01) could not be resized to the grown position (0.03): -1008. The engine
    counted any trailing stop as the position's stop, so the protective-stop guard never acted and
    0.02 stayed bare until an account report came to resize it (none comes while the position
    sits). A stop covering less than the position is no stop for the guard: its own stop closes the
    whole position `protective_stop_within` (10 s) after the refusal."""
    fp, old, _ = grow(TRAILING, refuse=BUSY)
    assert covered(fp) == D("0.01") and fp.position == D("0.03")
    for _ in range(9):  # 9 s of trades, no report: the guard waits as for a position with no stop
        fp.trade(60100)
    assert covered(fp) == D("0.01")
    fp.trade(60100, dt_ms=1000)  # 10 s
    assert covered(fp) == D("0.03")
    assert working(fp) == {old}  # the small trailing stop keeps trailing beside the guard's stop
    (guard,) = [r for r in fp.records if isinstance(r, rec.GuardRecord) and r.rule == "protective_stop"]
    assert guard.client_order_id in {o.client_algo_id for o in fp.sim.open_algo_orders(fp.symbol) if o.close_position}
    (why,) = [v.reason for v in guard.verdicts]
    assert "closed only 0.010 of the 0.03 held" in why, why
    for _ in range(60):  # and it stays covered
        fp.trade(60100)
    assert covered(fp) == D("0.03")


def test_a_refused_resize_is_tried_again_when_the_protective_stop_goes_out():
    """The refusal passed (the exchange is not busy any more): when the guard's countdown
    ends, the trailing stop is resized again, beside the guard's stop, and the small one goes once
    the resized one works. The journal says it is tried again. The guard's stop goes with it: the
    trailing stop covers the position again, and kept, the guard's stop would close it where the
    rule did not ask, and hold one of the stop orders the exchange counts (-4045)."""
    fp, old, _ = grow(TRAILING, refuse=BUSY)
    fp.refuse = lambda cmd: None
    for _ in range(10):
        fp.trade(60100)
    (again,) = [c for c in stops(fp)[2:]]
    assert again.quantity == D("0.030") and working(fp) == {again.client_order_id}
    assert covered(fp) == D("0.03")
    assert len(cancels(fp, old)) == 1
    (guard,) = [r for r in fp.records if isinstance(r, rec.GuardRecord) and r.rule == "protective_stop"]
    (cancel,) = [c for c in fp.sent if isinstance(c, CancelOrder) and c.client_order_id == guard.client_order_id]
    assert cancel.reason == f"trailing_stop {again.client_order_id} covers all 0.03 of the position again"
    assert guard.client_order_id not in {o.client_algo_id for o in fp.sim.open_algo_orders(fp.symbol)}
    (record,) = [r for r in fp.records if isinstance(r, rec.GuardRecord) and r.client_order_id == again.client_order_id]
    assert (
        record.intent
        == "trailing_stop 0.030: the position grew past 0.010 (tried again as the protective stop goes out)"
    )


def fill_stop_slots(fp: FaultyPaper) -> None:
    """Stop orders the account holds besides the bot's (placed by hand, far away) take every stop
    order the symbol allows but the bot's two (its trailing stop, the daily loss cap's stop)."""
    limit = fp.engine.instruments[fp.symbol].max_num_algo_orders
    held = len(fp.sim.open_algo_orders(fp.symbol))
    for i in range(limit - held):
        manual = PlaceOrder(
            f"manual-{i}", fp.symbol, Side.SELL, OrderType.STOP_MARKET, None, trigger_price=D(20000 + i),
            close_position=True, working_type=WorkingType.MARK_PRICE, time=fp.time,
        )  # fmt: skip
        assert fp.sim.execute_algo(manual, fp.time).ok


def test_at_the_exchanges_limit_on_stop_orders_the_small_trailing_stop_makes_room_for_the_resized_one():
    """The symbol holds as many stop orders as Binance allows (10): the resize is refused (-4045), and
    so would be the guard's own stop. Kept, the small stop leaves 0.02 bare for good; cancelled
    first, it makes the room the resized one takes: the position is bare one round trip, then all of
    it trails. The journal says why the old one went first."""
    fp = FaultyPaper(TRAILING)
    fp.start()
    fp.trade(60000)
    (old,) = stops(fp)
    fill_stop_slots(fp)
    fp.trade(60100)
    assert fp.position == D("0.03")
    refused = [n for n in fp.notices("order-rejected") if "-4045" in n]
    assert refused, fp.notices("order-rejected")
    for _ in range(60):
        fp.trade(60100)
    assert covered(fp) == D("0.03")
    (resized,) = [o for o in fp.sim.open_algo_orders(fp.symbol) if ours(fp, o.client_algo_id)]
    assert resized.quantity == D("0.030") and resized.client_algo_id != old.client_order_id
    (cancelled,) = cancels(fp, old.client_order_id)
    placed = next(
        i for i, c in enumerate(fp.sent) if isinstance(c, PlaceOrder) and c.client_order_id == resized.client_algo_id
    )
    assert cancelled == placed - 1  # the room is made, then taken: bare for that round trip only
    reason = fp.sent[cancelled].reason
    assert "-4045" in reason, reason


def test_in_hedge_mode_the_guard_covers_the_grown_leg_its_trailing_stop_covers_part_of():
    fp, old, _ = grow(TRAILING.replace("position_mode: one_way", "position_mode: hedge"), refuse=BUSY)
    assert fp.engine.hedge
    for _ in range(10):
        fp.trade(60100)
    assert working(fp) == {old}
    (guard,) = [r for r in fp.records if isinstance(r, rec.GuardRecord) and r.rule == "protective_stop"]
    (algo,) = [o for o in fp.sim.open_algo_orders(fp.symbol) if o.client_algo_id == guard.client_order_id]
    assert algo.close_position and algo.position_side is PositionSide.LONG
    assert "closed only 0.010 of the 0.03 held" in guard.verdicts[0].reason
