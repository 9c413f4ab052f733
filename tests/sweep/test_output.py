"""How a sweep's rows are written: the CSV's cells and the terminal's table."""

from __future__ import annotations

import io
import json
import math

import pytest
from rich.console import Console

from rulebot.sweep.api import SweepResult
from rulebot.sweep.output import caveats, spreadsheet_safe, trials_table
from rulebot.sweep.output_json import sweep_json
from rulebot.sweep.report import heatmap
from rulebot.sweep.space import Dimension
from rulebot.sweep.trial import TrialResult


@pytest.mark.parametrize(
    ("value", "written"),
    [
        ('=HYPERLINK("http://x")', '\'=HYPERLINK("http://x")'),
        ("+cmd|' /C calc'!A0", "'+cmd|' /C calc'!A0"),
        ("-2+3", "'-2+3"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\t=1+1", "'\t=1+1"),
        ("\r=1+1", "'\r=1+1"),
        ("plain", "plain"),
        ("", ""),
        ("-12.50", "-12.50"),  # net_pnl_exact: a number written as text
        ("+1E-8", "+1E-8"),
        (-5, -5),
        (-0.25, -0.25),
        (None, None),
    ],
)
def test_a_text_that_a_spreadsheet_would_run_gets_a_leading_quote_and_a_number_does_not(value, written):
    assert spreadsheet_safe(value) == written


def test_the_trials_table_shows_a_text_parameter_as_it_is_not_as_rich_markup():
    # '[b]x[/b]' showed as a bold x and ':rocket:' as an emoji: not the value the trial ran with.
    value = "[b]x[/b] :rocket:"
    t = TrialResult(0, (("mode", value),), None, None, "search", None, {"net_pnl": 1.0}, "1", "10001", None, ())
    sweep = SweepResult("r.yaml", ("d",), "net_pnl", "grid", 1, "local", 1, (Dimension("mode", "str", (value,)),), {})
    sweep.trials = [t]
    screen = io.StringIO()
    Console(file=screen, width=200).print(trials_table(sweep))
    assert value in screen.getvalue()


def test_a_profit_factor_with_nothing_lost_ranks_first_and_shows_as_infinite():
    """A trial whose trades all won has no profit factor as a ratio (won / 0): it ranked below a
    trial that lost every trade (0.00), which the sweep then offered to replay as the best."""
    won = TrialResult(
        0, (("mode", "a"),), None, None, "search", None, {"profit_factor": math.inf}, "5", "10005", None, ()
    )
    lost = TrialResult(1, (("mode", "b"),), None, None, "search", None, {"profit_factor": 0.0}, "-5", "9995", None, ())
    none = TrialResult(2, (("mode", "c"),), None, None, "search", None, {"profit_factor": None}, "0", "10000", None, ())
    dims = (Dimension("mode", "str", ("a", "b", "c")),)
    sweep = SweepResult("r.yaml", ("d",), "profit_factor", "grid", 1, "local", 1, dims, {})
    sweep.trials = [none, lost, won]
    assert [t.number for t in sweep.ranked()] == [0, 1, 2]
    screen = io.StringIO()
    Console(file=screen, width=200).print(trials_table(sweep))
    assert "∞" in screen.getvalue()
    assert 'fill="rgb(' in heatmap(sweep, "mode", None)  # the colour scale is taken from finite scores


def test_the_trials_table_shows_the_empty_text_as_two_quotes_not_a_blank_cell():
    """`--param 'mode="",a'`: the empty mode's row had an empty cell, as if the value were missing."""
    trials = [
        TrialResult(n, (("mode", v),), None, None, "search", None, {"net_pnl": 1.0}, "1", "10001", None, ())
        for n, v in enumerate(("", "a"))
    ]
    sweep = SweepResult("r.yaml", ("d",), "net_pnl", "grid", 1, "local", 1, (Dimension("mode", "str", ("", "a")),), {})
    sweep.trials = trials
    screen = io.StringIO()
    Console(file=screen, width=200).print(trials_table(sweep))
    [row] = [line for line in screen.getvalue().splitlines() if line.startswith("│ 1 ")]
    assert row.split("│")[3].strip() == '""'  # #, trial, mode


def _trial(number: int, **metrics: float | int | None) -> TrialResult:
    values = {"net_pnl": 0.0, "trades": 10, "open_trades": 0, "liquidations": 0, **metrics}
    return TrialResult(number, (("mode", str(number)),), None, None, "search", None, values, "0", "10000", None, ())


def _sweep(metric: str, trials: list[TrialResult]) -> SweepResult:
    dims = (Dimension("mode", "str", tuple(str(t.number) for t in trials)),)
    sweep = SweepResult("r.yaml", ("d",), metric, "grid", 1, "local", 1, dims, {})
    sweep.trials = trials
    return sweep


def test_equal_scores_rank_by_net_pnl_not_by_trial_number():
    """ETHUSDT, --metric profit_factor: five sets lost no trade (∞); the first by trial number, one
    trade for 0.41 USDT, was ranked and offered for replay as the best over one that made 12.24."""
    sweep = _sweep(
        "profit_factor",
        [
            _trial(0, profit_factor=math.inf, net_pnl=0.41, trades=1),
            _trial(1, profit_factor=math.inf, net_pnl=12.24, trades=3),
            _trial(2, profit_factor=17.5, net_pnl=11.16, trades=3),
        ],
    )
    assert [t.number for t in sweep.ranked()] == [1, 0, 2]


def test_the_best_trial_is_flagged_when_its_score_rests_on_few_trades_a_liquidation_or_open_trades():
    best = _trial(0, profit_factor=math.inf, net_pnl=50.0, trades=1, open_trades=1, liquidations=2)
    sweep = _sweep("profit_factor", [best, _trial(1, profit_factor=1.5, net_pnl=10.0)])
    [line] = caveats(sweep, best)
    assert "#0" in line and "closed 1 trade" in line and "liquidated 2 times" in line
    assert "lost none" in line and "1 open trade" in line
    assert caveats(sweep, sweep.trials[1]) == []
    screen = io.StringIO()
    Console(file=screen, width=200).print(trials_table(sweep))
    assert "liq" in screen.getvalue()  # the liquidations column, shown when a listed trial has one
    screen = io.StringIO()
    Console(file=screen, width=200).print(trials_table(_sweep("net_pnl", [sweep.trials[1]])))
    assert "liq" not in screen.getvalue()


def _strict(text: str) -> dict:
    def refuse(constant: str) -> None:
        raise ValueError(f"not JSON: {constant}")

    return json.loads(text, parse_constant=refuse)


def test_the_json_document_is_strict_json_with_an_infinite_profit_factor_as_text():
    best = _trial(0, profit_factor=math.inf, net_pnl=5.0, trades=2, sharpe=math.nan)
    sweep = _sweep("profit_factor", [best, _trial(1, profit_factor=None, net_pnl=0.0)])
    doc = _strict(sweep_json(sweep, ["a warning"], ["rulebot", "backtest", "r.yaml"]))
    assert doc["trials"][0]["profit_factor"] == "inf" and doc["trials"][0]["sharpe"] == "nan"
    assert doc["trials"][1]["profit_factor"] is None
    assert doc["ranked"] == [0, 1] and doc["warnings"] == ["a warning"] and doc["replay"][1] == "backtest"


def _sweep_of(finished: int, planned: int, interrupted: bool) -> SweepResult:
    sweep = SweepResult("r.yaml", ("d",), "net_pnl", "grid", 1, "local", 1, (Dimension("mode", "str", ("a",)),), {})
    sweep.trials = [
        TrialResult(n, (("mode", "a"),), None, None, "search", None, {"net_pnl": 1.0}, "1", "10001", None, ())
        for n in range(finished)
    ]
    sweep.planned, sweep.interrupted = planned, interrupted
    return sweep


@pytest.mark.parametrize("interrupted", [True, False])
def test_an_interrupted_sweeps_csv_says_on_every_row_that_it_is_partial(tmp_path, interrupted):
    """A sweep stopped by Ctrl-C or SIGTERM wrote its 3 finished trials of 10 to --out looking just
    like a finished sweep: opened later, the file alone did not say that 7 trials never ran."""
    import csv

    from rulebot.sweep.output import write_rows

    path = tmp_path / "trials.csv"
    write_rows(_sweep_of(3, 10, interrupted), path)
    with path.open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 3
    assert {r["sweep"] for r in rows} == {"interrupted: 3 of 10 trials ran" if interrupted else "complete"}


@pytest.mark.parametrize("interrupted", [True, False])
def test_an_interrupted_sweeps_parquet_says_it_in_the_rows_and_the_file(tmp_path, interrupted):
    pq = pytest.importorskip("pyarrow.parquet")
    from rulebot.sweep.output import write_rows

    path = tmp_path / "trials.parquet"
    write_rows(_sweep_of(3, 10, interrupted), path)
    table = pq.read_table(path)
    assert set(table.column("sweep").to_pylist()) == {"interrupted: 3 of 10 trials ran" if interrupted else "complete"}
    meta = json.loads(table.schema.metadata[b"rulebot.sweep"])
    assert meta == {"interrupted": interrupted, "finished": 3, "planned": 10}
