"""The log entry format and the registry of entry types.

An entry is RFC 8785 canonical JSON with exactly these fields:

    v        schema version of this entry's type (integer)
    log      the log's id
    seq      the entry's index in the log
    ts       UTC time, RFC 3339 with microseconds and `Z`
    type     what happened, e.g. "log.created"
    subject  a random pseudonym the entry is about, or null
    data     the type's payload, checked against the type's JSON Schema
    prev     base64 leaf hash of the previous entry, null for the first

No floats anywhere and no unknown fields: every type's schema sets
`additionalProperties: false`. Nothing personal: subjects are pseudonyms, and payloads hold
ids, vocabulary terms and salted commitments only.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import fastjsonschema

from ledger.clock import format_ts
from ledger.errors import InvalidEntry
from ledger.log.canonical import canonical_json

PSEUDONYM = "^[a-z]{1,8}_[a-z0-9]{8,64}$"


@dataclass(frozen=True)
class EntryType:
    name: str
    version: int
    data_schema: Mapping[str, Any]

    def validator(self) -> Callable[[Any], Any]:
        """The schema compiled to Python (fastjsonschema): entries are checked on every
        append, and a batch decision holds thousands of items."""
        return fastjsonschema.compile(dict(self.data_schema))


_TYPES: dict[str, tuple[EntryType, Callable[[Any], Any]]] = {}


def register(entry_type: EntryType) -> EntryType:
    """Add an entry type; each domain module registers its own at import."""
    if entry_type.data_schema.get("additionalProperties") is not False:
        raise ValueError(f"{entry_type.name}: schema must forbid unknown fields")
    _TYPES[entry_type.name] = (entry_type, entry_type.validator())
    return entry_type


def obj(required: Mapping[str, Any], optional: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """A closed JSON Schema object: these properties, nothing else."""
    return {
        "type": "object",
        "properties": {**required, **(optional or {})},
        "required": sorted(required),
        "additionalProperties": False,
    }


ID = {"type": "string", "pattern": "^[a-z]{1,8}_[a-z0-9]{8,64}$"}
KID = {"type": "string", "pattern": "^[0-9a-f]{16}$"}
TS = {"type": "string", "pattern": r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$"}

LOG_CREATED = register(
    EntryType("log.created", 1, obj({"tenant": ID, "origin": {"type": "string"}}))
)


def build_entry(
    *,
    log_id: str,
    seq: int,
    ts: datetime,
    type: str,
    subject: str | None,
    data: Mapping[str, Any],
    prev: bytes | None,
) -> bytes:
    """Validate and serialize one entry; these bytes are what gets hashed and stored."""
    try:
        entry_type, validator = _TYPES[type]
    except KeyError:
        raise InvalidEntry(f"unknown entry type {type!r}") from None
    try:
        validator(data)
    except fastjsonschema.JsonSchemaValueException as error:
        raise InvalidEntry(f"{type}: {error.message}") from None
    if subject is not None and not re.fullmatch(PSEUDONYM, subject):
        raise InvalidEntry("subject must be a pseudonym")
    return canonical_json(
        {
            "v": entry_type.version,
            "log": log_id,
            "seq": seq,
            "ts": format_ts(ts),
            "type": type,
            "subject": subject,
            "data": dict(data),
            "prev": base64.b64encode(prev).decode() if prev is not None else None,
        }
    )
