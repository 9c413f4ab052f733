"""The checked form of an expression: the only shapes the code generator accepts.

The checker turns a Python AST into these nodes after every name, function, operator and
type has passed; anything the language does not allow has no node type here, so it cannot
reach code generation even through a checker bug.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import Literal

Value = bool | int | float | str
UnaryOpName = Literal["not", "-", "+"]
BinaryOpName = Literal["+", "-", "*", "/", "//", "%"]
CompareOpName = Literal["==", "!=", "<", "<=", ">", ">="]
CallName = Literal["abs", "min", "max", "round", "clamp", "pct"]
BoolOpName = Literal["and", "or"]


@dataclass(frozen=True, slots=True)
class Const:
    value: Value


@dataclass(frozen=True, slots=True)
class Ref:
    """A value read from the env at run time; `prev` reads the engine's previous copy."""

    name: str
    has_prev: bool
    prev: bool = False


@dataclass(frozen=True, slots=True)
class Param:
    """A rulebook param: a constant, inlined, but still reported as a name read."""

    name: str
    value: Value


@dataclass(frozen=True, slots=True)
class Unary:
    op: UnaryOpName
    operand: Node


@dataclass(frozen=True, slots=True)
class Binary:
    op: BinaryOpName
    left: Node
    right: Node


@dataclass(frozen=True, slots=True)
class Power:
    base: Node
    exponent: int | float  # a literal, |exponent| <= 64


@dataclass(frozen=True, slots=True)
class BoolOp:
    op: BoolOpName
    values: tuple[Node, ...]


@dataclass(frozen=True, slots=True)
class Compare:
    left: Node
    ops: tuple[CompareOpName, ...]
    comparators: tuple[Node, ...]


@dataclass(frozen=True, slots=True)
class IfExp:
    test: Node
    body: Node
    orelse: Node


@dataclass(frozen=True, slots=True)
class Call:
    fn: CallName
    args: tuple[Node, ...]


@dataclass(frozen=True, slots=True)
class Cross:
    """crossover (up) / crossunder: prev(a) <= prev(b) and a > b, or the mirror image."""

    up: bool
    a: Node
    b: Node


Node = Const | Ref | Param | Unary | Binary | Power | BoolOp | Compare | IfExp | Call | Cross


def children(node: Node) -> Iterator[Node]:
    match node:
        case Const() | Ref() | Param():
            return
        case Unary(operand=x):
            yield x
        case Binary(left=a, right=b) | Cross(a=a, b=b):
            yield a
            yield b
        case Power(base=x):
            yield x
        case BoolOp(values=xs) | Call(args=xs):
            yield from xs
        case Compare(left=a, comparators=xs):
            yield a
            yield from xs
        case IfExp(test=t, body=b, orelse=o):
            yield t
            yield b
            yield o


def walk(node: Node) -> Iterator[Node]:
    stack = [node]
    while stack:
        n = stack.pop()
        yield n
        stack.extend(children(n))


def names_read(node: Node) -> frozenset[str]:
    """Every scope name the expression reads, params included, current or previous."""
    return frozenset(n.name for n in walk(node) if isinstance(n, Ref | Param))


def prev_names(node: Node) -> frozenset[str]:
    """Names whose previous value the engine must keep for this expression."""
    return frozenset(
        r.name
        for c in walk(node)
        if isinstance(c, Cross)
        for r in walk(to_prev(Binary("-", c.a, c.b)))
        if isinstance(r, Ref) and r.prev
    )


def to_prev(node: Node) -> Node:
    """`node` as it was one update ago: series-valued names read their previous value;
    params and engine values (time, hour, weekday) have none and read as they are."""
    match node:
        case Ref(has_prev=True):
            return replace(node, prev=True)
        case Const() | Ref() | Param():
            return node
        case Unary(operand=x):
            return replace(node, operand=to_prev(x))
        case Binary(left=a, right=b):
            return replace(node, left=to_prev(a), right=to_prev(b))
        case Power(base=x):
            return replace(node, base=to_prev(x))
        case BoolOp(values=xs):
            return replace(node, values=tuple(to_prev(x) for x in xs))
        case Call(args=xs):
            return replace(node, args=tuple(to_prev(x) for x in xs))
        case Compare(left=a, comparators=xs):
            return replace(node, left=to_prev(a), comparators=tuple(to_prev(x) for x in xs))
        case IfExp(test=t, body=b, orelse=o):
            return replace(node, test=to_prev(t), body=to_prev(b), orelse=to_prev(o))
        case Cross():
            raise AssertionError("the checker rejects crossover inside crossover")
