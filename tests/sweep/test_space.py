"""The search space: --param ranges, their check against the rulebook, constraints, seeded searches."""

from __future__ import annotations

import re
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rulebot.rulebook.params import ParamDecl
from rulebot.sweep import SweepError, run_sweep
from rulebot.sweep.search import OptunaSearch, RandomSearch
from rulebot.sweep.space import Constraints, grid, parse_space

DECLS = {
    "fast": ParamDecl("fast", 8, "int", True, 2, 30),
    "slow": ParamDecl("slow", 21, "int", True, 5, 100),
    "stop": ParamDecl("stop", 0.02, "float", True, 0.005, 0.1),
    "mode": ParamDecl("mode", "trend", "str", True, choices=("trend", "fade")),
    "atr_len": ParamDecl("atr_len", 14, "int"),
}
NONE = Constraints((), {n: d.default for n, d in DECLS.items()})


def values(spec: str) -> tuple[object, ...] | None:
    return parse_space([spec], DECLS)[0].values


def test_ranges_lists_and_single_values_parse_to_the_parameters_own_types():
    assert values("fast=8:14:2") == (8, 10, 12, 14)
    assert values("fast=8:11") == (8, 9, 10, 11)
    assert values("slow=21,34,55") == (21, 34, 55)
    assert values("mode=trend,fade") == ("trend", "fade")
    assert values("stop=0.01") == (0.01,)
    # Decimal steps: the values a user typed, not 0.030000000000000002
    assert values("stop=0.01:0.05:0.01") == (0.01, 0.02, 0.03, 0.04, 0.05)
    interval = parse_space(["stop=0.01:0.05"], DECLS)[0]
    assert interval.values is None and (interval.low, interval.high) == (0.01, 0.05)


def test_a_text_value_that_looks_like_a_number_is_swept_as_text():
    decls = {"tag": ParamDecl("tag", "a", "str", True, choices=("a", "10", "true"))}
    assert parse_space(["tag=10,true,a"], decls)[0].values == ("10", "true", "a")


def test_a_text_value_holding_a_comma_is_swept_in_quotes():
    """A choice like "a,b" could not be swept: the list split it in two, and neither half was a choice."""
    decls = {"venue": ParamDecl("venue", "a,b", "str", True, choices=("a,b", "c"))}
    assert parse_space(['venue="a,b",c'], decls)[0].values == ("a,b", "c")
    assert parse_space(['venue=c, "a,b"'], decls)[0].values == ("c", "a,b")
    with pytest.raises(SweepError, match="'a' is not one of"):
        parse_space(["venue=a,b"], decls)
    with pytest.raises(SweepError, match=re.escape('with "..." around a value holding a comma')):
        parse_space(['venue="a,b" x",c'], decls)


def test_the_empty_text_is_swept_as_two_quotes():
    """`--set mode=` gave a text param its empty choice, but no --param could sweep it."""
    decls = {"mode": ParamDecl("mode", "", "str", True, choices=("", "a", " b "))}
    assert parse_space(['mode="",a'], decls)[0].values == ("", "a")
    assert parse_space(['mode=a, ""'], decls)[0].values == ("a", "")
    assert parse_space(['mode=""'], decls)[0].values == ("",)
    assert parse_space(['mode=" b ",a'], decls)[0].values == (" b ", "a")  # quoted: as written


@given(st.lists(st.text(alphabet=' a,"\\x'), min_size=1, max_size=4, unique=True))
def test_any_text_choices_written_as_quoted_csv_sweep_back_as_written(choices):
    decls = {"mode": ParamDecl("mode", choices[0], "str", True, choices=tuple(choices))}
    body = ",".join('"' + c.replace('"', '""') + '"' for c in choices)
    assert parse_space([f"mode={body}"], decls)[0].values == tuple(choices)


@pytest.mark.parametrize("spec", ["mode=,a", "mode=a,", "mode=a,,b", "mode="])
def test_an_unquoted_empty_text_is_a_typo_named_with_the_way_to_write_it(spec):
    decls = {"mode": ParamDecl("mode", "", "str", True, choices=("", "a", "b"))}
    with pytest.raises(SweepError, match=re.escape('write "" for the empty text')):
        parse_space([spec], decls)


@pytest.mark.parametrize(
    ("spec", "says"),
    [
        ("fast=8:60:2", "above the declared max 30"),
        ("fast=1,8", "1 is below the declared min 2"),
        ("fast=8.5,9", "8.5 is not an int"),
        ("fast=8:12:0.5", "'fast' is an int: ends and step must be whole numbers"),
        ("stop=0.01:0.5", "0.5 is above the declared max 0.1"),
        ("mode=trend,revert", "'revert' is not one of 'trend', 'fade'"),
        ("fats=8:12", "no parameter 'fats'; did you mean 'fast'?"),
        ("fast=12:8", "12 is above 8"),
        ("fast", "expected NAME=LO:HI[:STEP]"),
    ],
)
def test_a_value_outside_the_declared_range_or_type_is_refused_with_its_reason(spec, says):
    with pytest.raises(SweepError) as err:
        parse_space([spec], DECLS)
    assert says in str(err.value)


def test_a_bad_param_stops_the_sweep_before_any_data_is_read(rulebook, tmp_path):
    # The data path does not exist: had the sweep read it first, this would be a data error.
    with pytest.raises(SweepError) as err:
        run_sweep(rulebook, [str(tmp_path / "missing")], ["fast=2:60:2", "slow=10"], constraints=["fsat < slow"])
    text = str(err.value)
    assert "above the declared max 30" in text and "unknown name fsat" in text and "missing" not in text


def test_constraints_filter_the_grid_and_unknown_names_are_refused():
    dims = parse_space(["fast=5:25:5", "slow=10,20"], DECLS)
    rules = Constraints(["fast < slow", "slow - fast >= 5"], {n: d.default for n, d in DECLS.items()})
    assert [tuple(p.values()) for p in grid(dims, rules)] == [(5, 10), (5, 20), (10, 20), (15, 20)]
    with pytest.raises(SweepError, match="unknown name quick"):
        Constraints(["quick < slow"], {"fast": 1, "slow": 2})
    with pytest.raises(SweepError, match="not an expression"):
        Constraints(["fast <"], {"fast": 1})


def test_random_search_is_reproducible_by_seed_and_never_repeats_a_point():
    dims = parse_space(["fast=2:30", "slow=5:100"], DECLS)
    a = RandomSearch(dims, NONE, 40, seed=7).propose()
    assert a == RandomSearch(dims, NONE, 40, seed=7).propose()
    assert a != RandomSearch(dims, NONE, 40, seed=8).propose()
    assert len({tuple(p.values()) for p in a}) == 40


def test_random_search_over_a_float_interval_stays_inside_it():
    dims = parse_space(["stop=0.01:0.05", "fast=2,3"], DECLS)
    points = RandomSearch(dims, NONE, 25, seed=1).propose()
    assert all(0.01 <= p["stop"] <= 0.05 for p in points)


def test_optuna_proposes_the_same_batches_for_the_same_seed_and_scores():
    dims = parse_space(["fast=2:30:2", "stop=0.01:0.05:0.01"], DECLS)
    rules = Constraints(["fast > 3"], {n: d.default for n, d in DECLS.items()})

    def trace(seed: int) -> list[dict[str, object]]:
        search = OptunaSearch(dims, rules, 20, seed, batch=8)
        seen: list[dict[str, object]] = []
        while batch := search.propose():
            seen.extend(batch)
            search.tell([float(p["fast"]) * (p["stop"] or 0) for p in batch])  # type: ignore[operator]
        return seen

    first = trace(3)
    assert first == trace(3) and len(first) == 20
    assert all(p["fast"] > 3 and p["stop"] in (0.01, 0.02, 0.03, 0.04, 0.05) for p in first)


@given(
    lo=st.integers(2, 20),
    span=st.integers(0, 10),
    step=st.integers(1, 4),
)
def test_an_int_range_holds_exactly_its_stepped_values(lo, span, step):
    hi = lo + span
    got = values(f"fast={lo}:{hi}:{step}")
    assert got == tuple(range(lo, hi + 1, step))


@given(cents=st.integers(5, 50), steps=st.integers(0, 40))
def test_a_float_range_is_what_decimal_arithmetic_says(cents, steps):
    lo = Decimal(cents) / 1000
    step = Decimal("0.001")
    hi = lo + steps * step
    got = values(f"stop={lo}:{hi}:{step}")
    assert got == tuple(float(lo + i * step) for i in range(steps + 1))


def test_a_constraint_that_is_not_a_condition_or_allows_nothing_is_refused_before_running(rulebook, data):
    with pytest.raises(SweepError, match="not a condition"):
        Constraints(["fast << slow"], {"fast": 8, "slow": 21})
    with pytest.raises(SweepError, match="no parameter set satisfies"):
        run_sweep(rulebook, data, ["fast=3,6"], constraints=["fast > 10"], workers=1)


@pytest.mark.parametrize("spec", ["fast=nan:20", "fast=snan:20", "stop=0.01:nan:0.01", "stop=0:1:1e-999999999"])
def test_a_range_decimal_cannot_compute_is_refused_not_a_crash(spec):
    """NaN ends raise when compared and a tiny step overflows the count: both are bad input."""
    with pytest.raises(SweepError) as err:
        parse_space([spec], DECLS)
    assert "finite numbers" in str(err.value)


def test_a_billion_random_trials_is_refused_at_once_not_drawn(rulebook, tmp_path):
    """Random search draws every point up front: 1e9 of them hung the sweep, eating memory."""
    with pytest.raises(SweepError) as err:
        run_sweep(rulebook, [str(tmp_path / "missing")], ["stop=0.01:0.05"], search="random", trials=10**9)
    assert "--trials 1,000,000,000: at most 1,000,000" in str(err.value)


def test_optuna_never_runs_a_point_twice_and_stops_when_the_space_is_spent():
    """--search optuna --trials 10 over fast=3,6 ran ten backtests of two points."""
    dims = parse_space(["fast=3,6", "stop=0.01:0.02:0.01"], DECLS)
    search = OptunaSearch(dims, NONE, 10, 0, batch=3)
    seen: list[tuple[object, ...]] = []
    while batch := search.propose():
        seen.extend(tuple(p.values()) for p in batch)
        search.tell([float(p["fast"]) for p in batch])  # type: ignore[arg-type]
    assert sorted(seen) == [(3, 0.01), (3, 0.02), (6, 0.01), (6, 0.02)]
    # An infinite space keeps its whole budget, each point once.
    search = OptunaSearch(parse_space(["stop=0.01:0.05"], DECLS), NONE, 12, 0, batch=4)
    points = []
    while batch := search.propose():
        points.extend(p["stop"] for p in batch)
        search.tell([None] * len(batch))
    assert len(points) == 12 == len(set(points))
