"""A cheaper `__init__` for the hot frozen, slotted dataclasses of the order path (issue 14).

A frozen dataclass's generated `__init__` stores each field with `object.__setattr__(self, name,
value)` (its own `__setattr__` refuses): a lookup and a call by name per field, about 0.2 us each.
The order path builds thousands of such objects per backtest (an order update has 26 fields, and a
round trip makes four of them). `fast_init` replaces `__init__` with one that, for the time of the
call, gives the new instance a twin class of the same slots that does not refuse a write, stores
each field as a plain attribute (the interpreter's own slot store) and gives the instance its class
back: the same parameters, defaults and `__post_init__`, under half the cost of storing through
each slot's descriptor (the fallback, for a class whose layout a twin cannot share). The instance
stays frozen: only `__init__` writes, as before. `tests/core/test_frozen.py` checks every decorated
class against the dataclass's own `__init__`.

Only the simple case is handled (every field in `__init__`, positional, plain defaults): anything
else is refused when the module is imported, never silently built wrong.
"""

from __future__ import annotations

import dataclasses
from typing import Any, TypeVar

T = TypeVar("T")

# The dataclass-generated __init__ of each decorated class, for the equivalence tests.
GENERATED_INIT: dict[type, Any] = {}


def fast_init(cls: type[T]) -> type[T]:
    """Give a frozen, slotted dataclass an `__init__` that stores through its slot descriptors."""
    params = getattr(cls, "__dataclass_params__", None)
    if params is None or not params.frozen or "__slots__" not in cls.__dict__:
        raise TypeError(f"fast_init: {cls.__name__} is not a frozen, slotted dataclass")
    every = cls.__dataclass_fields__  # type: ignore[attr-defined]
    fields = dataclasses.fields(cls)  # type: ignore[arg-type]
    if len(fields) != len(every):
        raise TypeError(f"fast_init: {cls.__name__} has InitVar or ClassVar fields")
    twin = _twin(cls)
    namespace: dict[str, Any] = {"_fi_twin": twin, "_fi_cls": cls, "_fi_retype": object.__setattr__}
    args: list[str] = []
    body: list[str] = ["    _fi_retype(self, '__class__', _fi_twin)"] if twin is not None else []
    for i, f in enumerate(fields):
        if not f.init or f.kw_only or f.default_factory is not dataclasses.MISSING:
            raise TypeError(f"fast_init: {cls.__name__}.{f.name} is not a plain positional field")
        if f.name in ("self", "__class__") or f.name.startswith("_fi_"):
            raise TypeError(f"fast_init: {cls.__name__}.{f.name} clashes with the generated code")
        if f.default is dataclasses.MISSING:
            args.append(f.name)
        else:
            namespace[f"_fi_default{i}"] = f.default
            args.append(f"{f.name}=_fi_default{i}")
        if twin is not None:
            body.append(f"    self.{f.name} = {f.name}")
        else:
            namespace[f"_fi_set{i}"] = cls.__dict__[f.name].__set__  # the slot's member descriptor
            body.append(f"    _fi_set{i}(self, {f.name})")
    if twin is not None:
        body.append("    self.__class__ = _fi_cls")
    if hasattr(cls, "__post_init__"):
        body.append("    self.__post_init__()")
    source = f"def __init__(self, {', '.join(args)}) -> None:\n" + "\n".join(body or ["    pass"]) + "\n"
    exec(source, namespace)
    init = namespace["__init__"]
    init.__qualname__ = f"{cls.__qualname__}.__init__"
    init.__module__ = cls.__module__
    init.__doc__ = cls.__init__.__doc__
    GENERATED_INIT[cls] = cls.__init__
    cls.__init__ = init  # type: ignore[method-assign]
    return cls


def _twin(cls: type) -> type | None:
    """A class of `cls`'s own slots and bases whose instances take plain attribute writes, if an
    instance of `cls` can take it as its class and back (the same layout); else None."""
    twin = type(f"_{cls.__name__}Init", cls.__bases__, {"__slots__": cls.__slots__})  # type: ignore[attr-defined]
    probe: Any = object.__new__(cls)  # its class is swapped below, which mypy cannot follow
    try:
        object.__setattr__(probe, "__class__", twin)
        for name in cls.__slots__:  # type: ignore[attr-defined]
            setattr(probe, name, None)  # the bases may refuse writes too (a frozen base)
        probe.__class__ = cls
    except (TypeError, AttributeError):
        return None
    return twin
