"""Signed receipts: compact JWS (RFC 7515) with alg EdDSA over RFC 8785 canonical JSON.

The signature is made by the statement key through the `Signer` interface, so private keys
never leave the key store; anyone can check a receipt with a stock JWS library, or with
`verify.jws`, and the key published at /.well-known/custody-keys (its `kid` is in the
protected header).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ledger.log.canonical import canonical_json
from ledger.log.signing import Signer
from verify.jws import RECEIPT_TYPE, b64url


def sign_receipt(signer: Signer, claims: Mapping[str, Any], typ: str = RECEIPT_TYPE) -> str:
    header = canonical_json({"alg": "EdDSA", "kid": signer.kid, "typ": typ})
    signing_input = f"{b64url(header)}.{b64url(canonical_json(dict(claims)))}"
    return f"{signing_input}.{b64url(signer.sign(signing_input.encode()))}"
