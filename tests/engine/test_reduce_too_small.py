"""A `reduce` whose share of the position is less than one lot step closes nothing, and says so."""

from __future__ import annotations

from decimal import Decimal

from rulebot.engine import records as rec

from .faulty_paper import FaultyPaper

BOOK = """\
rulebook: trim
market: coinm
symbols: [BTCUSD_PERP]
account: {leverage: 2}
rules:
  - name: buy
    on: trade
    in: flat
    do: [{enter: {side: long, size: 1}}, {stop_loss: {distance: 10%}}, {goto: long}]
  - name: trim
    on: trade
    in: long
    when: position.size > 0
    do: [{reduce: {by: 50%}}, {log: "trimmed"}]
"""


def test_a_reduce_of_less_than_one_contract_says_nothing_was_closed_once():
    # Half of 1 contract rounds to 0 contracts: nothing is sent, and the journal said only "trimmed"
    # (the rule fired, its log ran), trade after trade: a user read that the position was halved
    # before an expensive funding payment while it was held whole.
    fp = FaultyPaper(BOOK, balance=1)
    fp.start()
    for _ in range(5):
        fp.trade(20000)
    assert fp.position == Decimal(1)
    said = [
        v.reason
        for r in fp.records
        if isinstance(r, rec.GuardRecord) and r.rule == "trim"
        for v in r.verdicts
        if v.kind == "reject"
    ]
    assert said == ["reduce 50% of 1 is less than one lot step (1): nothing was closed"]
