"""Telling the copies: signed webhooks to the platform's endpoints after each erasure.

Messages follow Standard Webhooks: a JSON body `{type, timestamp, data}` and the headers
`webhook-id`, `webhook-timestamp` and `webhook-signature` (`v1,` + base64 HMAC-SHA256 of
`id.timestamp.body` under the endpoint's `whsec_` secret). A delivery is retried with
backoff until the endpoint answers 2xx or the schedule runs out; then it is `failed` and
reported. Delivery happens outside any database transaction: a runner claims a batch of due
deliveries (`FOR UPDATE SKIP LOCKED` on PostgreSQL; SQLite's write transactions run one at a
time) by moving their next attempt a lease ahead, so several runners never send the same
one at once, and a runner that dies leaves its claims to fall due again after the lease.
"""

from __future__ import annotations

import base64
import ipaddress
import json
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from urllib.parse import urlsplit

import urllib3
from sqlalchemy import Select, select
from sqlalchemy.orm import Session
from standardwebhooks.webhooks import Webhook

from ledger.clock import Clock, format_ts
from ledger.errors import InvalidRequest, NotFound
from ledger.ids import new_id
from ledger.log.appender import Appender, LogWriter
from ledger.log.entries import ID, EntryType, obj, register
from ledger.log.reader import tenant_log_id
from ledger.pages import Key, Page, cut, keyset
from ledger.vault.vault import Vault
from retention.erasure import ErasureStatus
from retention.models import Erasure, WebhookDelivery, WebhookEndpoint

EVENT = "erasure.completed"


class DeliveryStatus(StrEnum):
    """A message is `pending` (due now or at its next attempt) until the endpoint answers
    2xx (`delivered`) or the schedule runs out (`failed`)."""

    PENDING = "pending"
    DELIVERED = "delivered"
    FAILED = "failed"


# After the first attempt, wait this long before each retry (the Standard Webhooks schedule).
SCHEDULE = (
    timedelta(seconds=5),
    timedelta(minutes=5),
    timedelta(minutes=30),
    timedelta(hours=2),
    timedelta(hours=5),
    timedelta(hours=10),
    timedelta(hours=10),
)
MAX_ENDPOINTS = 10
TIMEOUT = urllib3.Timeout(connect=5.0, read=15.0)
CLAIM_LEASE = timedelta(minutes=2)  # longer than a batch's sends can take at TIMEOUT
CLAIM_BATCH = 5
_LOOPBACK = ("localhost",)

ENDPOINT_ADDED = register(EntryType("webhook.endpoint_added", 1, obj({"endpoint": ID})))
ENDPOINT_REMOVED = register(EntryType("webhook.endpoint_removed", 1, obj({"endpoint": ID})))


@dataclass(frozen=True)
class NewEndpoint:
    endpoint: WebhookEndpoint
    secret: str  # whsec_..., shown once


@dataclass
class Delivered:
    delivered: int = 0
    retrying: int = 0
    failed: int = 0

    @property
    def attempted(self) -> int:
        return self.delivered + self.retrying + self.failed


def _check_url(url: str) -> str:
    parts = urlsplit(url)
    host = parts.hostname or ""
    try:
        loopback = host in _LOOPBACK or ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if len(url) > 500 or not host or parts.username or parts.password or parts.fragment:
        raise InvalidRequest("url must be an absolute URL without credentials", "url")
    if parts.scheme != "https" and not (parts.scheme == "http" and loopback):
        raise InvalidRequest("url must use https (plain http only to this machine)", "url")
    return url


def message(erasure: Erasure, items: Sequence[tuple[str, str, bytes]]) -> dict[str, object]:
    """The `data` of an erasure.completed message."""
    assert erasure.erased_at is not None and erasure.confirm_by is not None
    return {
        "erasure": erasure.id,
        "reason": erasure.reason,
        "request": erasure.request_id,
        "worker": erasure.worker_id,
        "items": [{"id": i, "kind": k, "sha256": h.hex()} for i, k, h in sorted(items)],
        "erased_at": format_ts(erasure.erased_at),
        "log_index": erasure.log_index,
        "certificate": f"/v1/erasures/{erasure.id}/certificate",
        "confirm_by": format_ts(erasure.confirm_by),
        "confirm": f"/v1/erasures/{erasure.id}/confirmation",
    }


class Webhooks:
    def __init__(self, appender: Appender, vault: Vault, clock: Clock) -> None:
        self.appender = appender
        self.vault = vault
        self.clock = clock
        self.http = urllib3.PoolManager(retries=False, timeout=TIMEOUT)

    # Endpoints ---------------------------------------------------------------------------

    def add(self, tenant_id: str, url: str) -> NewEndpoint:
        _check_url(url)
        log_id = tenant_log_id(self.appender.db, tenant_id)
        secret = secrets.token_bytes(32)

        def work(writer: LogWriter) -> NewEndpoint:
            if len(self.endpoints(writer.session, tenant_id)) >= MAX_ENDPOINTS:
                raise InvalidRequest(f"a tenant has at most {MAX_ENDPOINTS} endpoints", "url")
            endpoint_id = new_id("whe")
            endpoint = WebhookEndpoint(
                id=endpoint_id,
                tenant_id=tenant_id,
                url=url,
                secret=self.vault.seal(secret, endpoint_id),
                created_at=writer.now(),
            )
            writer.session.add(endpoint)
            writer.append(log_id, "webhook.endpoint_added", {"endpoint": endpoint_id})
            return NewEndpoint(endpoint, "whsec_" + base64.b64encode(secret).decode())

        added: NewEndpoint = self.appender.run([log_id], work)
        return added

    @staticmethod
    def endpoints(session: Session, tenant_id: str) -> list[WebhookEndpoint]:
        return list(session.scalars(_endpoints(tenant_id).order_by(*ENDPOINT_ORDER)))

    @staticmethod
    def page(
        session: Session, tenant_id: str, after: Key | None, limit: int
    ) -> Page[WebhookEndpoint]:
        """The tenant's endpoints in use, oldest first, `limit` at a time after `after`."""
        query = keyset(_endpoints(tenant_id), ENDPOINT_ORDER, after, limit)
        return cut(session.scalars(query).all(), limit, lambda e: (e.created_at, e.id))

    def remove(self, tenant_id: str, endpoint_id: str) -> None:
        log_id = tenant_log_id(self.appender.db, tenant_id)

        def work(writer: LogWriter) -> None:
            endpoint = writer.session.get(WebhookEndpoint, endpoint_id)
            if endpoint is None or endpoint.tenant_id != tenant_id or endpoint.disabled_at:
                raise NotFound("webhook endpoint", endpoint_id)
            endpoint.disabled_at = writer.now()
            writer.append(log_id, "webhook.endpoint_removed", {"endpoint": endpoint_id})

        self.appender.run([log_id], work)

    # Deliveries --------------------------------------------------------------------------

    def enqueue(
        self,
        session: Session,
        tenant_id: str,
        event: str,
        data: dict[str, object],
        *,
        erasure_id: str | None = None,
        manifest_id: str | None = None,
    ) -> int:
        """Queue the message for each of the tenant's endpoints, in the caller's transaction."""
        now = self.clock.now()
        body = json.dumps(
            {"type": event, "timestamp": format_ts(now), "data": data}, separators=(",", ":")
        )
        endpoints = self.endpoints(session, tenant_id)
        for endpoint in endpoints:
            session.add(
                WebhookDelivery(
                    id=new_id("msg"),
                    tenant_id=tenant_id,
                    endpoint_id=endpoint.id,
                    erasure_id=erasure_id,
                    manifest_id=manifest_id,
                    event=event,
                    body=body,
                    status=DeliveryStatus.PENDING,
                    attempts=0,
                    next_attempt_at=now,
                    created_at=now,
                )
            )
        return len(endpoints)

    def deliver_due(self, limit: int = 100) -> Delivered:
        """Send what is due, a claimed batch at a time; each outcome is committed on its own."""
        result = Delivered()
        while result.attempted < limit and (claimed := self._claim()):
            for delivery, endpoint in claimed:
                status, error = self._send(delivery, endpoint)
                self._record(delivery.id, status, error, result)
        return result

    def _claim(self) -> list[tuple[WebhookDelivery, WebhookEndpoint]]:
        with self.appender.db.write() as session, session.begin():
            now = self.clock.now()
            due = list(
                session.scalars(
                    select(WebhookDelivery)
                    .where(
                        WebhookDelivery.status == DeliveryStatus.PENDING,
                        WebhookDelivery.next_attempt_at <= now,
                    )
                    .order_by(WebhookDelivery.next_attempt_at, WebhookDelivery.id)
                    .limit(CLAIM_BATCH)
                    .with_for_update(skip_locked=True)
                )
            )
            for delivery in due:
                delivery.next_attempt_at = now + CLAIM_LEASE
            endpoints = {e.id: e for e in self._endpoints_of(session, due)}
        return [(delivery, endpoints[delivery.endpoint_id]) for delivery in due]

    @staticmethod
    def _endpoints_of(
        session: Session, deliveries: Sequence[WebhookDelivery]
    ) -> Sequence[WebhookEndpoint]:
        wanted = {d.endpoint_id for d in deliveries}
        if not wanted:
            return []
        return session.scalars(select(WebhookEndpoint).where(WebhookEndpoint.id.in_(wanted))).all()

    def _send(
        self, delivery: WebhookDelivery, endpoint: WebhookEndpoint
    ) -> tuple[int | None, str | None]:
        if endpoint.disabled_at is not None:
            return None, "the endpoint was removed"
        secret = self.vault.unseal(endpoint.secret, endpoint.id)
        sent_at = self.clock.now()
        headers = {
            "content-type": "application/json",
            "user-agent": "Custody-Webhooks/1",
            "webhook-id": delivery.id,
            "webhook-timestamp": str(int(sent_at.timestamp())),
            "webhook-signature": Webhook(secret).sign(delivery.id, sent_at, delivery.body),
        }
        try:
            response = self.http.request(
                "POST", endpoint.url, body=delivery.body.encode(), headers=headers, redirect=False
            )
        except urllib3.exceptions.HTTPError as exc:
            return None, f"{type(exc).__name__}: {exc}"[:500]
        if 200 <= response.status < 300:
            return response.status, None
        return response.status, f"the endpoint answered {response.status}"

    def _record(
        self, delivery_id: str, status: int | None, error: str | None, result: Delivered
    ) -> None:
        with self.appender.db.write() as session, session.begin():
            delivery = session.get(WebhookDelivery, delivery_id)
            if delivery is None or delivery.status != DeliveryStatus.PENDING:
                return
            now = self.clock.now()
            delivery.attempts += 1
            delivery.last_status, delivery.last_error = status, error
            if error is None:
                delivery.status, delivery.delivered_at = DeliveryStatus.DELIVERED, now
                result.delivered += 1
            elif delivery.attempts > len(SCHEDULE):
                delivery.status = DeliveryStatus.FAILED
                result.failed += 1
            else:
                delivery.next_attempt_at = now + SCHEDULE[delivery.attempts - 1]
                result.retrying += 1

    @staticmethod
    def deliveries(session: Session, erasure_id: str) -> list[WebhookDelivery]:
        return list(
            session.scalars(
                select(WebhookDelivery)
                .where(WebhookDelivery.erasure_id == erasure_id)
                .order_by(WebhookDelivery.created_at, WebhookDelivery.id)
            )
        )


ENDPOINT_ORDER = (WebhookEndpoint.created_at, WebhookEndpoint.id)


def _endpoints(tenant_id: str) -> Select[WebhookEndpoint]:
    return select(WebhookEndpoint).where(
        WebhookEndpoint.tenant_id == tenant_id, WebhookEndpoint.disabled_at.is_(None)
    )


def overdue_confirmations(
    session: Session, now: datetime, tenant_id: str | None = None
) -> list[Erasure]:
    query = select(Erasure).where(
        Erasure.status == ErasureStatus.DONE,
        Erasure.confirmed_at.is_(None),
        Erasure.confirm_by < now,
    )
    if tenant_id is not None:
        query = query.where(Erasure.tenant_id == tenant_id)
    return list(session.scalars(query.order_by(Erasure.confirm_by, Erasure.id)))
