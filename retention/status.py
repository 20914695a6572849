"""What retention owes: due, overdue and done, for one tenant or all of them."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from ledger.clock import format_ts
from ledger.items.items import ItemStatus
from ledger.models import Item
from retention.erasure import OVERDUE_AFTER, ErasureStatus
from retention.models import Erasure, ErasureRequest, WebhookDelivery
from retention.requests import ErasureRequests, RequestStatus
from retention.webhooks import DeliveryStatus, overdue_confirmations

UPCOMING = timedelta(days=7)
LISTED = 100  # overdue and failing things listed by id, beyond their counts


@dataclass
class RetentionStatus:
    now: datetime
    items: dict[str, int] = field(default_factory=dict)
    erasures: dict[str, int] = field(default_factory=dict)
    requests: dict[str, int] = field(default_factory=dict)
    confirmations: dict[str, int] = field(default_factory=dict)
    webhooks: dict[str, int] = field(default_factory=dict)
    overdue_requests: list[dict[str, Any]] = field(default_factory=list)
    failing_erasures: list[dict[str, Any]] = field(default_factory=list)
    overdue_confirmations: list[dict[str, Any]] = field(default_factory=list)

    @property
    def healthy(self) -> bool:
        """Nothing overdue and nothing failing."""
        return not (
            self.items["overdue"]
            or self.erasures["overdue"]
            or self.erasures["failing"]
            or self.requests["overdue"]
            or self.confirmations["overdue"]
            or self.webhooks["failed"]
        )


def retention_status(
    session: Session, now: datetime, tenant_id: str | None = None
) -> RetentionStatus:
    def count(query: Select[Any], model: Any) -> int:
        if tenant_id is not None:
            query = query.where(model.tenant_id == tenant_id)
        return int(session.scalar(query) or 0)

    items = select(func.count()).select_from(Item)
    active = items.where(Item.status == ItemStatus.ACTIVE)
    erasures = select(func.count()).select_from(Erasure)
    pending = erasures.where(Erasure.status == ErasureStatus.PENDING)
    done = erasures.where(Erasure.status == ErasureStatus.DONE)
    requests = select(func.count()).select_from(ErasureRequest)
    in_progress = requests.where(ErasureRequest.status == RequestStatus.IN_PROGRESS)
    deliveries = select(func.count()).select_from(WebhookDelivery)
    status = RetentionStatus(now)
    status.items = {
        "due": count(
            active.where(Item.delete_after <= now, Item.delete_after > now - OVERDUE_AFTER), Item
        ),
        "overdue": count(active.where(Item.delete_after <= now - OVERDUE_AFTER), Item),
        "due_within_7_days": count(
            active.where(Item.delete_after > now, Item.delete_after <= now + UPCOMING), Item
        ),
        "being_erased": count(items.where(Item.status == ItemStatus.ERASING), Item),
        "erased": count(items.where(Item.status == ItemStatus.ERASED), Item),
    }
    status.erasures = {
        "pending": count(pending, Erasure),
        "failing": count(pending.where(Erasure.attempts > 0), Erasure),
        "overdue": count(pending.where(Erasure.deadline < now), Erasure),
        "done": count(done, Erasure),
        "awaiting_certificate": count(done.where(Erasure.certificate.is_(None)), Erasure),
    }
    status.requests = {
        "in_progress": count(in_progress, ErasureRequest),
        "overdue": count(in_progress.where(ErasureRequest.deadline < now), ErasureRequest),
        "completed": count(
            requests.where(ErasureRequest.status == RequestStatus.COMPLETED), ErasureRequest
        ),
    }
    unconfirmed = done.where(Erasure.confirmed_at.is_(None), Erasure.confirm_by.is_not(None))
    status.confirmations = {
        "awaiting": count(unconfirmed.where(Erasure.confirm_by >= now), Erasure),
        "overdue": count(unconfirmed.where(Erasure.confirm_by < now), Erasure),
        "confirmed": count(done.where(Erasure.confirmed_at.is_not(None)), Erasure),
    }
    status.webhooks = {
        state.value: count(deliveries.where(WebhookDelivery.status == state), WebhookDelivery)
        for state in DeliveryStatus
    }
    status.overdue_requests = [
        {"id": r.id, "deadline": format_ts(r.deadline), "tenant": r.tenant_id}
        for r in ErasureRequests.overdue(session, now, tenant_id)[:LISTED]
    ]
    failing = select(Erasure).where(Erasure.status == ErasureStatus.PENDING, Erasure.attempts > 0)
    if tenant_id is not None:
        failing = failing.where(Erasure.tenant_id == tenant_id)
    status.failing_erasures = [
        {
            "id": e.id,
            "attempts": e.attempts,
            "next_attempt_at": format_ts(e.next_attempt_at),
            "last_error": e.last_error,
        }
        for e in session.scalars(failing.order_by(Erasure.deadline).limit(LISTED))
    ]
    status.overdue_confirmations = [
        {"id": e.id, "confirm_by": format_ts(e.confirm_by), "tenant": e.tenant_id}
        for e in overdue_confirmations(session, now, tenant_id)[:LISTED]
        if e.confirm_by is not None
    ]
    return status
