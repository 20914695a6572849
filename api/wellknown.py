"""/.well-known/custody-keys: every public key, current and retired, with its lifetime."""

from __future__ import annotations

from typing import Any

from apiflask import APIBlueprint

from api import schemas
from api.deps import container, session

bp = APIBlueprint("wellknown", __name__, tag="Keys")


@bp.get("/.well-known/custody-keys")
@bp.output(schemas.PublicKeysOut)
def keys() -> dict[str, Any]:
    """Public keys as a JWK set (Ed25519, `kid`, purpose, status, validity range); log keys
    also as C2SP verifier keys. Retired keys stay listed so old signatures still verify."""
    built = container()
    return {"origin": built.settings.origin, "keys": built.keys.published(session())}


@bp.get("/healthz")
@bp.doc(hide=True)
def healthz() -> dict[str, str]:
    return {"status": "ok"}
