"""Tenants: each platform gets its own log, created with the tenant, and a first API key."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select

from ledger.access.apikeys import IssuedKey, Role, check_role, issue_key
from ledger.errors import InvalidRequest
from ledger.ids import new_id
from ledger.log.appender import Appender, LogWriter
from ledger.models import Log, Tenant


@dataclass(frozen=True)
class CreatedTenant:
    tenant_id: str
    log_id: str
    origin: str
    api_key: IssuedKey


class TenantService:
    def __init__(self, appender: Appender, origin: str) -> None:
        self.appender = appender
        self.origin = origin

    def create(self, name: str, role: str = Role.ADMIN) -> CreatedTenant:
        name = name.strip()
        if not 0 < len(name) <= 200:
            raise InvalidRequest("tenant name must be 1 to 200 characters", "name")
        check_role(role)
        tenant_id, log_id = new_id("ten"), new_id("log")
        origin = f"{self.origin}/{tenant_id}"

        def work(writer: LogWriter) -> CreatedTenant:
            writer.session.add(Tenant(id=tenant_id, name=name, created_at=writer.now()))
            writer.session.flush()
            writer.create_log(log_id, tenant_id, origin)
            writer.append(log_id, "log.created", {"tenant": tenant_id, "origin": origin})
            key = issue_key(writer, tenant_id, log_id, role)
            return CreatedTenant(tenant_id, log_id, origin, key)

        return self.appender.run([], work)

    def exists(self, tenant_id: str) -> bool:
        with self.appender.db.session() as session:
            return session.get(Tenant, tenant_id) is not None

    def list(self) -> list[tuple[Tenant, Log]]:
        with self.appender.db.session() as session:
            rows = session.execute(
                select(Tenant, Log)
                .join(Log, Log.tenant_id == Tenant.id)
                .order_by(Tenant.created_at)
            ).all()
            return [(row[0], row[1]) for row in rows]
