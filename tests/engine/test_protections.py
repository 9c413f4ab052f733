"""A trailing stop covers the whole position, whichever report the exchange sends first.

Binance cannot close a position with a trailing stop (no closePosition), so its quantity is fixed
when it is placed. The entry's final ORDER_TRADE_UPDATE and the ACCOUNT_UPDATE that carries the
position it made arrive in either order (Binance orders each event type on its own; the simulator
sends the order update first): a stop sized before the account update lands would leave the last
fill unprotected. These run the engine over the real simulator (`faulty_paper`).
"""

from __future__ import annotations

from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from rulebot.core.enums import OrderType

from .faulty_paper import FaultyPaper

D = Decimal


def book(
    *,
    first: str = "0.01",
    added: str = "0.02",
    symbol: str = "BTCUSDT",
    market: str = "usdm",
    mode: str = "one_way",
    limit: bool = False,
) -> str:
    """Enter `first` with a trailing stop, then add `added` with another (each covers the whole
    position); with `limit`, the first entry rests below the price and fills in parts."""
    order = ', order: limit, price: "price - 10"' if limit else ""
    return f"""\
rulebook: pyramid
market: {market}
symbols: [{symbol}]
account: {{leverage: 3, position_mode: {mode}}}
states:
  flat: {{position: none}}
  long: {{position: long}}
  added: {{position: long}}
rules:
  - name: buy
    on: trade
    in: flat
    when: price < 60020
    do: [{{enter: {{side: long, size: "{first}"{order}}}}}, {{trailing_stop: {{callback: 1%}}}}, {{goto: long}}]
  - name: add
    on: trade
    in: long
    when: price > 60050
    do: [{{enter: {{side: long, size: "{added}"}}}}, {{trailing_stop: {{callback: 1%}}}}, {{goto: added}}]
  - name: never
    on: trade
    in: added
    when: price < 0
    do: [exit, {{goto: flat}}]
"""


def trailing_stops(fp: FaultyPaper) -> list[Decimal]:
    """The quantities of the trailing stops working on the exchange (USDT-M keeps them in the
    algo service, COIN-M on the order book)."""
    algos = [o.quantity for o in fp.sim.open_algo_orders(fp.symbol) if o.order_type is OrderType.TRAILING_STOP_MARKET]
    orders = [o.quantity for o in fp.sim.open_orders(fp.symbol) if o.order_type is OrderType.TRAILING_STOP_MARKET]
    return algos + orders


def position_size(fp: FaultyPaper) -> Decimal:
    return sum((abs(p.amount) for p in fp.sim.positions(fp.symbol)), D(0))


def burst(
    fp: FaultyPaper, prices: list[float], account_first: list[bool] | None, qty: str = "1", dt_ms: int = 1000
) -> None:
    """Trades whose reports reach the engine in one burst, interleaved as `account_first` says."""
    fp.stalled = True
    for price in prices:
        fp.trade(price, dt_ms, qty)
    fp.release(account_first)


def test_an_added_entrys_trailing_stop_covers_the_whole_position_when_the_order_update_comes_first():
    fp = FaultyPaper(book())
    fp.start()
    fp.trade(60000)
    assert trailing_stops(fp) == [D("0.01")]
    fp.trade(60060)  # the add fills; the simulator reports the order before the account
    assert fp.state == "added" and position_size(fp) == D("0.03")
    assert trailing_stops(fp) == [D("0.03")]


def test_an_added_entrys_trailing_stop_covers_the_whole_position_when_the_account_update_comes_first():
    fp = FaultyPaper(book())
    fp.start()
    burst(fp, [60000], [True] * 4)
    burst(fp, [60060], [True] * 4)
    assert position_size(fp) == D("0.03")
    assert trailing_stops(fp) == [D("0.03")]


def test_an_entry_filled_in_parts_gets_a_trailing_stop_for_all_of_it():
    fp = FaultyPaper(book(first="0.03", limit=True))
    fp.start()
    fp.trade(60000)  # the limit rests at 59990
    for _ in range(3):
        fp.trade(59980, qty="0.01")  # each trade fills a third of it
    assert position_size(fp) == D("0.03")
    assert trailing_stops(fp) == [D("0.03")]


def test_hedge_mode_sizes_the_long_legs_trailing_stop_to_the_whole_leg():
    fp = FaultyPaper(book(mode="hedge"))
    fp.start()
    fp.trade(60000)
    fp.trade(60060)
    assert fp.sim.hedge_mode and position_size(fp) == D("0.03")
    assert trailing_stops(fp) == [D("0.03")]


def test_coin_m_sizes_the_trailing_stop_in_contracts_to_the_whole_position():
    fp = FaultyPaper(book(first="1", added="2", symbol="BTCUSD_PERP", market="coinm"))
    fp.start()
    fp.trade(60000)
    fp.trade(60060)
    assert position_size(fp) == D("3")
    assert trailing_stops(fp) == [D("3")]


picks = st.lists(st.booleans(), max_size=12)


@settings(max_examples=80, deadline=None)
@given(
    orders=st.lists(picks, min_size=3, max_size=3),
    limit=st.booleans(),
    parts=st.lists(st.integers(1, 3), min_size=1, max_size=3).filter(lambda p: sum(p) == 3),
    same_ms=st.booleans(),
    mode=st.sampled_from(["one_way", "hedge"]),
)
def test_whatever_order_the_reports_arrive_in_the_trailing_stop_covers_the_position(
    orders, limit, parts, same_ms, mode
):
    """Once every order and account report of a burst has arrived, in any interleaving of the
    two kinds, the one trailing stop's quantity is the position's size. With `limit`, the entry
    fills a third at a time, `parts` of them in one burst, in the same millisecond with `same_ms`
    (Binance stamps the fills of one match with one transaction time)."""
    fp = FaultyPaper(book(first="0.03", limit=limit, mode=mode))
    fp.start()
    burst(fp, [60000], orders[0])
    if limit:
        for n in parts:
            burst(fp, [59980] * n, orders[1], qty="0.01", dt_ms=0 if same_ms else 1000)
    assert position_size(fp) == D("0.03")
    assert trailing_stops(fp) == [D("0.03")]
    burst(fp, [60060], orders[2])  # the added entry
    assert fp.state == "added" and position_size(fp) == D("0.05")
    assert trailing_stops(fp) == [D("0.05")]


KEEP_STOP = """\
rulebook: keep-stop
market: usdm
symbols: [BTCUSDT]
account: {leverage: 3}
rules:
  - name: buy
    on: trade
    in: flat
    do: [{enter: {side: long, size: "0.01"}}, {stop_loss: {distance: 5%}}, {goto: long}]
  - name: hold-the-stop
    on: trade
    in: long
    do: [{stop_loss: {distance: 5%}}]
"""


def test_a_stop_asked_for_again_unchanged_is_kept_not_cancelled_and_placed_again():
    """A rule that states the position's stop on every trade (or a rulebook reloaded into a state
    whose rules do) cancelled the stop and placed the same one again each time: live, the position
    was without its stop between the two requests, and the order budget went on churn."""
    fp = FaultyPaper(KEEP_STOP)
    fp.start()
    fp.trade(60000)
    first = [o for o in fp.engine.open_orders("BTCUSDT") if o.purpose == "stop_loss"]
    assert fp.position == Decimal("0.01") and len(first) == 1
    for _ in range(5):
        fp.trade(60100)
    stops = [o for o in fp.engine.open_orders("BTCUSDT") if o.purpose == "stop_loss"]
    assert [o.client_order_id for o in stops] == [first[0].client_order_id]
    assert sum(1 for p in fp.placed if p.order_type is OrderType.STOP_MARKET and p.tag is None) == 1


ACTIVATED = """\
rulebook: activated-then-added
market: usdm
symbols: [BTCUSDT]
account: {leverage: 3}
states:
  flat: {position: none}
  long: {position: long}
  added: {position: long}
rules:
  - name: buy
    on: trade
    in: flat
    when: price > 59990 and price < 60020
    do:
      - enter: {side: long, size: "0.01"}
      - trailing_stop: {callback: 1%, activation: "entry_price * 1.001", working_type: contract_price}
      - goto: long
  - name: add
    on: trade
    in: long
    when: price > 60100
    do: [{enter: {side: long, size: "0.02"}}, {goto: added}]
"""


def test_a_trailing_stop_replaced_after_its_activation_price_was_passed_keeps_trailing():
    """The position grew after the price had passed the trailing stop's activation price: the
    stop was cancelled and placed again with that same activation price, which Binance refuses
    for a SELL at or below the last price (-2021). The position was left with no trailing stop
    (entry 60000, activation 60060, added at 60120: no stop until the protective one, 5% away).
    The refused stop now goes out again without an activation price."""
    fp = FaultyPaper(ACTIVATED)
    fp.start()
    fp.trade(60000)
    assert trailing_stops(fp) == [D("0.01")]
    fp.trade(60120)  # past the activation price: the add fills
    assert fp.state == "added" and position_size(fp) == D("0.03")
    assert all("placed again without one" in n for n in fp.notices("order-rejected"))
    assert trailing_stops(fp) == [D("0.03")]
    fp.trade(59500)  # 1% under 60120: the trail closes the whole position
    assert position_size(fp) == 0 and fp.state == "flat"


def test_a_trailing_stop_whose_activation_price_the_market_passed_before_the_fill_was_heard_trails_at_once():
    """The entry filled at 60000, but its reports came late, after trades at 60100: the trailing stop
    went out with activation 60060, below the last price, and Binance refused it (-2021). It goes
    out again without one, trailing from 60100 (as reaching 60060 would have started it)."""
    fp = FaultyPaper(ACTIVATED.replace("price > 60100", "price > 70000"))
    fp.start()
    burst(fp, [60000, 60100], None)
    assert position_size(fp) == D("0.01")
    assert all("placed again without one" in n for n in fp.notices("order-rejected"))
    assert trailing_stops(fp) == [D("0.01")]
    fp.trade(59400)  # more than 1% under 60100
    assert position_size(fp) == 0


def test_an_activation_price_the_exchange_has_not_seen_passed_is_kept():
    """The engine hears a fill before the trade it filled on: its last price is the trade before
    (60,000) while the exchange's is 59,980. An activation price between them (59,996) is still
    ahead of the exchange's price, which takes it: the trail waits for it."""
    text = ACTIVATED.replace(
        'enter: {side: long, size: "0.01"}', 'enter: {side: long, size: "0.01", order: limit, price: "price - 10"}'
    ).replace("entry_price * 1.001", "entry_price * 1.0001")
    fp = FaultyPaper(text)
    fp.start()
    fp.trade(60000)  # the limit rests at 59,990
    fp.trade(59980)  # and fills
    assert position_size(fp) == D("0.01")
    (trail,) = [a for a in fp.sim.open_algo_orders(fp.symbol) if a.order_type is OrderType.TRAILING_STOP_MARKET]
    assert trail.activation_price == D("59996.0")


BRACKET = """\
rulebook: bracket
market: usdm
symbols: [BTCUSDT]
account: {leverage: 3}
rules:
  - name: buy
    on: trade
    in: flat
    when: price > 59990 and price < 60020
    do: [{enter: {side: long, size: "0.01"}}, {stop_loss: {distance: 1%}}, {take_profit: {distance: 1%}}, {goto: long}]
"""


def test_the_stop_that_closed_the_position_is_not_canceled_after_it_fired():
    """When a stop or take-profit closed the position, the engine canceled the leftovers, the fired
    one among them (its algo status TRIGGERED until FINISHED, which follows the account update):
    a request the exchange refused (-2011), journaled as a failed cancel on every exit."""
    for price in (59000, 61000):  # the stop-loss, then the take-profit
        fp = FaultyPaper(BRACKET)
        fp.start()
        fp.trade(60000)
        fp.trade(price)
        assert position_size(fp) == 0 and fp.state == "flat"
        assert fp.notices("cancel-failed") == []
        assert fp.sim.open_algo_orders(fp.symbol) == []  # the other one was canceled


KEEP_TRAIL = """\
rulebook: keep-trail
market: usdm
symbols: [BTCUSDT]
account: {leverage: 3}
rules:
  - name: buy
    on: trade
    in: flat
    when: price > 59990 and price < 60020
    do: [{enter: {side: long, size: "0.01"}}, {goto: long}]
  - name: hold-the-trail
    on: trade
    in: long
    do: [{trailing_stop: {callback: 1%, working_type: contract_price}}]
"""


def test_a_trailing_stop_asked_for_again_unchanged_keeps_its_trail():
    """A rule that states the trailing stop on every trade cancelled it and placed it again each
    time, and each new one started its trail over from the price: from a high of 60,600 the price
    stepped down 0.33% a trade to 59,000 (2.6%) and the 1% trailing stop never triggered. Kept,
    it sells at 59,800, the first trade 1% under the high."""
    fp = FaultyPaper(KEEP_TRAIL)
    fp.start()
    fp.trade(60000)
    for price in (60600, 60400, 60200, 60000):
        fp.trade(price)
        assert position_size(fp) == D("0.01")
    fp.trade(59800)
    assert position_size(fp) == 0
    assert sum(1 for p in fp.placed if p.order_type is OrderType.TRAILING_STOP_MARKET) == 1


TIGHTEN = """\
rulebook: tighten
market: usdm
symbols: [BTCUSDT]
account: {leverage: 3}
rules:
  - name: buy
    on: trade
    in: flat
    when: price > 59990 and price < 60020
    do: [{enter: {side: long, size: "0.01"}}, {trailing_stop: {callback: 1%}}, {goto: long}]
  - name: tighten
    on: trade
    in: long
    when: price > 60500
    do: [{trailing_stop: {callback: 0.5%}}]
"""


def test_a_trailing_stop_asked_for_with_another_callback_replaces_the_working_one():
    fp = FaultyPaper(TIGHTEN)
    fp.start()
    fp.trade(60000)
    fp.trade(60600)  # 1% replaced by 0.5%
    fp.trade(60700)  # the same 0.5%: kept
    callbacks = [p.callback_rate for p in fp.placed if p.order_type is OrderType.TRAILING_STOP_MARKET]
    assert callbacks == [D(1), D("0.5")]
    fp.trade(60390)  # 0.5% under 60,700
    assert position_size(fp) == 0
