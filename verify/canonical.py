"""RFC 8785 (JCS) canonical JSON for what Custody signs and hashes: objects, arrays,
strings, integers, booleans and null (there are no floats on the log or in statements).

For that subset JCS is: object members sorted by the UTF-16 code units of their names, no
insignificant whitespace, strings escaped as ECMAScript's JSON.stringify does (the short
escapes, other control characters as lowercase \\u00xx, everything else as UTF-8), and
integers in plain decimal within the I-JSON range. The ledger signs with the `rfc8785`
library; the tests check that both give the same bytes.
"""

from __future__ import annotations

import json
from typing import Any

_MAX_SAFE = 2**53 - 1


class CanonicalError(ValueError):
    """A value outside the subset: a float, a non-string key, an unsafe integer, a lone
    surrogate."""


def canonical_json(value: Any) -> bytes:
    return _write(value).encode("utf-8")


def _utf16_key(name: str) -> bytes:
    return name.encode("utf-16-be", "surrogatepass")


def _string(text: str) -> str:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise CanonicalError("strings must be valid Unicode (no lone surrogates)") from exc
    return json.dumps(text, ensure_ascii=False)


def _write(value: Any) -> str:
    if value is None or isinstance(value, bool):
        return json.dumps(value)
    if isinstance(value, int):
        if abs(value) > _MAX_SAFE:
            raise CanonicalError(f"integer {value} is outside the I-JSON range")
        return str(value)
    if isinstance(value, str):
        return _string(value)
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(_write(v) for v in value) + "]"
    if isinstance(value, dict):
        if not all(isinstance(k, str) for k in value):
            raise CanonicalError("object keys must be strings")
        members = sorted(value.items(), key=lambda kv: _utf16_key(kv[0]))
        return "{" + ",".join(f"{_string(k)}:{_write(v)}" for k, v in members) + "}"
    raise CanonicalError(f"{type(value).__name__} values are not canonical JSON here")
