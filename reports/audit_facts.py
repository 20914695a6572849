"""What the audit report states about one tenant and a period, read from the database:
each figure aggregated by the database or streamed, nothing laid out (reports.audit_layout
does that). One method per section of the report, each returning its facts."""

from __future__ import annotations

import json
import statistics
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import String as SqlString
from sqlalchemy import cast, func, select
from sqlalchemy.orm import Session

from ledger.consent.consents import ConsentEventKind, ConsentStatus
from ledger.items.decisions import Verdict
from ledger.items.items import ItemStatus
from ledger.models import Consent, ConsentEvent, Item, Policy, Tenant, UseDecision, Worker
from redaction.models import Redaction
from reports.models import Report
from retention.erasure import OVERDUE_AFTER, ErasureStatus
from retention.models import Erasure, ErasureRequest, WebhookDelivery
from retention.status import RetentionStatus, retention_status
from retention.webhooks import EVENT

STREAM = 5000


@dataclass(frozen=True)
class Processing:
    """The record of processing: the terms of the consents in force now, counted."""

    active: int  # consents in force
    purposes: Counter[str]
    categories: Counter[str]
    recipients: Counter[str]
    parties: Counter[str]
    retention: Counter[str]
    places: Counter[str]  # jurisdictions
    subjects: Counter[str]  # consents that cover minors or bystanders, by which
    workers: int
    policies: list[Policy]  # in order of publication
    used_by: Sequence[Any]  # (recipient, allowed uses in the period), most uses first


@dataclass(frozen=True)
class ConsentActivity:
    """Consents given and withdrawn in the period, per time bucket and per purpose."""

    bucket_format: str  # strftime format that names a bucket of `given` and `withdrawn`
    given: Counter[datetime]
    withdrawn: Counter[datetime]
    given_for: Counter[str]
    withdrawn_for: Counter[str]
    amendments: int  # of the consents given
    withdrawn_in_full: int  # withdrawals of every purpose of their consent
    status: dict[str, int]  # every consent of the tenant, now, by status


@dataclass(frozen=True)
class Decisions:
    """The use checks of the period."""

    allowed: int
    denied: int
    purposes: list[str]  # every purpose checked, sorted
    by_purpose: dict[tuple[str, str], int]  # (purpose, "allow" or "deny") -> checks
    reasons: Counter[str]  # a denial counts once under each of its reasons


@dataclass(frozen=True)
class Retention:
    """Erasures carried out in the period, and the state of retention now."""

    status: RetentionStatus
    by_reason: Sequence[Any]  # (reason, by the deadline?, erasures)
    overdue: int  # items past their deletion date by more than `overdue_after`
    overdue_after: timedelta
    unconfirmed: list[Erasure]  # past their confirmation date, in order of it
    deliveries: dict[str, int]  # erasure webhooks, by status

    @property
    def on_time(self) -> int:
        return sum(n for _, ok, n in self.by_reason if ok)

    @property
    def late(self) -> int:
        return sum(n for _, ok, n in self.by_reason if not ok)


@dataclass(frozen=True)
class CompletionTimes:
    """Hours from receipt to completion of the completed requests."""

    median: float
    p95: float
    longest: float
    allowed: float  # the median of the time allowed, over every request received


@dataclass(frozen=True)
class ErasureRequests:
    """The erasure requests received in the period."""

    received: int
    completed: int
    open: int
    late: list[Any]  # completed after their deadline or still open past it, in order received
    times: CompletionTimes | None  # None if none was completed


@dataclass(frozen=True)
class RedactionsAndReports:
    redactions: Sequence[Any]  # (mode, reason, status, jobs) of the period, sorted
    reports: Sequence[Any]  # (kind, reports issued in the period)


class AuditFacts:
    """Queries over one tenant and period, each aggregated by the database or streamed."""

    def __init__(
        self, session: Session, tenant_id: str, period: tuple[datetime, datetime], now: datetime
    ) -> None:
        self.session = session
        self.tenant_id = tenant_id
        self.since, self.until = period
        self.now = now

    def scalar(self, query: Any) -> int:
        return int(self.session.scalar(query) or 0)

    def stream(self, query: Any) -> Iterator[Any]:
        return iter(self.session.execute(query.execution_options(yield_per=STREAM)))

    def in_period(self, column: Any) -> Any:
        return (column >= self.since) & (column < self.until)

    def tenant(self) -> Tenant:
        tenant = self.session.get(Tenant, self.tenant_id)
        assert tenant is not None
        return tenant

    def processing(self) -> Processing:
        purposes: Counter[str] = Counter()
        categories: Counter[str] = Counter()
        recipients: Counter[str] = Counter()
        parties: Counter[str] = Counter()
        retention: Counter[str] = Counter()
        places: Counter[str] = Counter()
        subjects: Counter[str] = Counter()
        active = 0
        for terms, status in self.stream(
            select(Consent.terms, Consent.status).where(Consent.tenant_id == self.tenant_id)
        ):
            if status != ConsentStatus.ACTIVE:
                continue
            active += 1
            purposes.update(terms["purposes"])
            categories.update(terms["data_categories"])
            recipients[terms["recipients"]] += 1
            parties.update(terms["parties"])
            retention[terms["retention"]] += 1
            places[terms["jurisdiction"]] += 1
            subjects["workers who are minors (with a guardian's consent)"] += terms[
                "worker_is_minor"
            ]
            subjects["bystanders may appear"] += terms["bystanders_may_appear"]
            subjects["minors may appear"] += terms["minors_may_appear"]
        return Processing(
            active=active,
            purposes=purposes,
            categories=categories,
            recipients=recipients,
            parties=parties,
            retention=retention,
            places=places,
            subjects=subjects,
            workers=self.scalar(select(func.count()).where(Worker.tenant_id == self.tenant_id)),
            policies=list(
                self.session.scalars(
                    select(Policy)
                    .where(Policy.tenant_id == self.tenant_id)
                    .order_by(Policy.published_at)
                )
            ),
            used_by=self.session.execute(
                select(UseDecision.recipient, func.count())
                .where(
                    UseDecision.tenant_id == self.tenant_id, UseDecision.decision == Verdict.ALLOW
                )
                .where(self.in_period(UseDecision.at))
                .group_by(UseDecision.recipient)
                .order_by(func.count().desc())
            ).all(),
        )

    def consents(self) -> ConsentActivity:
        bucket_format, step = buckets(self.since, self.until)
        given: Counter[datetime] = Counter()
        withdrawn: Counter[datetime] = Counter()
        given_for: Counter[str] = Counter()
        withdrawn_for: Counter[str] = Counter()
        amendments = 0
        for at, terms, amends in self.stream(
            select(Consent.given_at, Consent.terms, Consent.amends).where(
                Consent.tenant_id == self.tenant_id, self.in_period(Consent.given_at)
            )
        ):
            given[bucket(at, self.since, step)] += 1
            given_for.update(terms["purposes"])
            amendments += amends is not None
        full = 0
        for at, purposes, of_all in self.stream(
            select(ConsentEvent.at, ConsentEvent.purposes, Consent.terms["purposes"])
            .join(Consent, Consent.id == ConsentEvent.consent_id)
            .where(
                Consent.tenant_id == self.tenant_id,
                ConsentEvent.kind == ConsentEventKind.WITHDRAWN,
                self.in_period(ConsentEvent.at),
            )
        ):
            withdrawn[bucket(at, self.since, step)] += 1
            withdrawn_for.update(purposes)
            full += sorted(purposes) == sorted(of_all)
        status = dict(
            self.session.execute(
                select(Consent.status, func.count())
                .where(Consent.tenant_id == self.tenant_id)
                .group_by(Consent.status)
            ).all()
        )
        return ConsentActivity(
            bucket_format=bucket_format,
            given=given,
            withdrawn=withdrawn,
            given_for=given_for,
            withdrawn_for=withdrawn_for,
            amendments=amendments,
            withdrawn_in_full=full,
            status=status,
        )

    def decisions(self) -> Decisions:
        where = (UseDecision.tenant_id == self.tenant_id) & self.in_period(UseDecision.at)
        decided = dict(
            self.session.execute(
                select(UseDecision.decision, func.count())
                .where(where)
                .group_by(UseDecision.decision)
            ).all()
        )
        reasons: Counter[str] = Counter()
        for raw, n in self.session.execute(
            select(cast(UseDecision.reasons, SqlString), func.count())
            .where(where, UseDecision.decision == Verdict.DENY)
            .group_by(cast(UseDecision.reasons, SqlString))
        ):
            for reason in json.loads(raw):
                reasons[reason] += n
        by_purpose = self.session.execute(
            select(UseDecision.purpose, UseDecision.decision, func.count())
            .where(where)
            .group_by(UseDecision.purpose, UseDecision.decision)
        ).all()
        return Decisions(
            allowed=decided.get(Verdict.ALLOW, 0),
            denied=decided.get(Verdict.DENY, 0),
            purposes=sorted({p for p, _, _ in by_purpose}),
            by_purpose={(p, d): n for p, d, n in by_purpose},
            reasons=reasons,
        )

    def retention(self) -> Retention:
        done = (
            (Erasure.tenant_id == self.tenant_id)
            & (Erasure.status == ErasureStatus.DONE)
            & self.in_period(Erasure.erased_at)
        )
        return Retention(
            status=retention_status(self.session, self.now, self.tenant_id),
            by_reason=self.session.execute(
                select(Erasure.reason, Erasure.erased_at <= Erasure.deadline, func.count())
                .where(done)
                .group_by(Erasure.reason, Erasure.erased_at <= Erasure.deadline)
            ).all(),
            overdue=self.scalar(select(func.count()).select_from(self._overdue().subquery())),
            overdue_after=OVERDUE_AFTER,
            unconfirmed=list(
                self.session.scalars(
                    select(Erasure)
                    .where(
                        Erasure.tenant_id == self.tenant_id,
                        Erasure.status == ErasureStatus.DONE,
                        Erasure.confirmed_at.is_(None),
                        Erasure.confirm_by < self.now,
                    )
                    .order_by(Erasure.confirm_by)
                )
            ),
            deliveries=dict(
                self.session.execute(
                    select(WebhookDelivery.status, func.count())
                    .where(
                        WebhookDelivery.tenant_id == self.tenant_id,
                        WebhookDelivery.event == EVENT,
                    )
                    .group_by(WebhookDelivery.status)
                ).all()
            ),
        )

    def overdue_items(self) -> Iterator[Any]:
        """The items counted as overdue, streamed, by due date: (id, kind, due, status)."""
        return self.stream(self._overdue())

    def _overdue(self) -> Any:
        return (
            select(Item.id, Item.kind, Item.delete_after, Item.status)
            .where(
                Item.tenant_id == self.tenant_id,
                Item.status.in_((ItemStatus.ACTIVE, ItemStatus.ERASING)),
                Item.delete_after <= self.now - OVERDUE_AFTER,
            )
            .order_by(Item.delete_after, Item.id)
        )

    def erasure_requests(self) -> ErasureRequests:
        requests = list(
            self.stream(
                select(
                    ErasureRequest.id,
                    ErasureRequest.received_at,
                    ErasureRequest.deadline,
                    ErasureRequest.completed_at,
                    ErasureRequest.scope,
                )
                .where(
                    ErasureRequest.tenant_id == self.tenant_id,
                    self.in_period(ErasureRequest.received_at),
                )
                .order_by(ErasureRequest.received_at)
            )
        )
        took = [(r.completed_at - r.received_at) for r in requests if r.completed_at]
        times = None
        if took:
            hours = sorted(t.total_seconds() / 3600 for t in took)
            times = CompletionTimes(
                median=statistics.median(hours),
                p95=hours[min(len(hours) - 1, int(len(hours) * 0.95))],
                longest=hours[-1],
                allowed=statistics.median(
                    (r.deadline - r.received_at).total_seconds() / 3600 for r in requests
                ),
            )
        return ErasureRequests(
            received=len(requests),
            completed=len(took),
            open=sum(1 for r in requests if r.completed_at is None),
            late=[r for r in requests if (r.completed_at or self.now) > r.deadline],
            times=times,
        )

    def redactions_and_reports(self) -> RedactionsAndReports:
        return RedactionsAndReports(
            redactions=self.session.execute(
                select(Redaction.mode, Redaction.reason, Redaction.status, func.count())
                .where(
                    Redaction.tenant_id == self.tenant_id, self.in_period(Redaction.requested_at)
                )
                .group_by(Redaction.mode, Redaction.reason, Redaction.status)
                .order_by(Redaction.mode, Redaction.reason, Redaction.status)
            ).all(),
            reports=self.session.execute(
                select(Report.kind, func.count())
                .where(Report.tenant_id == self.tenant_id, self.in_period(Report.issued_at))
                .group_by(Report.kind)
            ).all(),
        )


def buckets(since: datetime, until: datetime) -> tuple[str, timedelta | None]:
    """Chart buckets fit for the period's length: days, weeks or months (None: calendar
    months), and the strftime format that names one."""
    span = until - since
    if span <= timedelta(days=31):
        return "%d %b", timedelta(days=1)
    if span <= timedelta(days=190):
        return "wk %d %b", timedelta(days=7)
    return "%b %Y", None


def bucket(moment: datetime, since: datetime, step: timedelta | None) -> datetime:
    """The start of the bucket `moment` falls in: a `step` from midnight of `since`, or
    (None) its calendar month."""
    if step is None:
        return moment.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    start = since.replace(hour=0, minute=0, second=0, microsecond=0)
    return start + step * ((moment - start) // step)
