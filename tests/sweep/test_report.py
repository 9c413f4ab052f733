"""The sweep's HTML report from trial results: heatmap cells, binning, curves, escaping."""

from __future__ import annotations

import html
import re
import shlex

from rulebot.sweep.api import SweepResult
from rulebot.sweep.report import MAX_AXIS, render_report
from rulebot.sweep.space import Dimension
from rulebot.sweep.trial import TrialResult


def sweep_of(trials: list[TrialResult], dims: tuple[Dimension, ...]) -> SweepResult:
    return SweepResult("r.yaml", ("d",), "net_pnl", "random", 1, "local", 1, dims, {}, trials=trials)


def trial(n: int, x: float, y: int, pnl: float) -> TrialResult:
    curve = ((0, 10_000.0), (3_600_000, 10_000.0 + pnl))
    return TrialResult(
        n,
        (("stop", x), ("slow", y)),
        None,
        None,
        "search",
        None,
        {"net_pnl": pnl},
        str(pnl),
        str(10_000 + pnl),
        None,
        curve,
    )


def test_many_float_values_are_binned_and_each_cell_shows_its_best_trial():
    dims = (Dimension("stop", "float", None, 0.01, 0.05), Dimension("slow", "int", (10, 20)))
    trials = [trial(i, 0.01 + i * 0.0004, 10 if i % 2 else 20, float(i)) for i in range(100)]
    page = render_report(sweep_of(trials, dims))
    assert page.count("<rect") == MAX_AXIS * 2  # 100 distinct stops in 16 bins, times 2 slows
    assert f"trial 99: stop={0.01 + 99 * 0.0004!r}, slow=10 → net_pnl 99" in page  # the last bin's best trial
    assert page.count("<polyline") == 5 and "interrupted" not in page


def test_parameter_text_is_escaped_in_the_report():
    dims = (Dimension("mode", "str", ("<script>", "b")),)
    t = TrialResult(
        0,
        (("mode", "<script>"),),
        None,
        None,
        "search",
        None,
        {"net_pnl": 1.0},
        "1",
        "10001",
        None,
        ((0, 1.0), (1, 2.0)),
    )
    page = render_report(sweep_of([t], dims))
    assert "<script>" not in page and "&lt;script&gt;" in page


def test_each_trials_replay_command_quotes_its_text_parameters():
    """The replay column printed `--set mode=go now; rm x` bare: pasted into a shell it ran
    `rm x` and replayed another trial. Parsed as a shell parses it, it must give the value back."""
    value = "go :rocket: now; rm -rf $HOME 'x'"
    t = TrialResult(0, (("mode", value),), None, None, "search", None, {"net_pnl": 1.0}, "1", "10001", None, ())
    page = render_report(sweep_of([t], (Dimension("mode", "str", (value,)),)))
    [command] = re.findall(r"<code>(rulebot backtest .*?)</code>", page)
    args = shlex.split(html.unescape(command))
    assert args[args.index("--set") + 1] == f"mode={value}"


def test_trials_that_never_traded_draw_their_flat_equity_across_the_middle_with_distinct_labels():
    # All curves flat at the starting balance: the line lay on the top edge and the three axis
    # labels were one value ("10,000.00") written three times over each other.
    dims = (Dimension("slow", "int", (10, 20)),)
    trials = [trial(i, 0.01, s, 0.0) for i, s in enumerate((10, 20))]
    page = render_report(sweep_of(trials, dims))
    chart = page[page.index("Equity of the best") :]
    labels = re.findall(r'class="yl">([^<]+)</text>', chart)
    assert len(labels) == 3 and len(set(labels)) == 3, labels
    assert "10,000.00" in labels
    ys = {float(y) for p in re.findall(r'<polyline points="([^"]+)"', chart) for y in re.findall(r",([\d.]+)", p)}
    middle = re.search(r'y1="([\d.]+)"[^>]*/><text[^>]*class="yl">10,000.00<', chart)
    assert middle and ys == {float(middle.group(1))}, (ys, middle)


def test_a_metric_no_trial_has_says_so_instead_of_an_empty_heatmap():
    # Ranked by sharpe with no trade anywhere: axis labels around nothing, and not a word why.
    dims = (Dimension("slow", "int", (10, 20)),)
    trials = [trial(i, 0.01, s, 0.0) for i, s in enumerate((10, 20))]
    sweep = SweepResult("r.yaml", ("d",), "sharpe", "grid", 1, "local", 1, dims, {}, trials=trials)
    page = render_report(sweep)
    heat = page[page.index("(best trial per cell)") : page.index("Equity of the best")]
    assert "<svg" not in heat and "No trial has a sharpe" in heat, heat


def test_the_empty_text_shows_as_two_quotes_in_the_report():
    """The trials table, the heatmap's axis and its tooltips showed the empty text as nothing."""
    trials = [
        TrialResult(n, (("mode", v),), None, None, "search", None, {"net_pnl": 1.0}, "1", "10001", None, ())
        for n, v in enumerate(("", "a"))
    ]
    page = render_report(sweep_of(trials, (Dimension("mode", "str", ("", "a")),)))
    assert "<td>0</td><td>search</td><td>&quot;&quot;</td>" in page
    assert "trial 0: mode=&quot;&quot;" in page or 'trial 0: mode=""' in page
    assert "<td></td>" not in page


def test_the_warnings_printed_under_the_table_are_in_the_report_too():
    # A report is what gets shared: the best trial's flags (few trades, funding counted as 0) were
    # only on the terminal of whoever ran the sweep.
    dims = (Dimension("stop", "float", (0.01,)), Dimension("slow", "int", (10,)))
    page = render_report(sweep_of([trial(0, 0.01, 10, 5.0)], dims), warnings=["the best trial (#0) <closed 1>"])
    assert "the best trial (#0) &lt;closed 1&gt;" in page
    assert "Warnings" not in render_report(sweep_of([trial(0, 0.01, 10, 5.0)], dims))
