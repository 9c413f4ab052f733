"""A long run's fills, trades and guard events held packed, not as objects (issue 14).

A year of an always-in-the-market rulebook makes ~38,000 fills and ~19,000 round trips; as
frozen dataclasses of Decimals that is ~1 KB each, and the peak memory of the run grew with
them. Here the items are kept as rows of plain values (Decimals as their exact text, which
`Decimal(str(d))` gives back to the digit, exponent and sign included) in batches: the open
batch as the objects themselves, each full one marshalled and zlib-compressed (~25 bytes an
item). Reading is a stream: the items are rebuilt batch by batch as they are iterated, so the
summary, the report and the JSON trade list walk a year of trades holding one batch at a time.

A `Packed` is a read-only `Sequence` for its readers: `len`, iteration, indexing, slices (a
list), and equality with any sequence of the same items (`result.fills == []` holds).
"""

from __future__ import annotations

import marshal
import zlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from itertools import islice
from typing import Any, Generic, TypeVar, overload

T = TypeVar("T")

BATCH = 1024  # items a packed batch holds: ~25 KB compressed for fills; one batch is what a reader holds


class Packed(Sequence[T], Generic[T]):
    """Items appended in order, kept as compressed batches of rows (`to_row` / `from_row`)."""

    __slots__ = ("_batches", "_from_row", "_open", "_to_row")

    def __init__(
        self,
        to_row: Callable[[T], tuple[Any, ...]],
        from_row: Callable[[tuple[Any, ...]], T],
        items: Iterable[T] = (),
    ) -> None:
        self._to_row = to_row
        self._from_row = from_row
        self._batches: list[bytes] = []
        self._open: list[T] = []
        for item in items:
            self.append(item)

    def append(self, item: T) -> None:
        self._open.append(item)
        if len(self._open) == BATCH:
            rows = tuple(map(self._to_row, self._open))
            self._batches.append(zlib.compress(marshal.dumps(rows), 1))
            self._open = []

    def _batch(self, k: int) -> list[T]:
        if k == len(self._batches):
            return self._open
        return list(map(self._from_row, marshal.loads(zlib.decompress(self._batches[k]))))

    def __len__(self) -> int:
        return len(self._batches) * BATCH + len(self._open)

    def __iter__(self) -> Iterator[T]:
        for k in range(len(self._batches)):
            yield from self._batch(k)
        # The open batch last, read as it is then (a reader may iterate while the run appends).
        yield from list(self._open)

    @overload
    def __getitem__(self, index: int) -> T: ...
    @overload
    def __getitem__(self, index: slice) -> list[T]: ...
    def __getitem__(self, index: int | slice) -> T | list[T]:
        n = len(self)
        if isinstance(index, slice):
            start, stop, step = index.indices(n)
            if step == 1:
                return list(islice(self, start, max(start, stop)))
            return list(self)[index]
        if index < 0:
            index += n
        if not 0 <= index < n:
            raise IndexError("packed index out of range")
        return self._batch(index // BATCH)[index % BATCH]

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Sequence) or isinstance(other, str | bytes):
            return NotImplemented
        return len(self) == len(other) and all(a == b for a, b in zip(self, other, strict=True))

    __hash__ = None  # type: ignore[assignment]  # mutable, like a list

    def __repr__(self) -> str:
        return f"Packed({len(self)} items)"

    def __reduce__(self) -> tuple[Any, ...]:
        # A result crossing a process (a sweep's worker) goes as a plain list.
        return (list, (list(self),))
