"""Cursors of every list: `?limit=&after=`, answered with the list and `next`.

A cursor is the key of the last row of a page (see ledger.pages), written as url-safe
base64 of a JSON array `[list name, key values...]`. Clients treat it as opaque; a cursor
that does not decode to a key of the list it is sent to is a 422 naming `after`, so a forged
one can neither fail a query nor read another list's rows (the tenant filter applies as
always).
"""

from __future__ import annotations

import base64
import binascii
import json
from datetime import UTC, datetime
from typing import Any

from apiflask import Schema
from apiflask.exceptions import HTTPError
from apiflask.fields import Integer, String
from apiflask.validators import Length, Range
from marshmallow import RAISE

from ledger.pages import Key

MAX_LENGTH = 512
MAX_INT = 2**63 - 1  # a BIGINT
MAX_TEXT = 200


class PageQuery(Schema):
    """The query of every list (lists with filters add theirs)."""

    class Meta:
        unknown = RAISE

    after = String(
        load_default=None,
        validate=Length(1, MAX_LENGTH),
        metadata={"description": "the `next` value of the previous page; omit for the first"},
    )
    limit = Integer(
        load_default=100,
        validate=Range(min=1, max=1000),
        metadata={"description": "at most this many, 1 to 1000 (100 by default)"},
    )


class Paged(Schema):
    """What every list answers beside its rows."""

    next = String(
        allow_none=True,
        metadata={"description": "pass as `after` for the next page; null on the last page"},
    )


class Cursor:
    """The cursor of one list: its name and the types of its key's values, in order."""

    def __init__(self, name: str, *types: type) -> None:
        self.name, self.types = name, types

    def encode(self, key: Key | None) -> str | None:
        if key is None:
            return None
        values = [v.isoformat() if isinstance(v, datetime) else v for v in key]
        raw = json.dumps([self.name, *values], separators=(",", ":")).encode()
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()

    def decode(self, cursor: str | None) -> Key | None:
        """The key in `cursor` (None for none); 422 naming `after` unless it is this list's."""
        if cursor is None:
            return None
        try:
            raw = base64.b64decode(cursor + "=" * (-len(cursor) % 4), b"-_", validate=True)
            decoded = json.loads(raw)
            if not isinstance(decoded, list) or decoded[:1] != [self.name]:
                raise ValueError("not a cursor of this list")
            return tuple(_value(kind, v) for kind, v in zip(self.types, decoded[1:], strict=True))
        except (ValueError, TypeError, OverflowError, binascii.Error):  # JSON, Unicode: ValueError
            raise HTTPError(
                422,
                detail={
                    "query": {
                        "after": ["Not a cursor of this list: pass the `next` value of a page."]
                    }
                },
            ) from None


def _value(kind: type, value: Any) -> Any:
    """One value of a key, checked so that the database can take it."""
    if kind is datetime and isinstance(value, str):
        moment = datetime.fromisoformat(value)
        if moment.tzinfo is None:
            raise ValueError("a naive time")
        return moment.astimezone(UTC)  # OverflowError at the ends of the calendar
    if kind is int and type(value) is int and 0 <= value <= MAX_INT:
        return value
    if kind is str and isinstance(value, str) and len(value) <= MAX_TEXT and "\x00" not in value:
        return value
    raise ValueError(f"not a {kind.__name__}")
