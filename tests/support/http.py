"""Helpers for driving the API in tests: auth headers, a minimal consent, offline JWS checks."""

from __future__ import annotations

import base64
import json
from typing import Any

from jwcrypto import jwk, jws

from tests.support.factories import CONSENT_TERMS

PROBLEM = "application/problem+json"
MINIMAL = CONSENT_TERMS  # a minimal consent's fields


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def verify_with_jwcrypto(token: str, keys_doc: dict[str, Any]) -> dict[str, Any]:
    """Offline check with jwcrypto and the published JWKs: no code shared with the service."""
    header = json.loads(base64.urlsafe_b64decode(token.split(".")[0] + "=="))
    key = next(k for k in keys_doc["keys"] if k["kid"] == header["kid"])
    verifier = jws.JWS()
    verifier.deserialize(token)
    verifier.verify(jwk.JWK(kty="OKP", crv="Ed25519", x=key["x"]), alg="EdDSA")
    claims: dict[str, Any] = json.loads(verifier.payload)
    return claims


def log_entries(client: Any, tenant: Any) -> list[dict[str, Any]]:
    page = client.get(
        f"/v1/logs/{tenant.log_id}/entries?start=0&end=1000", headers=auth(tenant.api_key.token)
    )
    return [json.loads(base64.b64decode(e["entry"])) for e in page.json["entries"]]
