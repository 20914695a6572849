"""Pages of a list, and walking every page by following `next`."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from custody_client.errors import CustodyError

T = TypeVar("T")
Cursor = str | int | None


@dataclass(frozen=True)
class Page(Generic[T]):
    """One page: its items, the cursor of the next page (None on the last), the raw answer."""

    items: list[T]
    next: Cursor
    data: Mapping[str, Any] = field(default_factory=dict)


def page(answer: Mapping[str, Any], key: str) -> Page[Any]:
    return Page(list(answer.get(key) or []), answer.get("next"), answer)


def iterate(list_page: Callable[..., Page[T]], *args: Any, **kwargs: Any) -> Iterator[T]:
    """Every item of every page: call `list_page(*args, after=cursor, **kwargs)` from the
    first page on, passing each page's `next` as `after`, until `next` is null."""
    cursor: Cursor = kwargs.pop("after", None)
    seen: set[Cursor] = set()
    while True:
        current = list_page(*args, after=cursor, **kwargs)
        yield from current.items
        if current.next is None:
            return
        if current.next in seen:
            raise CustodyError(f"the service repeated the page cursor {current.next!r}")
        seen.add(current.next)
        cursor = current.next
