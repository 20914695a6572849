"""The regulator's report for one tenant and a period: a record of processing in the spirit
of GDPR Art. 30, consent and use statistics (with charts), retention and erasure
compliance, redactions, and the integrity of the log (a full verification run, the signed
checkpoint the report rests on, the keys).

Figures are aggregated by the database or streamed; only overdue items are listed one by
one. Everything is read in one snapshot that a signed checkpoint covers."""

from __future__ import annotations

import json
import statistics
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from reportlab.graphics.charts.barcharts import HorizontalBarChart, VerticalBarChart
from reportlab.graphics.charts.legends import Legend
from reportlab.graphics.shapes import Drawing, String
from reportlab.platypus import Flowable, Paragraph
from sqlalchemy import String as SqlString
from sqlalchemy import cast, func, select
from sqlalchemy.orm import Session

from ledger.errors import InvalidRequest
from ledger.log.appender import Appender
from ledger.log.keys import KeyRing
from ledger.log.verification import verify_database
from ledger.models import (
    Consent,
    ConsentEvent,
    Item,
    Policy,
    Tenant,
    UseDecision,
    Worker,
)
from redaction.models import Redaction
from reports import words
from reports.issued import Issued, Reports, new_report_id, snapshot
from reports.models import Report
from reports.pdf import (
    ACCENT,
    BAD,
    GOOD,
    MUTED,
    PAPER,
    Column,
    Rows,
    Styles,
    build,
    grid,
    text,
    verification_block,
)
from retention.erasure import OVERDUE_AFTER
from retention.models import Erasure, ErasureRequest, WebhookDelivery
from retention.status import retention_status
from retention.webhooks import EVENT

MARGIN = 42.0
WIDTH = PAPER[0] - 2 * MARGIN
STREAM = 5000
SAFEGUARDS = (
    "use checked against consent before every use (deny by default); deletion scheduled at "
    "registration; clip content encrypted per worker; no personal data on the log"
)


def period_of(
    since: datetime | None, until: datetime | None, now: datetime
) -> tuple[datetime, datetime]:
    """The report's period: [since, until), by default from the tenant's start until now."""
    until = until or now
    since = since or datetime(1970, 1, 1, tzinfo=UTC)
    if since >= until:
        raise InvalidRequest("from must be before to", "from")
    return since, until


def _buckets(since: datetime, until: datetime) -> tuple[str, timedelta | None]:
    """Chart buckets fit for the period's length: days, weeks or months."""
    span = until - since
    if span <= timedelta(days=31):
        return "%d %b", timedelta(days=1)
    if span <= timedelta(days=190):
        return "wk %d %b", timedelta(days=7)
    return "%b %Y", None


def _bucket(moment: datetime, since: datetime, step: timedelta | None) -> datetime:
    if step is None:
        return moment.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    start = since.replace(hour=0, minute=0, second=0, microsecond=0)
    return start + step * ((moment - start) // step)


class AuditReport:
    """Writes the audit report of one tenant for a period and records it on the log."""

    def __init__(self, appender: Appender, reports: Reports, keys: KeyRing) -> None:
        self.appender = appender
        self.reports = reports
        self.keys = keys

    def write(
        self,
        tenant_id: str,
        out: Path,
        *,
        since: datetime | None,
        until: datetime | None,
        by: str | None,
    ) -> Issued:
        now = self.appender.clock.now()
        period = period_of(since, until, now)
        report_id = new_report_id()
        with snapshot(self.appender, tenant_id) as (session, anchor):
            integrity = verify_database(self.appender.db, tenant_id)[0]
            facts = _Facts(session, tenant_id, period, now)
            s = Styles.sized(9.5)
            story = _story(facts, s, report_id, integrity, self.keys.published(session))
            story += verification_block(
                anchor,
                s,
                WIDTH * 0.75,
                "The checkpoint this report rests on",
                "Every figure in this report was read from the tenant's records in one "
                "consistent state, whose log entries are all covered by this signed "
                "checkpoint. Fetch the log's checkpoints (GET /v1/logs/"
                f"{anchor.log_id}/checkpoints) and its consistency proofs to check that the "
                "log still contains it unchanged; the audit export bundle for the period "
                "holds every entry with its inclusion proof.",
            )
            written = build(
                out,
                story,
                page=PAPER,
                margin=MARGIN,
                title="Audit report",
                footer=lambda page: f"Custody audit report {report_id} · {tenant_id} · page {page}",
            )
        return self.reports.record(
            tenant_id,
            "audit",
            report_id=report_id,
            sha256=written.sha256,
            size=written.size,
            anchor=anchor,
            period=(since, period[1]),
            by=by,
        )


class _Facts:
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


def _story(
    f: _Facts, s: Styles, report_id: str, integrity: Any, keys: list[dict[str, Any]]
) -> list[Flowable]:
    tenant = f.session.get(Tenant, f.tenant_id)
    assert tenant is not None
    first = f.since if f.since.year > 1970 else None
    story: list[Flowable] = [
        Paragraph(f"Audit report: {text(tenant.name)}", s.title),
        Paragraph(
            f"Tenant {text(tenant.id)}. Period: {text(words.when(first) if first else 'from the start')} "
            f"to {text(words.when(f.until))}. Made {text(words.when(f.now))}. Report "
            f"{text(report_id)}.",
            s.small,
        ),
    ]
    story += _processing(f, s, tenant.name)
    story += _consents(f, s)
    story += _decisions(f, s)
    story += _retention(f, s)
    story += _erasure_requests(f, s)
    story += _redactions(f, s)
    story += _integrity(f, s, integrity, keys)
    return story


# --- record of processing -------------------------------------------------------------------


def _processing(f: _Facts, s: Styles, controller: str) -> list[Flowable]:
    purposes: Counter[str] = Counter()
    categories: Counter[str] = Counter()
    recipients: Counter[str] = Counter()
    parties: Counter[str] = Counter()
    retention: Counter[str] = Counter()
    places: Counter[str] = Counter()
    subjects: Counter[str] = Counter()
    active = 0
    for terms, status in f.stream(
        select(Consent.terms, Consent.status).where(Consent.tenant_id == f.tenant_id)
    ):
        if status != "active":
            continue
        active += 1
        purposes.update(terms["purposes"])
        categories.update(terms["data_categories"])
        recipients[terms["recipients"]] += 1
        parties.update(terms["parties"])
        retention[terms["retention"]] += 1
        places[terms["jurisdiction"]] += 1
        subjects["workers who are minors (with a guardian's consent)"] += terms["worker_is_minor"]
        subjects["bystanders may appear"] += terms["bystanders_may_appear"]
        subjects["minors may appear"] += terms["minors_may_appear"]
    workers = f.scalar(select(func.count()).where(Worker.tenant_id == f.tenant_id))
    policies = list(
        f.session.scalars(
            select(Policy).where(Policy.tenant_id == f.tenant_id).order_by(Policy.published_at)
        )
    )
    used_by = f.session.execute(
        select(UseDecision.recipient, func.count())
        .where(UseDecision.tenant_id == f.tenant_id, UseDecision.decision == "allow")
        .where(f.in_period(UseDecision.at))
        .group_by(UseDecision.recipient)
        .order_by(func.count().desc())
    ).all()

    def counted(counter: Counter[str], table: dict[str, str] | None = None) -> str:
        if not counter:
            return "none"
        return "; ".join(
            f"{term}{' (' + table[term] + ')' if table and term in table else ''}: {n:,}"
            for term, n in counter.most_common()
        )

    return [
        Paragraph("1. Record of processing", s.h1),
        Paragraph(
            "As kept for GDPR Art. 30: what is processed, why, about whom, for whom and for "
            f"how long. Counts are of the {active:,} consents in force now.",
            s.body,
        ),
        grid(
            [
                ["", ""],
                ["Controller", controller],
                ["Purposes", counted(purposes, words.PURPOSES)],
                ["Categories of data", counted(categories)],
                [
                    "Categories of data subjects",
                    f"gig workers recording themselves: {workers:,}; " + counted(subjects),
                ],
                [
                    "Recipients agreed",
                    counted(recipients) + ("; parties: " + counted(parties) if parties else ""),
                ],
                [
                    "Recipients that used data in the period",
                    "; ".join(f"{r}: {n:,} uses" for r, n in used_by) or "none",
                ],
                ["Retention terms", counted(retention)],
                ["Jurisdictions", counted(places)],
                [
                    "Terms published",
                    "; ".join(
                        f"{p.version} ({words.day(p.published_at)}): {', '.join(p.purposes)}"
                        for p in policies
                    )
                    or "none published through Custody",
                ],
                [
                    "Safeguards",
                    SAFEGUARDS,
                ],
            ][1:],
            [WIDTH * 0.27, WIDTH * 0.73],
            s,
        ),
    ]


# --- consents -------------------------------------------------------------------------------


def _consents(f: _Facts, s: Styles) -> list[Flowable]:
    fmt, step = _buckets(f.since, f.until)
    given: Counter[datetime] = Counter()
    withdrawn: Counter[datetime] = Counter()
    given_for: Counter[str] = Counter()
    withdrawn_for: Counter[str] = Counter()
    amendments = 0
    for at, terms, amends in f.stream(
        select(Consent.given_at, Consent.terms, Consent.amends).where(
            Consent.tenant_id == f.tenant_id, f.in_period(Consent.given_at)
        )
    ):
        given[_bucket(at, f.since, step)] += 1
        given_for.update(terms["purposes"])
        amendments += amends is not None
    full = 0
    for at, purposes, of_all in f.stream(
        select(ConsentEvent.at, ConsentEvent.purposes, Consent.terms["purposes"])
        .join(Consent, Consent.id == ConsentEvent.consent_id)
        .where(
            Consent.tenant_id == f.tenant_id,
            ConsentEvent.kind == "withdrawn",
            f.in_period(ConsentEvent.at),
        )
    ):
        withdrawn[_bucket(at, f.since, step)] += 1
        withdrawn_for.update(purposes)
        full += sorted(purposes) == sorted(of_all)
    total_given, total_withdrawn = sum(given.values()), sum(withdrawn.values())
    status = dict(
        f.session.execute(
            select(Consent.status, func.count())
            .where(Consent.tenant_id == f.tenant_id)
            .group_by(Consent.status)
        ).all()
    )
    out: list[Flowable] = [
        Paragraph("2. Consents", s.h1),
        Paragraph(
            f"In the period, <b>{total_given:,}</b> consents were given ({amendments:,} of "
            f"them amendments) and <b>{total_withdrawn:,}</b> withdrawals recorded ({full:,} "
            "of every purpose). Now: "
            + text(", ".join(f"{n:,} {k}" for k, n in sorted(status.items())) or "none")
            + ".",
            s.body,
        ),
    ]
    if given or withdrawn:
        keys = sorted(set(given) | set(withdrawn))
        out.append(
            _bars(
                "Consents given and withdrawn",
                [k.strftime(fmt) for k in keys],
                [[given[k] for k in keys], [withdrawn[k] for k in keys]],
                ["given", "withdrawn"],
            )
        )
    purposes = sorted(set(given_for) | set(withdrawn_for))
    if purposes:
        out.append(Paragraph("By purpose, in the period", s.h2))
        out.append(
            grid(
                [
                    ["purpose", "consents given for it", "withdrawals of it"],
                    *[[p, f"{given_for[p]:,}", f"{withdrawn_for[p]:,}"] for p in purposes],
                ],
                [WIDTH * 0.5, WIDTH * 0.25, WIDTH * 0.25],
                s,
                align_right=[1, 2],
            )
        )
        out.append(
            _hbars(
                "Consents given, by purpose",
                purposes,
                [[given_for[p] for p in purposes], [withdrawn_for[p] for p in purposes]],
                ["given", "withdrawn"],
            )
        )
    return out


# --- use decisions --------------------------------------------------------------------------


def _decisions(f: _Facts, s: Styles) -> list[Flowable]:
    where = (UseDecision.tenant_id == f.tenant_id) & f.in_period(UseDecision.at)
    decided = dict(
        f.session.execute(
            select(UseDecision.decision, func.count()).where(where).group_by(UseDecision.decision)
        ).all()
    )
    reasons: Counter[str] = Counter()
    for raw, n in f.session.execute(
        select(cast(UseDecision.reasons, SqlString), func.count())
        .where(where, UseDecision.decision == "deny")
        .group_by(cast(UseDecision.reasons, SqlString))
    ):
        for reason in json.loads(raw):
            reasons[reason] += n
    by_purpose = f.session.execute(
        select(UseDecision.purpose, UseDecision.decision, func.count())
        .where(where)
        .group_by(UseDecision.purpose, UseDecision.decision)
    ).all()
    purposes = sorted({p for p, _, _ in by_purpose})
    table = {(p, d): n for p, d, n in by_purpose}
    allowed, denied = decided.get("allow", 0), decided.get("deny", 0)
    out: list[Flowable] = [
        Paragraph("3. Use decisions", s.h1),
        Paragraph(
            f"In the period, <b>{allowed + denied:,}</b> use checks: <b>{allowed:,}</b> "
            f"allowed and <b>{denied:,}</b> denied. A denial can have several reasons; each is "
            "counted.",
            s.body,
        ),
    ]
    if purposes:
        out.append(
            grid(
                [
                    ["purpose", "allowed", "denied"],
                    *[
                        [p, f"{table.get((p, 'allow'), 0):,}", f"{table.get((p, 'deny'), 0):,}"]
                        for p in purposes
                    ],
                ],
                [WIDTH * 0.5, WIDTH * 0.25, WIDTH * 0.25],
                s,
                align_right=[1, 2],
            )
        )
    if reasons:
        ordered = [r for r, _ in reasons.most_common()]
        out.append(Paragraph("Denials by reason", s.h2))
        out.append(
            grid(
                [["reason", "denials"], *[[r, f"{reasons[r]:,}"] for r in ordered]],
                [WIDTH * 0.6, WIDTH * 0.4],
                s,
                align_right=[1],
            )
        )
        out.append(
            _hbars("Denials by reason", ordered, [[reasons[r] for r in ordered]], ["denials"])
        )
    return out


# --- retention ------------------------------------------------------------------------------


def _retention(f: _Facts, s: Styles) -> list[Flowable]:
    status = retention_status(f.session, f.now, f.tenant_id)
    done = (
        (Erasure.tenant_id == f.tenant_id)
        & (Erasure.status == "done")
        & f.in_period(Erasure.erased_at)
    )
    by_reason = f.session.execute(
        select(Erasure.reason, Erasure.erased_at <= Erasure.deadline, func.count())
        .where(done)
        .group_by(Erasure.reason, Erasure.erased_at <= Erasure.deadline)
    ).all()
    on_time = sum(n for _, ok, n in by_reason if ok)
    late = sum(n for _, ok, n in by_reason if not ok)
    overdue_cutoff = f.now - OVERDUE_AFTER
    overdue = (
        select(Item.id, Item.kind, Item.delete_after, Item.status)
        .where(
            Item.tenant_id == f.tenant_id,
            Item.status.in_(("active", "erasing")),
            Item.delete_after <= overdue_cutoff,
        )
        .order_by(Item.delete_after, Item.id)
    )
    overdue_count = f.scalar(select(func.count()).select_from(overdue.subquery()))
    unconfirmed = list(
        f.session.scalars(
            select(Erasure)
            .where(
                Erasure.tenant_id == f.tenant_id,
                Erasure.status == "done",
                Erasure.confirmed_at.is_(None),
                Erasure.confirm_by < f.now,
            )
            .order_by(Erasure.confirm_by)
        )
    )
    deliveries = dict(
        f.session.execute(
            select(WebhookDelivery.status, func.count())
            .where(WebhookDelivery.tenant_id == f.tenant_id, WebhookDelivery.event == EVENT)
            .group_by(WebhookDelivery.status)
        ).all()
    )
    out: list[Flowable] = [
        Paragraph("4. Retention", s.h1),
        Paragraph(
            f"In the period, <b>{on_time + late:,}</b> erasures were carried out: "
            f"<b>{on_time:,}</b> by their deadline and <b>{late:,}</b> after it. Now, "
            f"<b>{overdue_count:,}</b> items are past their deletion date by more than "
            f"{OVERDUE_AFTER.days} day(s) and not erased"
            + (" (each listed below)" if overdue_count else "")
            + f"; {status.items['due_within_7_days']:,} fall due within 7 days; "
            f"{status.erasures['failing']:,} erasures are failing and being retried.",
            s.body,
        ),
    ]
    if by_reason:
        out.append(
            grid(
                [
                    ["why erased", "on time", "late"],
                    *[
                        [
                            reason,
                            f"{sum(n for r, ok, n in by_reason if r == reason and ok):,}",
                            f"{sum(n for r, ok, n in by_reason if r == reason and not ok):,}",
                        ]
                        for reason in sorted({r for r, _, _ in by_reason})
                    ],
                ],
                [WIDTH * 0.5, WIDTH * 0.25, WIDTH * 0.25],
                s,
                align_right=[1, 2],
            )
        )
    out.append(Paragraph("Copies held by the platform", s.h2))
    out.append(
        Paragraph(
            f"Erasures announced by webhook: {deliveries.get('delivered', 0):,} delivered, "
            f"{deliveries.get('pending', 0):,} pending, {deliveries.get('failed', 0):,} failed. "
            f"The platform confirmed deleting its copies for "
            f"{status.confirmations['confirmed']:,} erasures; "
            f"<b>{len(unconfirmed):,}</b> are past their confirmation date unconfirmed"
            + (": " + text(", ".join(e.id for e in unconfirmed)) if unconfirmed else "")
            + ".",
            s.body,
        )
    )
    if overdue_count:
        out.append(Paragraph(f"Overdue items ({overdue_count:,})", s.h2))
        out.append(
            Rows(
                [
                    Column("item", 150),
                    Column("kind", 100),
                    Column("due", 130),
                    Column("days overdue", 70, right=True),
                    Column("state", 60),
                ],
                (
                    (
                        i,
                        k,
                        words.when(due),
                        f"{(f.now - due).days:,}",
                        "claimed" if st == "erasing" else "not started",
                    )
                    for i, k, due, st in f.stream(overdue)
                ),
                size=8,
            )
        )
    return out


def _erasure_requests(f: _Facts, s: Styles) -> list[Flowable]:
    requests = list(
        f.stream(
            select(
                ErasureRequest.id,
                ErasureRequest.received_at,
                ErasureRequest.deadline,
                ErasureRequest.completed_at,
                ErasureRequest.scope,
            )
            .where(
                ErasureRequest.tenant_id == f.tenant_id,
                f.in_period(ErasureRequest.received_at),
            )
            .order_by(ErasureRequest.received_at)
        )
    )
    took = [(r.completed_at - r.received_at) for r in requests if r.completed_at]
    late = [r for r in requests if (r.completed_at or f.now) > r.deadline]
    open_ = [r for r in requests if r.completed_at is None]
    out: list[Flowable] = [
        Paragraph("5. Erasure requests", s.h1),
        Paragraph(
            f"<b>{len(requests):,}</b> requests received in the period; "
            f"{len(took):,} completed, {len(open_):,} open; <b>{len(late):,}</b> "
            "completed after their deadline or still open past it.",
            s.body,
        ),
    ]
    if took:
        hours = sorted(t.total_seconds() / 3600 for t in took)
        allowed = statistics.median(
            (r.deadline - r.received_at).total_seconds() / 3600 for r in requests
        )
        out.append(
            grid(
                [
                    ["time to completion", "hours"],
                    ["median", f"{statistics.median(hours):,.1f}"],
                    [
                        "95th percentile",
                        f"{hours[min(len(hours) - 1, int(len(hours) * 0.95))]:,.1f}",
                    ],
                    ["longest", f"{hours[-1]:,.1f}"],
                    ["deadline allowed (median)", f"{allowed:,.1f}"],
                ],
                [WIDTH * 0.5, WIDTH * 0.25],
                s,
                align_right=[1],
            )
        )
    if late:
        out.append(Paragraph("Late or overdue requests", s.h2))
        out.append(
            grid(
                [
                    ["request", "received", "deadline", "completed"],
                    *[
                        [
                            r.id,
                            words.when(r.received_at),
                            words.when(r.deadline),
                            words.when(r.completed_at) if r.completed_at else "open",
                        ]
                        for r in late[:500]
                    ],
                ],
                [WIDTH * 0.28, WIDTH * 0.24, WIDTH * 0.24, WIDTH * 0.24],
                s,
            )
        )
    return out


def _redactions(f: _Facts, s: Styles) -> list[Flowable]:
    rows = f.session.execute(
        select(Redaction.mode, Redaction.reason, Redaction.status, func.count())
        .where(Redaction.tenant_id == f.tenant_id, f.in_period(Redaction.requested_at))
        .group_by(Redaction.mode, Redaction.reason, Redaction.status)
        .order_by(Redaction.mode, Redaction.reason, Redaction.status)
    ).all()
    reports = f.session.execute(
        select(Report.kind, func.count())
        .where(Report.tenant_id == f.tenant_id, f.in_period(Report.issued_at))
        .group_by(Report.kind)
    ).all()
    out: list[Flowable] = [Paragraph("6. Redactions and reports", s.h1)]
    if rows:
        out.append(
            grid(
                [
                    ["mode", "why", "status", "jobs"],
                    *[[m, r, st, f"{n:,}"] for m, r, st, n in rows],
                ],
                [WIDTH * 0.25, WIDTH * 0.3, WIDTH * 0.25, WIDTH * 0.2],
                s,
                align_right=[3],
            )
        )
    else:
        out.append(Paragraph("No redactions were requested in the period.", s.body))
    out.append(
        Paragraph(
            "Reports issued in the period (each on the log with its SHA-256): "
            + (", ".join(f"{k}: {n:,}" for k, n in reports) or "none")
            + ".",
            s.body,
        )
    )
    return out


def _integrity(f: _Facts, s: Styles, report: Any, keys: list[dict[str, Any]]) -> list[Flowable]:
    verdict = (
        "<font color='#2e7d4f'><b>Verified.</b></font> "
        if report.ok
        else f"<font color='#b23b2e'><b>FAILED:</b></font> {text(report.error)}. "
    )
    return [
        Paragraph("7. Integrity of the log", s.h1),
        Paragraph(
            verdict + f"A full verification run while this report was made re-hashed all "
            f"{report.entries:,} entries of log {text(report.log_id)}, checked the hash chain, "
            f"recomputed the tree root at each of its {report.checkpoints:,} signed "
            "checkpoints, checked every checkpoint signature and the consistency between "
            "consecutive checkpoints.",
            s.body,
        ),
        Paragraph("Signing keys", s.h2),
        grid(
            [
                ["key id", "purpose", "status", "valid from", "signs until"],
                *[
                    [
                        k["kid"],
                        k["purpose"],
                        k["status"],
                        k["valid_from"][:10],
                        (k["valid_until"] or "")[:10] or "—",
                    ]
                    for k in keys
                ],
            ],
            [WIDTH * 0.26, WIDTH * 0.16, WIDTH * 0.16, WIDTH * 0.21, WIDTH * 0.21],
            s,
        ),
    ]


# --- charts ---------------------------------------------------------------------------------

SERIES = [ACCENT, BAD, GOOD, MUTED]


def _bars(
    title: str, labels: Sequence[str], series: Sequence[Sequence[int]], names: Sequence[str]
) -> Drawing:
    drawing = Drawing(WIDTH, 190)
    chart = VerticalBarChart()
    chart.x, chart.y, chart.width, chart.height = 40, 40, WIDTH - 60, 120
    chart.data = [list(values) for values in series]
    chart.categoryAxis.categoryNames = _thin(labels, 14)
    chart.categoryAxis.labels.fontSize = 6.5
    chart.categoryAxis.labels.angle = 30 if len(labels) > 8 else 0
    chart.categoryAxis.labels.boxAnchor = "ne" if len(labels) > 8 else "n"
    chart.valueAxis.valueMin = 0
    chart.valueAxis.labels.fontSize = 7
    chart.barSpacing = 0.5
    for n in range(len(series)):
        chart.bars[n].fillColor = SERIES[n]
        chart.bars[n].strokeColor = None
    drawing.add(chart)
    drawing.add(String(0, 176, title, fontName="Helvetica-Bold", fontSize=9))
    drawing.add(_legend(names, WIDTH - 150, 182))
    return drawing


def _hbars(
    title: str, labels: Sequence[str], series: Sequence[Sequence[int]], names: Sequence[str]
) -> Drawing:
    height = 30 + 16 * len(labels) * max(1, len(series))
    drawing = Drawing(WIDTH, height + 30)
    chart = HorizontalBarChart()
    chart.x, chart.y, chart.width, chart.height = 150, 10, WIDTH - 170, height
    chart.data = [list(values) for values in series]
    chart.categoryAxis.categoryNames = list(labels)
    chart.categoryAxis.labels.fontSize = 7
    chart.categoryAxis.reverseDirection = 1
    chart.valueAxis.valueMin = 0
    chart.valueAxis.labels.fontSize = 7
    for n in range(len(series)):
        chart.bars[n].fillColor = SERIES[n]
        chart.bars[n].strokeColor = None
    drawing.add(chart)
    drawing.add(String(0, height + 16, title, fontName="Helvetica-Bold", fontSize=9))
    if len(names) > 1:
        drawing.add(_legend(names, WIDTH - 150, height + 22))
    return drawing


def _legend(names: Iterable[str], x: float, y: float) -> Legend:
    legend = Legend()
    legend.x, legend.y = x, y
    legend.fontSize = 7
    legend.alignment = "right"
    legend.columnMaximum = 1
    legend.deltax = 70
    legend.colorNamePairs = list(zip(SERIES, names, strict=False))
    return legend


def _thin(labels: Sequence[str], most: int) -> list[str]:
    """Label at most `most` buckets of a long axis, evenly."""
    every = max(1, -(-len(labels) // most))
    return [label if n % every == 0 else "" for n, label in enumerate(labels)]
