"""API-key authentication and roles. Keys are tenant-scoped; a key never reaches another
tenant's data: such a request gets 404, as if the thing did not exist."""

from __future__ import annotations

from apiflask import HTTPTokenAuth
from flask import g

from api.deps import container, session
from ledger.access.apikeys import Principal, Role, authenticate
from ledger.access.links import TOKEN_PREFIX
from ledger.consent.consents import find_worker
from ledger.errors import NotFound

auth = HTTPTokenAuth(
    scheme="Bearer",
    description="An API key (`Bearer cust_...`), or a worker token (`Bearer cwk_...`) that "
    "reaches only its own worker's records.",
)


def _roles(*roles: Role) -> list[str]:
    # Plain strings: apiflask puts each list in the OpenAPI document as it is.
    return [role.value for role in roles]


# Who may call what: every endpoint names one of these lists.
ANY_ROLE = _roles(Role.PLATFORM, Role.AUDITOR, Role.ADMIN)  # any API key
WORKER_TOO = _roles(Role.PLATFORM, Role.AUDITOR, Role.ADMIN, Role.WORKER)
WRITERS = _roles(Role.PLATFORM, Role.ADMIN)  # those that record and decide
WRITERS_AND_WORKER = _roles(Role.PLATFORM, Role.ADMIN, Role.WORKER)
AUDITORS = _roles(Role.AUDITOR, Role.ADMIN)
ADMINS = _roles(Role.ADMIN)
WORKERS = _roles(Role.WORKER)  # worker tokens only


@auth.verify_token  # type: ignore[untyped-decorator]
def _verify(token: str) -> Principal | None:
    principal = (
        container().access.authenticate(session(), token)
        if token.startswith(TOKEN_PREFIX)
        else authenticate(session(), token)
    )
    if principal is not None:
        g.principal = principal
    return principal


@auth.get_user_roles  # type: ignore[untyped-decorator]
def _role_of(principal: Principal) -> list[str]:
    return [principal.role]


def principal() -> Principal:
    current: Principal = g.principal
    return current


def worker_in_path(worker: str) -> str:
    """The worker a path names (pseudonym, platform reference, or `me` for a worker token),
    as its pseudonym. A worker token reaches only itself: any other worker is not found."""
    who = principal()
    if who.worker_id is not None and worker in ("me", who.worker_id):
        return who.worker_id
    found = find_worker(session(), who.tenant_id, worker).id
    if who.worker_id is not None and found != who.worker_id:
        raise NotFound("worker")
    return found


def visible(worker_id: str | None, kind: str) -> None:
    """Not found, to a worker token, unless the record is its own worker's."""
    who = principal()
    if who.worker_id is not None and worker_id != who.worker_id:
        raise NotFound(kind)
