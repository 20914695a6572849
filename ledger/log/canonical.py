"""Canonical JSON (RFC 8785, JCS): the only bytes that are ever hashed or signed."""

from __future__ import annotations

from typing import Any

import rfc8785

from ledger.errors import InvalidEntry


def canonical_json(value: Any) -> bytes:
    """Serialize `value` as RFC 8785 bytes; floats are refused (no floats on the log)."""
    _refuse_floats(value, "$")
    try:
        return rfc8785.dumps(value)
    except rfc8785.CanonicalizationError as exc:
        raise InvalidEntry(f"cannot canonicalize: {exc}") from exc


def _refuse_floats(value: Any, path: str) -> None:
    if isinstance(value, float):
        raise InvalidEntry(f"{path}: floats are not allowed; use integers or strings")
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                raise InvalidEntry(f"{path}: object keys must be strings")
            _refuse_floats(item, f"{path}.{key}")
    elif isinstance(value, (list, tuple)):
        for i, item in enumerate(value):
            _refuse_floats(item, f"{path}[{i}]")
