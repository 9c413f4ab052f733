"""A limit exit is checked against PERCENT_PRICE before it is sent, as an entry is.

A long's reduce-only SELL limit under 95% of the mark (BTCUSDT's multiplierDown) is refused by
Binance (-4024), a short's BUY limit over 105% (-4016). Entries were checked locally and never
sent; exits went out and came back refused, journaled as Binance's bare error. They are now held
back with the reason, and a rule's exit that moves to a flat state is sent again at market after the
backoff, as after the exchange's refusal.
"""

from __future__ import annotations

from decimal import Decimal

from rulebot.core.enums import OrderType
from rulebot.engine import records as rec

from .faulty_paper import FaultyPaper

D = Decimal


def book(price: str, goto: str = ", {goto: flat}") -> str:
    return f"""\
rulebook: far-exit
market: usdm
symbols: [BTCUSDT]
account: {{leverage: 3}}
states:
  flat: {{position: none}}
  long: {{position: long}}
rules:
  - name: buy
    on: trade
    in: flat
    when: price < 60020
    do: [{{enter: {{side: long, size: "0.01"}}}}, {{goto: long}}]
  - name: sell
    on: trade
    in: long
    when: price > 60100
    do: [{{exit: {{order: limit, price: "{price}"}}}}{goto}]
"""


def position_size(fp: FaultyPaper) -> Decimal:
    return sum((abs(p.amount) for p in fp.sim.positions(fp.symbol)), D(0))


def verdicts(fp: FaultyPaper, rule: str) -> list[rec.Verdict]:
    return [v for r in fp.records if isinstance(r, rec.GuardRecord) and r.rule == rule for v in r.verdicts]


def test_a_limit_exit_beyond_percent_price_is_refused_locally_with_the_reason():
    fp = FaultyPaper(book("price * 0.9"))
    fp.start()
    fp.trade(60000)
    fp.trade(60200)  # the exit's limit 54,180 is under 95% of the mark (57,190)
    limits = [c for c in fp.sent_ids if (r := fp.engine.state.oms.get(c)) and r.command.order_type is OrderType.LIMIT]
    assert limits == []  # not sent: the exchange would refuse it
    assert fp.notices("order-rejected") == []
    (reject,) = [v for v in verdicts(fp, "sell") if v.kind == "reject"]
    assert reject.guard == "exchange_filters" and "-4024" in reject.reason and "PERCENT_PRICE" in reject.reason
    assert position_size(fp) == D("0.01") and fp.state == "long"
    fp.trade(60200, dt_ms=1500)  # the backoff passed: the rule's exit goes again at market
    assert position_size(fp) == 0 and fp.state == "flat"


def test_a_limit_exit_within_percent_price_goes_out():
    fp = FaultyPaper(book("price * 0.96", goto=""))
    fp.start()
    fp.trade(60000)
    fp.trade(60200)  # 57,792: within 95% of the mark, a marketable limit
    assert not [v for v in verdicts(fp, "sell") if v.kind == "reject"]
    assert position_size(fp) == 0


def test_a_shorts_limit_exit_over_percent_price_is_refused_locally():
    text = (
        book("price * 1.1", goto="")
        .replace("side: long", "side: short")
        .replace("long: {position: long}", "short: {position: short}")
        .replace("goto: long", "goto: short")
        .replace("in: long", "in: short")
    )
    fp = FaultyPaper(text)
    fp.start()
    fp.trade(60000)
    fp.trade(60200)
    (reject,) = [v for v in verdicts(fp, "sell") if v.kind == "reject"]
    assert "-4016" in reject.reason and "over 105% of the mark 60200 (63210.00)" in reject.reason
    assert position_size(fp) == D("0.01")
