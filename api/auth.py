"""API-key authentication and roles. Keys are tenant-scoped; a key never reaches another
tenant's data: such a request gets 404, as if the thing did not exist."""

from __future__ import annotations

from apiflask import HTTPTokenAuth
from flask import g

from api.deps import session
from ledger.apikeys import Principal, authenticate

auth = HTTPTokenAuth(scheme="Bearer", description="An API key: `Authorization: Bearer cust_...`")

ANY_ROLE = ["platform", "auditor", "admin"]


@auth.verify_token  # type: ignore[untyped-decorator]
def _verify(token: str) -> Principal | None:
    principal = authenticate(session(), token)
    if principal is not None:
        g.principal = principal
    return principal


@auth.get_user_roles  # type: ignore[untyped-decorator]
def _roles(principal: Principal) -> list[str]:
    return [principal.role]


def principal() -> Principal:
    current: Principal = g.principal
    return current
