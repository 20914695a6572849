"""Signed receipts: compact JWS (RFC 7515) with alg EdDSA over RFC 8785 canonical JSON.

The signature is made by the statement key through the `Signer` interface, so private keys
never leave the key store; anyone can check a receipt with a stock JWS library and the key
published at /.well-known/custody-keys (its `kid` is in the protected header).
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

from ledger.canonical import canonical_json
from ledger.signing import Signer

RECEIPT_TYPE = "custody-receipt+jws"


class ReceiptError(ValueError):
    """A receipt that is malformed or whose signature does not verify."""


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64url(text: str) -> bytes:
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError) as exc:
        raise ReceiptError("not base64url") from exc


def sign_receipt(signer: Signer, claims: Mapping[str, Any], typ: str = RECEIPT_TYPE) -> str:
    header = canonical_json({"alg": "EdDSA", "kid": signer.kid, "typ": typ})
    signing_input = f"{_b64url(header)}.{_b64url(canonical_json(dict(claims)))}"
    return f"{signing_input}.{_b64url(signer.sign(signing_input.encode()))}"


def own_claims(token: str) -> dict[str, Any]:
    """The claims of a token this service signed itself, read without checking it."""
    claims: dict[str, Any] = json.loads(_unb64url(token.split(".")[1]))
    return claims


def receipt_hash(token: str) -> str:
    """What the log records of a receipt: SHA-256 of the compact JWS, hex."""
    return hashlib.sha256(token.encode()).hexdigest()


def verify_receipt(token: str, keys: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """Check a receipt against published keys (JWK-like dicts with kid, x, purpose)."""
    parts = token.strip().split(".")
    if len(parts) != 3:
        raise ReceiptError("a compact JWS has three parts")
    try:
        header = json.loads(_unb64url(parts[0]))
        claims = json.loads(_unb64url(parts[1]))
    except ValueError as exc:
        raise ReceiptError("header or payload is not JSON") from exc
    if not isinstance(header, dict) or header.get("alg") != "EdDSA":
        raise ReceiptError("receipts are signed with alg EdDSA")
    key = next((k for k in keys if k.get("kid") == header.get("kid")), None)
    if key is None or key.get("purpose") != "statement":
        raise ReceiptError(f"key {header.get('kid')!r} is not a published statement key")
    try:
        VerifyKey(_unb64url(key["x"])).verify(
            f"{parts[0]}.{parts[1]}".encode(), _unb64url(parts[2])
        )
    except (BadSignatureError, ValueError) as exc:
        raise ReceiptError("signature does not verify") from exc
    if not isinstance(claims, dict):
        raise ReceiptError("payload is not a JSON object")
    return claims
