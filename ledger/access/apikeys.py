"""API keys: prefixed so that a leaked key is recognisable, stored only as a hash.

A key reads `cust_<id>_<secret>`; the database keeps `key_<id>`, the role and
SHA-256 of the whole key. Keys belong to one tenant and carry one role.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from dataclasses import dataclass
from enum import StrEnum

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from ledger.errors import Conflict, InvalidRequest, NotFound
from ledger.ids import random_token
from ledger.log.appender import Appender, LogWriter
from ledger.log.entries import ID, EntryType, obj, register
from ledger.log.reader import LogReader, tenant_log_id
from ledger.models import ApiKey, Tenant
from ledger.pages import Key, Page, cut, keyset


class Role(StrEnum):
    """What a principal may do: an API key's role (platform, auditor, admin), or `worker`
    for a worker token, which reaches only its own worker's records and is never a key's."""

    PLATFORM = "platform"
    AUDITOR = "auditor"
    ADMIN = "admin"
    WORKER = "worker"


# The roles an API key can have, as plain strings (they are JSON Schema and OpenAPI enums).
ROLES = tuple(r.value for r in Role if r is not Role.WORKER)
TOKEN_PREFIX = "cust_"
_TOKEN = re.compile(r"^cust_([a-z2-7]{16})_([a-z2-7]{32})$")

APIKEY_CREATED = register(
    EntryType("apikey.created", 1, obj({"key": ID, "role": {"enum": list(ROLES)}}))
)
APIKEY_REVOKED = register(EntryType("apikey.revoked", 1, obj({"key": ID})))


@dataclass(frozen=True)
class Principal:
    """Who calls: an API key of a tenant, or a worker session (role `worker`, `key_id` the
    session's id) that reaches only `worker_id`."""

    tenant_id: str
    role: str
    key_id: str
    worker_id: str | None = None


@dataclass(frozen=True)
class IssuedKey:
    key_id: str
    tenant_id: str
    role: str
    token: str


def _digest(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


def check_role(role: str) -> None:
    if role not in ROLES:
        raise InvalidRequest(f"role must be one of: {', '.join(ROLES)}", "role")


def issue_key(writer: LogWriter, tenant_id: str, log_id: str, role: str) -> IssuedKey:
    """Inside a unit of work: store a new key and record it on the tenant's log."""
    check_role(role)
    suffix = random_token()
    token = f"{TOKEN_PREFIX}{suffix}_{random_token(20)}"
    key_id = f"key_{suffix}"
    writer.session.add(
        ApiKey(
            id=key_id,
            tenant_id=tenant_id,
            role=role,
            secret_hash=_digest(token),
            created_at=writer.now(),
            revoked_at=None,
        )
    )
    writer.append(log_id, "apikey.created", {"key": key_id, "role": role})
    return IssuedKey(key_id, tenant_id, role, token)


class ApiKeyService:
    def __init__(self, appender: Appender) -> None:
        self.appender = appender
        self.db = appender.db

    def create(self, tenant_id: str, role: str) -> IssuedKey:
        check_role(role)
        log_id = tenant_log_id(self.db, tenant_id)
        return self.appender.run([log_id], lambda w: issue_key(w, tenant_id, log_id, role))

    def revoke(self, key_id: str, tenant_id: str | None = None) -> None:
        """Revoke a key; with `tenant_id`, only that tenant's (another's is NotFound)."""
        with self.db.session() as session:
            key = session.get(ApiKey, key_id)
            if key is None or (tenant_id is not None and key.tenant_id != tenant_id):
                raise NotFound("api key", key_id)
            log_id = LogReader(session).log_of_tenant(key.tenant_id).id

        def work(writer: LogWriter) -> None:
            key = writer.session.get(ApiKey, key_id, with_for_update=True)
            assert key is not None
            if key.revoked_at is not None:
                raise Conflict(f"key {key_id} is already revoked")
            key.revoked_at = writer.now()
            writer.append(log_id, "apikey.revoked", {"key": key_id})

        self.appender.run([log_id], work)

    def list(self, tenant_id: str) -> list[ApiKey]:
        with self.db.session() as session:
            if session.get(Tenant, tenant_id) is None:
                raise NotFound("tenant", tenant_id)
            return list(session.scalars(_of_tenant(tenant_id).order_by(*KEY_ORDER)))

    def page(self, tenant_id: str, after: Key | None, limit: int) -> Page[ApiKey]:
        """The tenant's keys, oldest first, `limit` at a time after the key `after`."""
        with self.db.session() as session:
            rows = session.scalars(keyset(_of_tenant(tenant_id), KEY_ORDER, after, limit)).all()
        return cut(rows, limit, lambda k: (k.created_at, k.id))


KEY_ORDER = (ApiKey.created_at, ApiKey.id)


def _of_tenant(tenant_id: str) -> Select[ApiKey]:
    return select(ApiKey).where(ApiKey.tenant_id == tenant_id)


def authenticate(session: Session, token: str) -> Principal | None:
    """The principal of a valid, unrevoked key, or None; constant-time on the secret."""
    match = _TOKEN.match(token)
    if match is None:
        return None
    key_id = f"key_{match.group(1)}"
    key = session.execute(
        select(ApiKey.tenant_id, ApiKey.role, ApiKey.secret_hash).where(
            ApiKey.id == key_id, ApiKey.revoked_at.is_(None)
        )
    ).first()
    if key is None or not hmac.compare_digest(key.secret_hash, _digest(token)):
        return None
    return Principal(key.tenant_id, key.role, key_id)
