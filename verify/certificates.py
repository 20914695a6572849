"""Deletion certificates, checked offline: the JWS signature (statement key), the
checkpoint (log key), that the tombstone is in that checkpoint, and that the tombstone
names exactly the certificate's erasure, items, reason and key destruction."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from verify.anchored import agrees, open_statement


class CertificateError(ValueError):
    """A certificate that is malformed, or whose signature or proof does not verify."""


def _matches(claims: dict[str, Any], data: dict[str, Any]) -> bool:
    return bool(
        data["erasure"] == claims["certificate"]
        and data["items"] == sorted(item["id"] for item in claims["items"])
        and data["reason"] == claims["reason"]
        and data["key_destroyed"] == claims["key_destroyed"]
    )


def verify_certificate(token: str, keys_document: Mapping[str, Any]) -> dict[str, Any]:
    """Check a certificate against a key document from /.well-known/custody-keys; return its
    claims."""
    statement = open_statement(
        token,
        keys_document,
        pointer="tombstone",
        entry_type="items.erased",
        error=CertificateError,
        what="certificate",
    )
    agrees(statement, _matches, CertificateError, "certificate")
    return statement.claims
