"""The worker's report: what they agreed to and what was done with their recordings, in
plain words, on pages a phone shows at full width.

The front pages summarise (who holds the data, each agreement, uses grouped by who and
why, what was erased, what is scheduled, open requests, the worker's rights); two
appendices list every item and every group of uses, drawn straight from the database one
page at a time. Everything is read in one consistent snapshot that a signed checkpoint
covers; the checkpoint closes the report, as text and as a QR code."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from itertools import groupby
from pathlib import Path
from typing import Any

from reportlab.platypus import Flowable, PageBreak, Paragraph, Spacer
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ledger.consent.consents import ConsentEventKind, ConsentStatus, find_worker
from ledger.items.decisions import Verdict
from ledger.items.items import ItemKind, ItemStatus
from ledger.log.appender import Appender
from ledger.models import Consent, ConsentEvent, Item, ItemRoot, Tenant, UseDecision, Worker
from reports import words
from reports.issued import Anchor, Issued, ReportKind, Reports, new_report_id, snapshot
from reports.pdf import PHONE, Column, Rows, Styles, build, grid, text, verification_block
from retention.models import Erasure, ErasureItem, ErasureRequest

MARGIN = 18.0
WIDTH = PHONE[0] - 2 * MARGIN
STREAM = 2000  # rows fetched at a time for the appendices


@dataclass(frozen=True)
class Counts:
    clips: int
    derived: int
    active: int
    erased: int
    uses: int
    scheduled: int


def _items(worker_id: str):  # type: ignore[no-untyped-def]
    """Every item that descends from the worker's clips (the clips included)."""
    clips = select(Item.id).where(Item.worker_id == worker_id, Item.kind == ItemKind.CLIP)
    return select(ItemRoot.item_id).where(ItemRoot.clip_id.in_(clips)).distinct()


def _allowed_uses(tenant_id: str, items: Any) -> Any:
    """The record of use: allowed decisions on any of `items`."""
    return (
        (UseDecision.tenant_id == tenant_id)
        & (UseDecision.decision == Verdict.ALLOW)
        & UseDecision.item_id.in_(items)
    )


def counts(session: Session, tenant_id: str, worker_id: str) -> Counts:
    items = _items(worker_id)
    rows = session.execute(
        select(Item.kind, Item.status, func.count())
        .where(Item.id.in_(items))
        .group_by(Item.kind, Item.status)
    ).all()
    uses = session.scalar(select(func.count()).where(_allowed_uses(tenant_id, items)))
    scheduled = session.scalar(
        select(func.count()).where(
            Item.id.in_(items), Item.status == ItemStatus.ACTIVE, Item.delete_after.is_not(None)
        )
    )
    return Counts(
        clips=sum(n for kind, _, n in rows if kind == ItemKind.CLIP),
        derived=sum(n for kind, _, n in rows if kind != ItemKind.CLIP),
        active=sum(n for _, status, n in rows if status == ItemStatus.ACTIVE),
        erased=sum(n for _, status, n in rows if status != ItemStatus.ACTIVE),
        uses=uses or 0,
        scheduled=scheduled or 0,
    )


class WorkerReport:
    """Writes one worker's report and records it on the log."""

    def __init__(self, appender: Appender, reports: Reports) -> None:
        self.appender = appender
        self.reports = reports

    def write(self, tenant_id: str, worker: str, out: Path, by: str | None) -> Issued:
        with self.appender.db.session() as session:
            found = find_worker(session, tenant_id, worker)  # before waiting for a checkpoint
        report_id = new_report_id()
        now = self.appender.clock.now()
        with snapshot(self.appender, tenant_id) as (session, anchor):
            found = find_worker(session, tenant_id, found.id)
            story = _Story(session, tenant_id, found, anchor, report_id, now).build()
            written = build(
                out,
                story,
                page=PHONE,
                margin=MARGIN,
                title="Your recordings and what was done with them",
                footer=lambda page: f"Custody report {report_id} · page {page}",
            )
        return self.reports.record(
            tenant_id,
            ReportKind.WORKER,
            report_id=report_id,
            sha256=written.sha256,
            size=written.size,
            anchor=anchor,
            period=(None, now),
            by=by,
            worker_id=found.id,
        )


class _Story:
    def __init__(
        self,
        session: Session,
        tenant_id: str,
        worker: Worker,
        anchor: Anchor,
        report_id: str,
        now: datetime,
    ) -> None:
        self.session = session
        self.tenant_id = tenant_id
        self.worker = worker
        self.anchor = anchor
        self.report_id = report_id
        self.now = now
        self.s = Styles.sized(10.0)
        self.items = _items(worker.id)

    def build(self) -> list[Flowable]:
        consents = list(
            self.session.scalars(
                select(Consent)
                .where(Consent.worker_id == self.worker.id)
                .order_by(Consent.given_at, Consent.id)
            )
        )
        return [
            *self._heading(),
            *self._in_short(),
            *self._holder(),
            *self._consents(consents, events=self._events(consents)),
            *self._uses(),
            *self._erasures(),
            *self._scheduled(),
            *self._requests(),
            *self._rights(consents),
            *self._check(),
            PageBreak(),
            *self._every_item(),
            PageBreak(),
            *self._every_use(),
        ]

    def _heading(self) -> list[Flowable]:
        s = self.s
        return [
            Paragraph("Your recordings and what was done with them", s.title),
            Paragraph(
                f"Made on {text(words.when(self.now))} for you, worker "
                f"<b>{text(self.worker.id)}</b> (your platform knows you as "
                f"<b>{text(self.worker.ref)}</b>). Report {text(self.report_id)}.",
                s.small,
            ),
        ]

    def _in_short(self) -> list[Flowable]:
        s = self.s
        tally = counts(self.session, self.tenant_id, self.worker.id)
        return [
            Paragraph("In short", s.h1),
            grid(
                [
                    ["", "number"],
                    ["Recordings of you", f"{tally.clips:,}"],
                    ["Things made from them (labels, copies...)", f"{tally.derived:,}"],
                    ["Still kept", f"{tally.active:,}"],
                    ["Erased", f"{tally.erased:,}"],
                    ["Times they were used", f"{tally.uses:,}"],
                    ["Scheduled to be deleted", f"{tally.scheduled:,}"],
                ],
                [WIDTH * 0.72, WIDTH * 0.28],
                s,
                align_right=[1],
            ),
        ]

    def _holder(self) -> list[Flowable]:
        s = self.s
        tenant = self.session.get(Tenant, self.tenant_id)
        assert tenant is not None
        return [
            Paragraph("Who holds your data", s.h1),
            Paragraph(
                f"<b>{text(tenant.name)}</b> holds your recordings and decides how they are "
                "used. Custody, an independent record, notes every agreement, every use and "
                "every deletion in a log that cannot be changed without it showing.",
                s.body,
            ),
        ]

    def _check(self) -> list[Flowable]:
        """The signed checkpoint the report rests on, and how to check it."""
        return verification_block(
            self.anchor,
            self.s,
            WIDTH,
            "Check this report",
            "Everything in this report is recorded in the log up to the checkpoint "
            "below, which the log signed. Anyone can fetch the log's checkpoints and "
            f"proofs from the service (/v1/logs/{self.anchor.log_id}/...) and its public "
            "keys (/.well-known/custody-keys), check the signature, and check that later "
            "checkpoints still contain this one unchanged.",
        )

    def _every_item(self) -> list[Flowable]:
        """Appendix A: one line per item, streamed from the database as the pages fill."""
        s = self.s
        return [
            Paragraph("Appendix A: every recording and item", s.h1),
            Paragraph(
                "Each recording of you and each thing made from it: its id, what it is, when "
                "it was registered, the first 10 characters of its fingerprint (SHA-256), "
                "when it will be deleted (or that it was), and its entry number in the log.",
                s.small,
            ),
            Rows(
                [
                    Column("id", 76),
                    Column("what", 60),
                    Column("date", 38),
                    Column("fingerprint", 42),
                    Column("until", 38),
                    Column("log #", 30, right=True),
                ],
                self._item_rows(),
                size=6.0,
            ),
        ]

    def _every_use(self) -> list[Flowable]:
        """Appendix B: one line per item, purpose and recipient, streamed likewise."""
        s = self.s
        return [
            Paragraph("Appendix B: every use, by item", s.h1),
            Paragraph(
                "For each item that was used: for what, by whom, how many times, and the "
                "first and last time.",
                s.small,
            ),
            Rows(
                [
                    Column("item", 76),
                    Column("purpose", 64),
                    Column("by", 40),
                    Column("times", 24, right=True),
                    Column("first – last", 80),
                ],
                self._use_rows(),
                size=6.0,
            ),
        ]

    def _events(self, consents: Sequence[Consent]) -> dict[str, list[ConsentEvent]]:
        events: dict[str, list[ConsentEvent]] = {c.id: [] for c in consents}
        if consents:
            for event in self.session.scalars(
                select(ConsentEvent)
                .where(ConsentEvent.consent_id.in_(list(events)))
                .order_by(ConsentEvent.at, ConsentEvent.id)
            ):
                events[event.consent_id].append(event)
        return events

    def _consents(
        self, consents: Sequence[Consent], events: dict[str, list[ConsentEvent]]
    ) -> list[Flowable]:
        s = self.s
        out: list[Flowable] = [Paragraph("What you agreed to", s.h1)]
        if not consents:
            out.append(Paragraph("There is no agreement on record.", s.body))
        for consent in consents:
            terms = consent.terms
            status = words.one(words.CONSENT_STATUS, consent.status)
            withdrawn = consent.withdrawn_purposes
            out += [
                Paragraph(
                    f"Agreement of {text(words.day(consent.given_at))}: {text(status)}", s.h2
                ),
                grid(
                    [
                        ["", ""],
                        ["Id", consent.id],
                        ["Used for", words.listed(words.PURPOSES, terms["purposes"])],
                        [
                            "What it may show",
                            words.listed(words.CATEGORIES, terms["data_categories"]),
                        ],
                        [
                            "Who may receive it",
                            words.recipients(terms["recipients"], terms["parties"]),
                        ],
                        ["Kept", words.retention(terms["retention"])],
                        [
                            "Given",
                            f"{words.when(consent.given_at)}, "
                            f"{words.one(words.COLLECTION, terms['collection_method'])}",
                        ],
                        ["Terms", f"version {consent.policy_version}: {consent.policy_url}"],
                        ["Law", terms["jurisdiction"]],
                        *(
                            [["Withdrawn for", words.listed(words.PURPOSES, withdrawn)]]
                            if withdrawn and consent.status == ConsentStatus.ACTIVE
                            else []
                        ),
                        *(
                            [["Replaced by", consent.superseded_by]]
                            if consent.superseded_by
                            else []
                        ),
                    ][1:],
                    [WIDTH * 0.3, WIDTH * 0.7],
                    s,
                ),
            ]
            history = [e for e in events[consent.id] if e.kind != ConsentEventKind.GIVEN]
            for event in history:
                what = (
                    "you withdrew it for " + words.listed(words.PURPOSES, list(event.purposes))
                    if event.kind == ConsentEventKind.WITHDRAWN
                    else "it was replaced by a newer agreement"
                )
                out.append(Paragraph(f"{text(words.when(event.at))}: {text(what)}.", s.small))
        return out

    def _uses(self) -> list[Flowable]:
        s = self.s
        rows = self.session.execute(
            select(
                UseDecision.recipient,
                UseDecision.purpose,
                func.count(),
                func.min(UseDecision.at),
                func.max(UseDecision.at),
            )
            .where(_allowed_uses(self.tenant_id, self.items))
            .group_by(UseDecision.recipient, UseDecision.purpose)
            .order_by(func.count().desc(), UseDecision.recipient, UseDecision.purpose)
        ).all()
        out: list[Flowable] = [Paragraph("How your recordings were used", s.h1)]
        if not rows:
            out.append(Paragraph("Nobody has used them yet.", s.body))
            return out
        out.append(
            Paragraph(
                "Every use was checked against your agreement first and written in the log. "
                "By whom and for what (each use of each item is in Appendix B):",
                s.body,
            )
        )
        out.append(
            grid(
                [
                    ["by", "for", "times", "first – last"],
                    *[
                        [
                            words.recipient(who),
                            words.one(words.PURPOSES, purpose),
                            f"{n:,}",
                            f"{words.day(first)} – {words.day(last)}",
                        ]
                        for who, purpose, n, first, last in rows
                    ],
                ],
                [WIDTH * 0.22, WIDTH * 0.38, WIDTH * 0.13, WIDTH * 0.27],
                s,
                align_right=[2],
            )
        )
        return out

    def _erasures(self) -> list[Flowable]:
        s = self.s
        rows = self.session.execute(
            select(Erasure, func.count(ErasureItem.item_id))
            .join(ErasureItem, ErasureItem.erasure_id == Erasure.id)
            .where(Erasure.tenant_id == self.tenant_id, Erasure.worker_id == self.worker.id)
            .group_by(Erasure.id)
            .order_by(Erasure.planned_at, Erasure.id)
        ).all()
        out: list[Flowable] = [Paragraph("What was erased", s.h1)]
        if not rows:
            out.append(Paragraph("Nothing of yours has been erased.", s.body))
            return out
        out.append(
            Paragraph(
                "Each erasure has a signed deletion certificate you can ask for by its id; "
                "anyone can check it.",
                s.body,
            )
        )
        out.append(
            grid(
                [
                    ["erased on", "why", "items", "certificate"],
                    *[
                        [
                            words.day(e.erased_at) if e.erased_at else "in progress",
                            words.one(words.ERASURE_REASONS, e.reason),
                            f"{n:,}",
                            e.id if e.certificate else "being signed" if e.erased_at else "—",
                        ]
                        for e, n in rows
                    ],
                ],
                [WIDTH * 0.22, WIDTH * 0.3, WIDTH * 0.12, WIDTH * 0.36],
                s,
                align_right=[2],
            )
        )
        return out

    def _scheduled(self) -> list[Flowable]:
        s = self.s
        due = self.session.scalars(
            select(Item.delete_after)
            .where(
                Item.id.in_(self.items),
                Item.status == ItemStatus.ACTIVE,
                Item.delete_after.is_not(None),
            )
            .order_by(Item.delete_after)
            .execution_options(yield_per=STREAM)
        )
        rows = [(day, len(list(group))) for day, group in groupby(d.date() for d in due if d)]
        out: list[Flowable] = [Paragraph("What will be deleted, and when", s.h1)]
        if not rows:
            out.append(Paragraph("Nothing kept has a deletion date (or nothing is kept).", s.body))
            return out
        out.append(
            Paragraph(
                "These dates were fixed when each recording was registered, from your "
                "agreement. Deletion happens on that day without anyone asking.",
                s.body,
            )
        )
        out.append(
            grid(
                [["deleted on", "items"], *[[words.day(d), f"{n:,}"] for d, n in rows]],
                [WIDTH * 0.6, WIDTH * 0.4],
                s,
                align_right=[1],
            )
        )
        return out

    def _requests(self) -> list[Flowable]:
        s = self.s
        requests = list(
            self.session.scalars(
                select(ErasureRequest)
                .where(
                    ErasureRequest.tenant_id == self.tenant_id,
                    ErasureRequest.worker_id == self.worker.id,
                )
                .order_by(ErasureRequest.received_at, ErasureRequest.id)
            )
        )
        out: list[Flowable] = [Paragraph("Your requests to erase", s.h1)]
        if not requests:
            out.append(Paragraph("You have not asked for anything to be erased.", s.body))
            return out
        out.append(
            grid(
                [
                    ["asked on", "what", "must be done by", "status"],
                    *[
                        [
                            words.day(r.received_at),
                            words.one(words.REQUEST_SCOPES, r.scope),
                            words.day(r.deadline),
                            f"done {words.day(r.completed_at)}"
                            if r.completed_at
                            else ("late" if r.deadline < self.now else "in progress"),
                        ]
                        for r in requests
                    ],
                ],
                [WIDTH * 0.22, WIDTH * 0.3, WIDTH * 0.25, WIDTH * 0.23],
                s,
            )
        )
        out.append(Paragraph("Request ids: " + text(", ".join(r.id for r in requests)), s.small))
        return out

    def _rights(self, consents: Sequence[Consent]) -> list[Flowable]:
        s = self.s
        places = sorted({c.terms["jurisdiction"] for c in consents}) or ["--"]
        complain = "; ".join(words.authority(p) for p in places)
        return [
            Paragraph("Your rights, and how to use them", s.h1),
            Paragraph(
                "<b>Withdraw.</b> You can withdraw an agreement, for some uses or all, at any "
                "time, in the platform's app or through the Custody link it gives you. From "
                "that moment every new use is refused, and what was kept only for those uses "
                "is erased.",
                s.body,
            ),
            Paragraph(
                "<b>Erase.</b> You can ask for one recording, everything under one agreement, "
                "or everything to be erased. It must be done within a month; you get a signed "
                "certificate when it is.",
                s.body,
            ),
            Paragraph(
                "<b>Know.</b> You can ask for this report at any time. It lists why your data "
                "is used, what kinds of data, who receives it, how long it is kept, and where "
                "it came from (you, "
                "through the platform).",
                s.body,
            ),
            Paragraph(
                f"<b>Complain.</b> If you think your data is misused, you can complain to "
                f"{text(complain)}.",
                s.body,
            ),
            Spacer(1, 4),
        ]

    def _item_rows(self) -> Iterator[Sequence[str]]:
        query = (
            select(
                Item.id,
                Item.kind,
                Item.created_at,
                Item.sha256,
                ErasureItem.sha256,
                Item.status,
                Item.delete_after,
                Item.log_index,
            )
            .outerjoin(ErasureItem, ErasureItem.item_id == Item.id)
            .where(Item.id.in_(self.items))
            .order_by(Item.created_at, Item.id)
            .execution_options(yield_per=STREAM)
        )
        for item_id, kind, created, sha, erased_sha, status, due, index in self.session.execute(
            query
        ):
            digest = sha or erased_sha
            if status == ItemStatus.ACTIVE:
                state = due.strftime("%d %b %y") if due else "kept"
            else:
                state = "erased" if status == ItemStatus.ERASED else "erasing"
            yield (
                item_id,
                words.one(words.KINDS, kind),
                created.strftime("%d %b %y"),
                digest.hex()[:10] if digest else "—",
                state,
                str(index),
            )

    def _use_rows(self) -> Iterator[Sequence[str]]:
        query = (
            select(
                UseDecision.item_id,
                UseDecision.purpose,
                UseDecision.recipient,
                func.count(),
                func.min(UseDecision.at),
                func.max(UseDecision.at),
            )
            .where(_allowed_uses(self.tenant_id, self.items))
            .group_by(UseDecision.item_id, UseDecision.purpose, UseDecision.recipient)
            .order_by(UseDecision.item_id, UseDecision.purpose, UseDecision.recipient)
            .execution_options(yield_per=STREAM)
        )
        previous = None
        for item_id, purpose, who, n, first, last in self.session.execute(query):
            yield (
                (item_id or "") if item_id != previous else "",
                purpose.replace("_", " "),
                words.recipient(who).removeprefix("the "),
                f"{n:,}",
                f"{first.strftime('%d %b %y')} – {last.strftime('%d %b %y')}",
            )
            previous = item_id
