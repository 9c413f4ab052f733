"""core/frozen.py: `fast_init` gives hot frozen dataclasses a cheaper `__init__` that must build the
very object the dataclass's own `__init__` builds, positional, by keyword or with defaults left out."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import rulebot.engine.engine
import rulebot.exchange_sim
import rulebot.session  # noqa: F401 - imports every decorated class
from rulebot.core.frozen import GENERATED_INIT, fast_init

CLASSES = sorted(GENERATED_INIT, key=lambda c: f"{c.__module__}.{c.__name__}")
values = st.one_of(st.none(), st.integers(), st.text(max_size=5), st.booleans(), st.decimals(allow_nan=False, places=4))


def test_the_order_path_classes_are_decorated() -> None:
    names = {c.__name__ for c in CLASSES}
    assert {"OrderUpdate", "AlgoUpdate", "AccountUpdate", "PlaceOrder", "Verdict", "GuardRecord"} <= names


@pytest.mark.parametrize("cls", CLASSES, ids=lambda c: c.__name__)
@settings(max_examples=40, deadline=None)
@given(data=st.data())
def test_fast_init_builds_what_the_dataclass_init_builds(cls: type, data: st.DataObject) -> None:
    fields = dataclasses.fields(cls)
    args = [data.draw(values, label=f.name) for f in fields]
    # Leave out a drawn number of trailing defaulted fields, as callers do.
    optional = sum(1 for f in fields if f.default is not dataclasses.MISSING)
    cut = len(fields) - data.draw(st.integers(0, optional), label="left out")
    expected: Any = object.__new__(cls)
    GENERATED_INIT[cls](expected, *args[:cut])
    for built in (cls(*args[:cut]), cls(**{f.name: a for f, a in zip(fields[:cut], args[:cut], strict=True)})):
        for f in fields:
            assert getattr(built, f.name) is getattr(expected, f.name), f.name
        assert built == expected
        with pytest.raises(dataclasses.FrozenInstanceError):
            setattr(built, fields[0].name, 1)


@pytest.mark.parametrize("cls", CLASSES, ids=lambda c: c.__name__)
def test_missing_or_unknown_arguments_are_refused_as_before(cls: type) -> None:
    required = [f for f in dataclasses.fields(cls) if f.default is dataclasses.MISSING]
    if required:
        with pytest.raises(TypeError):
            cls()
    with pytest.raises(TypeError):
        cls(**{f.name: None for f in dataclasses.fields(cls)}, not_a_field=1)


def test_unsupported_dataclasses_are_refused_at_definition() -> None:
    with pytest.raises(TypeError, match="not a frozen, slotted dataclass"):

        @fast_init
        @dataclasses.dataclass(frozen=True)
        class NoSlots:
            a: int

    with pytest.raises(TypeError, match="not a plain positional field"):

        @fast_init
        @dataclasses.dataclass(frozen=True, slots=True)
        class Factory:
            a: list[int] = dataclasses.field(default_factory=list)


def test_post_init_still_runs() -> None:
    seen: list[int] = []

    @fast_init
    @dataclasses.dataclass(frozen=True, slots=True)
    class Checked:
        a: int
        b: int = 2

        def __post_init__(self) -> None:
            seen.append(self.a + self.b)

    assert Checked(1) == Checked(a=1, b=2)
    assert seen == [3, 3]
