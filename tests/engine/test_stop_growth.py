"""A stop replaced because the position grew never leaves the position without one.

A second entry that names its own stop, or a trailing stop resized to a grown position, replaces
the stop working on the position. The engine cancelled the old stop first and placed the new one
after it: live, the position had no stop for a request's round trip, and when the exchange refused
the new one (-4045, too many stop orders) it had none until the protective-stop guard acted. Now
the new stop goes first, the old one is cancelled once the exchange reports the new one working,
and when the new one is refused the old one stays, and the journal says why.
"""

from __future__ import annotations

from decimal import Decimal

from rulebot.core.commands import CancelOrder, PlaceOrder
from rulebot.core.enums import OrderType

from .faulty_paper import FaultyPaper, Refusal

D = Decimal
TOO_MANY: Refusal = (-4045, "Reach max stop order limit.")


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
    fp, old, new = grow(TRAILING, refuse=TOO_MANY)
    assert cancels(fp, old) == []
    assert working(fp) == {old}
    (notice,) = [n for n in fp.notices("replace-stop") if "stays" in n]
    assert old in notice and new in notice and "-4045" in notice, notice


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
