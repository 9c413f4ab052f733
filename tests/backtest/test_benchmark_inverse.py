"""A COIN-M account's buy-and-hold benchmark is in the coin, as its return is: a 1x long of the
inverse contract, worth 2 - first/price of the coin it started with. The coin's rise in USD beside
a return in coin would flatter a strategy in a falling market (a flat account "beats" -50%)."""

from __future__ import annotations

import json
from decimal import Decimal as D

from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from rulebot.backtest.metrics import benchmarks
from rulebot.backtest.result import BacktestResult, EquityPoint, SymbolPoint
from rulebot.backtest.stats import compute_stats
from rulebot.backtest.summary import benchmark_text
from rulebot.backtest.tally import PriceTally
from rulebot.cli import main
from rulebot.testing.shared import ARCHIVE, require

T0 = 1_717_027_200_000
COIN_DAY = ARCHIVE / "futures/cm/daily/klines/BTCUSD_PERP/1m/BTCUSD_PERP-1m-2022-12-13.zip"


def inverse_result(prices: list[D]) -> BacktestResult:
    r = BacktestResult("t", "v", "BTCUSD_PERP", "BTC", T0, T0 + len(prices), D(1), 1)
    r.inverse = True
    r.equity_curve = [EquityPoint(T0 + i, D(1), p, D(0)) for i, p in enumerate(prices)]
    return r


def test_a_worked_example_in_coin_terms():
    """Prices 100, 120, 90, 130, 110. The long is worth 2 - 100/price of a coin: 1, 1.1667,
    0.8889, 1.2308, 1.0909. It ends 1 - 100/110 = 9.09% up (the coin rose 10% in USD), and its
    deepest fall is 1.1667 -> 0.8889: (100/90 - 100/120) / (2 - 100/120) = 23.81%; the price's
    own deepest fall (130 -> 110, 15.4%; 120 -> 90, 25%) is not the long's."""
    (bench,) = benchmarks(inverse_result([D(100), D(120), D(90), D(130), D(110)]))
    assert bench.inverse and bench.ret == 1 - D(100) / D(110)
    assert bench.max_drawdown_pct == (D(100) / D(90) - D(100) / D(120)) / (2 - D(100) / D(120))
    assert round(bench.max_drawdown_pct, 4) == D("0.2381")


def test_a_usd_margined_account_keeps_holding_the_coin():
    r = inverse_result([D(100), D(120), D(90), D(130), D(110)])
    r.inverse = False
    (bench,) = benchmarks(r)
    assert not bench.inverse and bench.ret == D("0.1") and bench.max_drawdown_pct == D("0.25")


def test_at_half_the_first_price_the_long_is_gone_for_good():
    """A 1x inverse long is worth nothing at half its entry price; the price coming back later
    does not bring it back."""
    (bench,) = benchmarks(inverse_result([D(100), D(80), D(50), D(120)]))
    assert (bench.ret, bench.max_drawdown_pct) == (D(-1), D(1))
    (just_above,) = benchmarks(inverse_result([D(100), D("50.01"), D(120)]))
    assert D(-1) < just_above.ret == 1 - D(100) / D(120)


def brute_force(prices: list[D]) -> tuple[D, D]:
    """The long's value at every price, its return and deepest fall, by walking every pair."""
    first = prices[0]
    values, gone = [], False
    for p in prices:
        gone = gone or p * 2 <= first
        values.append(D(0) if gone else 2 - first / p)
    worst = max((min((a - b) / a, D(1)) for i, a in enumerate(values) for b in values[i:] if a > 0), default=D(0))
    return (D(-1) if gone else values[-1] - 1), worst


@settings(max_examples=300, deadline=None)
@given(st.lists(st.decimals(min_value=D("0.01"), max_value=D(100_000), places=2), min_size=1, max_size=40))
def test_the_tally_keeps_what_walking_every_pair_finds(prices):
    """The tally only looks back at a fall when a new peak ends it; the long's value falls as the
    price does, so the lowest price since each peak is all it needs."""
    (bench,) = benchmarks(inverse_result(prices))
    ret, worst = brute_force(prices)
    assert abs(bench.ret - ret) <= D("1e-25")  # the walk rounds 2 - first/p - 1, the tally 1 - first/p
    if ret != -1:
        assert abs(bench.max_drawdown_pct - worst) <= D("1e-25")


def test_a_price_below_zero_or_zero_is_skipped_as_for_holding_the_coin():
    tally = PriceTally()
    for p in (D(0), D(100), D(-5), D(80), D(120)):
        tally.add(p)
    assert tally.inverse_hold() == (1 - D(100) / D(120), (D(100) / D(80) - 1) / 1)


def test_a_coin_m_backtest_states_its_benchmark_in_the_coin(tmp_path):
    book = tmp_path / "hold.yaml"
    book.write_text(
        "rulebook: hold\nmarket: coinm\nsymbols: [BTCUSD_PERP]\ntimeframes: [1m]\n"
        "rules:\n  - name: nothing\n    on: candle_close 1m\n    when: close@1m < 0\n    do: [{goto: flat}]\n"
    )
    data = str(require(COIN_DAY))
    out = CliRunner().invoke(main, ["backtest", str(book), "--data", data, "--format", "json"])
    assert out.exit_code == 0, out.output
    doc = json.loads(out.output)
    bench = doc["benchmark"]["symbols"]["BTCUSD_PERP"]
    first, last = D(bench["first_price"]), D(bench["last_price"])
    assert D(doc["benchmark"]["return"]) == 1 - first / last
    assert "valued in the coin" in doc["benchmark"]["kind"] and doc["margin_asset"] == "BTC"
    table = CliRunner().invoke(main, ["backtest", str(book), "--data", data])
    assert table.exit_code == 0, table.output
    text = " ".join(table.output.split())
    assert "in BTC, a 1x long of the contract" in text and "holding BTC itself: 0.00% in BTC" in text
    assert D(bench["coin_return_in_usd"]) == last / first - 1


def test_several_coin_m_symbols_name_each_usd_move():
    r = inverse_result([D(100), D(110)])
    r.symbols = ("BTCUSD_PERP", "ETHUSD_PERP")
    r.symbol_curves = {
        "BTCUSD_PERP": [SymbolPoint(T0, D(100), D(0), D(0)), SymbolPoint(T0 + 1, D(110), D(0), D(0))],
        "ETHUSD_PERP": [SymbolPoint(T0, D(10), D(0), D(0)), SymbolPoint(T0 + 1, D(8), D(0), D(0))],
    }
    r.equity_curve = [EquityPoint(T0, D(1), D(100), D(0)), EquityPoint(T0 + 1, D(1), D(110), D(0))]
    text = benchmark_text(compute_stats(r).metrics, "BTC")
    assert "a 1x long of each contract, equal weight (" in text
    assert text.endswith("holding BTC itself: 0.00% in BTC, BTCUSD_PERP 10.00% in USD; ETHUSD_PERP -20.00% in USD")
