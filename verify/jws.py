"""Compact JWS (RFC 7515) with alg EdDSA: how receipts, deletion certificates and manifests
are signed (by the statement key), and how anyone checks one against the published keys.

The signer lives with the ledger (it needs the key store and canonical JSON); reading and
checking a token needs only the standard library and PyNaCl, so it lives here.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from collections.abc import Iterable, Mapping
from typing import Any

from nacl.exceptions import BadSignatureError
from nacl.signing import VerifyKey

RECEIPT_TYPE = "custody-receipt+jws"
CERTIFICATE_TYPE = "custody-deletion-certificate+jws"
MANIFEST_TYPE = "custody-manifest+jws"


class ReceiptError(ValueError):
    """A token that is malformed or whose signature does not verify."""


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64url(text: str) -> bytes:
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError) as exc:
        raise ReceiptError("not base64url") from exc


def own_claims(token: str) -> dict[str, Any]:
    """The claims of a token this service signed itself, read without checking it."""
    claims: dict[str, Any] = json.loads(unb64url(token.split(".")[1]))
    return claims


def receipt_hash(token: str) -> str:
    """What the log records of a receipt: SHA-256 of the compact JWS, hex."""
    return hashlib.sha256(token.encode()).hexdigest()


def verify_receipt(token: str, keys: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """Check a token against published keys (JWK-like dicts with kid, x, purpose); return
    its claims."""
    parts = token.strip().split(".")
    if len(parts) != 3:
        raise ReceiptError("a compact JWS has three parts")
    try:
        header = json.loads(unb64url(parts[0]))
        claims = json.loads(unb64url(parts[1]))
    except ValueError as exc:
        raise ReceiptError("header or payload is not JSON") from exc
    if not isinstance(header, dict) or header.get("alg") != "EdDSA":
        raise ReceiptError("receipts are signed with alg EdDSA")
    key = next((k for k in keys if k.get("kid") == header.get("kid")), None)
    if key is None or key.get("purpose") != "statement":
        raise ReceiptError(f"key {header.get('kid')!r} is not a published statement key")
    try:
        VerifyKey(unb64url(key["x"])).verify(f"{parts[0]}.{parts[1]}".encode(), unb64url(parts[2]))
    except (BadSignatureError, ValueError) as exc:
        raise ReceiptError("signature does not verify") from exc
    if not isinstance(claims, dict):
        raise ReceiptError("payload is not a JSON object")
    return claims
