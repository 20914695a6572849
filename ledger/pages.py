"""Keyset pagination: a list read one page at a time in a stable, unique order.

Each page starts strictly after the key (the ordering columns) of the last row of the page
before, so rows added or removed between two reads never shift or repeat what follows, as
OFFSET would; the ordering columns must end in a unique one (an id) to make keys unique.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar, TypeVarTuple

from sqlalchemy import Select, tuple_
from sqlalchemy.orm import InstrumentedAttribute

T = TypeVar("T")
Row = TypeVarTuple("Row")
Key = tuple[Any, ...]


@dataclass(frozen=True)
class Page(Generic[T]):
    """Rows of one page, and the key to read the next page after (None on the last page)."""

    rows: list[T]
    next: Key | None


def keyset(
    query: Select[*Row],
    order: Sequence[InstrumentedAttribute[Any]],
    after: Key | None,
    limit: int,
) -> Select[*Row]:
    """`query` in `order`, from just after `after`, with one row more than `limit`: the extra
    row only tells whether another page follows."""
    if after is not None:
        if len(after) != len(order):
            raise ValueError(f"a key of {len(order)} values was expected, got {len(after)}")
        query = query.where(tuple_(*order) > tuple(after))
    return query.order_by(*order).limit(limit + 1)


def cut(rows: Sequence[T], limit: int, key: Callable[[T], Key]) -> Page[T]:
    """The page made of the first `limit` of `rows` (read with `keyset`)."""
    kept = list(rows[:limit])
    return Page(kept, key(kept[-1]) if len(rows) > limit else None)
