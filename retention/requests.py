"""Erasure requests: a worker asks for one item, a consent's items, or everything to go.

The request is on the log (`erasure.requested`) and its items are claimed into pending
erasures in the same transaction, so checks deny them at once; the sweep carries them out.
A request is completed when nothing in its scope (as it stood when it was received) is left
unerased and every erasure it caused is certified; past its deadline and not completed it is
reported as overdue until it is.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

import isodate
from sqlalchemy import select
from sqlalchemy.orm import Session

from ledger.clock import format_ts
from ledger.consent.consents import consent_family, find_worker
from ledger.errors import InvalidRequest, NotFound
from ledger.ids import new_id
from ledger.items.items import ItemStatus, descendants
from ledger.log.appender import Appender, LogWriter
from ledger.log.entries import ID, TS, EntryType, obj, register
from ledger.log.reader import tenant_log_id
from ledger.models import Consent, Item, ItemRoot
from ledger.pages import Key, Page, cut, keyset
from retention.erasure import Claim, ErasureReason, item_statuses, owner_of, plan
from retention.models import Erasure, ErasureRequest


class RequestScope(StrEnum):
    """What a request erases: everything of the worker, a consent's items, or one item
    (each with everything derived from it)."""

    ALL = "all"
    CONSENT = "consent"
    ITEM = "item"


class RequestStatus(StrEnum):
    """A request is `in_progress` until nothing in its scope is left and every erasure it
    caused is certified (`completed`)."""

    IN_PROGRESS = "in_progress"
    COMPLETED = "completed"


# Listing requests by status also knows `overdue`: in progress past the deadline.
OVERDUE = "overdue"
SCOPES = tuple(s.value for s in RequestScope)
STATUS_FILTERS = (*(s.value for s in RequestStatus), OVERDUE)

ERASURE_REQUESTED_ENTRY = register(
    EntryType(
        "erasure.requested",
        1,
        obj(
            {
                "request": ID,
                "scope": {"enum": list(SCOPES)},
                "target": {"anyOf": [ID, {"type": "null"}]},
                "deadline": TS,
                "erasures": {"type": "array", "items": ID},
            }
        ),
    )
)
REQUEST_COMPLETED = register(
    EntryType(
        "erasure.request_completed",
        1,
        obj({"request": ID, "erasures": {"type": "array", "items": ID}}),
    )
)


@dataclass(frozen=True)
class RequestIn:
    worker: str  # the platform's reference or the pseudonym
    scope: str | None = None
    consent: str | None = None
    item: str | None = None


@dataclass(frozen=True)
class Requested:
    request: ErasureRequest
    created: bool  # False: the same request was already in progress


def _scope(asked: RequestIn) -> tuple[RequestScope, str | None]:
    named = ((RequestScope.CONSENT, asked.consent), (RequestScope.ITEM, asked.item))
    given = [scope for scope, target in named if target]
    if asked.scope not in (None, *SCOPES):
        raise InvalidRequest("scope must be all, consent or item", "scope")
    if asked.scope == RequestScope.ALL:
        if given:
            raise InvalidRequest("scope all erases everything; leave out consent and item", "scope")
        return RequestScope.ALL, None
    if len(given) != 1 or (asked.scope is not None and asked.scope != given[0]):
        raise InvalidRequest(
            'say what to erase: "scope": "all", or a "consent", or an "item"', "scope"
        )
    return given[0], asked.consent or asked.item


def in_scope(session: Session, request: ErasureRequest) -> set[str]:
    """Every item the request covers, whatever its status: the items it names (registered
    before it) and everything derived from them."""
    before = Item.log_index < request.log_index
    if request.scope == RequestScope.ALL:
        query = select(Item.id).where(Item.worker_id == request.worker_id, before)
    elif request.scope == RequestScope.CONSENT:
        family = consent_family(session, request.worker_id, request.target or "")
        query = select(Item.id).where(Item.consent_id.in_(family), before)
    else:
        query = select(Item.id).where(Item.id == request.target)
    found = set(session.scalars(query))
    return found | descendants(session, sorted(found))


class ErasureRequests:
    def __init__(self, appender: Appender, deadline: str = "P1M") -> None:
        self.appender = appender
        self.deadline = isodate.parse_duration(deadline)

    def request(self, tenant_id: str, asked: RequestIn, by: str | None) -> Requested:
        scope, target = _scope(asked)
        log_id = tenant_log_id(self.appender.db, tenant_id)

        def work(writer: LogWriter) -> Requested:
            session, now = writer.session, writer.now()
            worker = find_worker(session, tenant_id, asked.worker)
            same = session.scalar(
                select(ErasureRequest).where(
                    ErasureRequest.worker_id == worker.id,
                    ErasureRequest.scope == scope,
                    ErasureRequest.target.is_(None)
                    if target is None
                    else ErasureRequest.target == target,
                    ErasureRequest.status == RequestStatus.IN_PROGRESS,
                )
            )
            if same is not None:
                return Requested(same, created=False)
            triggers = self._triggers(session, worker.id, scope, target)
            request = ErasureRequest(
                id=new_id("erq"),
                tenant_id=tenant_id,
                worker_id=worker.id,
                scope=scope,
                target=target,
                status=RequestStatus.IN_PROGRESS,
                received_at=now,
                deadline=now + self.deadline,
                completed_at=None,
                log_index=-1,
                requested_by=by,
            )
            session.add(request)
            session.flush()
            made = plan(
                writer,
                tenant_id,
                log_id,
                Claim(
                    ErasureReason.ERASURE_REQUESTED,
                    owner_of(session, triggers),
                    request.deadline,
                    request.id,
                ),
            )
            request.log_index = writer.append(
                log_id,
                "erasure.requested",
                {
                    "request": request.id,
                    "scope": scope,
                    "target": target,
                    "deadline": format_ts(request.deadline),
                    "erasures": made,
                },
                subject=worker.id,
            ).index
            return Requested(request, created=True)

        result: Requested = self.appender.run([log_id], work)
        return result

    @staticmethod
    def _triggers(session: Session, worker_id: str, scope: str, target: str | None) -> list[str]:
        if scope == RequestScope.ALL:
            query = select(Item.id, Item.status).where(Item.worker_id == worker_id)
        elif scope == RequestScope.CONSENT:
            consent = session.get(Consent, target)
            if consent is None or consent.worker_id != worker_id:
                raise NotFound("consent", target)
            family = consent_family(session, worker_id, consent.id)
            query = select(Item.id, Item.status).where(Item.consent_id.in_(family))
        else:
            # The item must descend from one of the worker's clips.
            mine = session.scalar(
                select(ItemRoot.item_id)
                .join(Item, Item.id == ItemRoot.clip_id)
                .where(ItemRoot.item_id == target, Item.worker_id == worker_id)
                .limit(1)
            )
            if mine is None:
                raise NotFound("item", target)
            query = select(Item.id, Item.status).where(Item.id == target)
        return sorted(i for i, status in session.execute(query) if status == ItemStatus.ACTIVE)

    def get(self, session: Session, tenant_id: str, request_id: str) -> ErasureRequest:
        request = session.get(ErasureRequest, request_id)
        if request is None or request.tenant_id != tenant_id:
            raise NotFound("erasure request", request_id)
        return request

    @staticmethod
    def page(
        session: Session,
        tenant_id: str,
        now: datetime,
        *,
        status: str | None = None,
        worker_id: str | None = None,
        after: Key | None = None,
        limit: int = 100,
    ) -> Page[ErasureRequest]:
        """The tenant's requests (or one worker's), earliest deadline first, `limit` at a
        time after the key `after`; `status` "overdue" means in progress past the deadline."""
        query = select(ErasureRequest).where(ErasureRequest.tenant_id == tenant_id)
        if status == OVERDUE:
            query = query.where(
                ErasureRequest.status == RequestStatus.IN_PROGRESS, ErasureRequest.deadline < now
            )
        elif status:
            query = query.where(ErasureRequest.status == status)
        if worker_id is not None:
            query = query.where(ErasureRequest.worker_id == worker_id)
        order = (ErasureRequest.deadline, ErasureRequest.id)
        found = session.scalars(keyset(query, order, after, limit)).all()
        return cut(found, limit, lambda r: (r.deadline, r.id))

    @staticmethod
    def erasures(session: Session, request_id: str) -> list[Erasure]:
        return list(
            session.scalars(
                select(Erasure).where(Erasure.request_id == request_id).order_by(Erasure.id)
            )
        )

    def complete(self, tenant_id: str) -> int:
        """Mark completed every request of the tenant that has nothing left to erase and
        whose erasures are all certified."""
        log_id = tenant_log_id(self.appender.db, tenant_id)
        with self.appender.db.session() as session:
            open_requests = session.scalars(
                select(ErasureRequest).where(
                    ErasureRequest.tenant_id == tenant_id,
                    ErasureRequest.status == RequestStatus.IN_PROGRESS,
                )
            ).all()
            finished = [r.id for r in open_requests if self._finished(session, r)]
        if not finished:
            return 0

        def work(writer: LogWriter) -> int:
            done = 0
            for request_id in finished:
                request = writer.session.get(ErasureRequest, request_id)
                if request is None or request.status != RequestStatus.IN_PROGRESS:
                    continue
                request.status, request.completed_at = RequestStatus.COMPLETED, writer.now()
                writer.append(
                    log_id,
                    "erasure.request_completed",
                    {
                        "request": request.id,
                        "erasures": [e.id for e in self.erasures(writer.session, request.id)],
                    },
                    subject=request.worker_id,
                )
                done += 1
            return done

        completed: int = self.appender.run([log_id], work)
        return completed

    def _finished(self, session: Session, request: ErasureRequest) -> bool:
        if any(e.certificate is None for e in self.erasures(session, request.id)):
            return False
        items = sorted(in_scope(session, request))
        statuses = item_statuses(session, items).values()
        return all(status == ItemStatus.ERASED for status in statuses)

    @staticmethod
    def overdue(
        session: Session, now: datetime, tenant_id: str | None = None
    ) -> list[ErasureRequest]:
        query = select(ErasureRequest).where(
            ErasureRequest.status == RequestStatus.IN_PROGRESS, ErasureRequest.deadline < now
        )
        if tenant_id is not None:
            query = query.where(ErasureRequest.tenant_id == tenant_id)
        return list(session.scalars(query.order_by(ErasureRequest.deadline)))
