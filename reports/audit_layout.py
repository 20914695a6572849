"""The audit report's pages: its sections, their tables and charts, laid out on A4 from the
facts reports.audit_facts reads, and the checkpoint the report rests on."""

from __future__ import annotations

from collections import Counter
from typing import Any

from reportlab.platypus import Flowable, Paragraph

from ledger.items.decisions import Verdict
from ledger.items.items import ItemStatus
from reports import words
from reports.audit_facts import (
    AuditFacts,
    ConsentActivity,
    Decisions,
    ErasureRequests,
    Processing,
    RedactionsAndReports,
    Retention,
)
from reports.charts import horizontal_bars, vertical_bars
from reports.issued import Anchor
from reports.pdf import PAPER, Column, Rows, Styles, grid, text, verification_block
from retention.webhooks import DeliveryStatus

MARGIN = 42.0
WIDTH = PAPER[0] - 2 * MARGIN
SAFEGUARDS = (
    "use checked against consent before every use (deny by default); deletion scheduled at "
    "registration; clip content encrypted per worker; no personal data on the log"
)


def story(
    f: AuditFacts, report_id: str, integrity: Any, keys: list[dict[str, Any]], anchor: Anchor
) -> list[Flowable]:
    """The whole report: its heading, the seven sections, and the checkpoint."""
    s = Styles.sized(9.5)
    tenant = f.tenant()
    first = words.when(f.since) if f.since.year > 1970 else "from the start"
    out: list[Flowable] = [
        Paragraph(f"Audit report: {text(tenant.name)}", s.title),
        Paragraph(
            f"Tenant {text(tenant.id)}. Period: {text(first)} "
            f"to {text(words.when(f.until))}. Made {text(words.when(f.now))}. Report "
            f"{text(report_id)}.",
            s.small,
        ),
    ]
    out += _processing(f.processing(), s, tenant.name)
    out += _consents(f.consents(), s)
    out += _decisions(f.decisions(), s)
    out += _retention(f, f.retention(), s)
    out += _erasure_requests(f.erasure_requests(), s)
    out += _redactions(f.redactions_and_reports(), s)
    out += _integrity(integrity, keys, s)
    out += verification_block(
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
    return out


# --- record of processing -------------------------------------------------------------------


def _counted(counter: Counter[str], table: dict[str, str] | None = None) -> str:
    """Each term with its count, most first; a term that `table` explains, explained."""
    if not counter:
        return "none"
    return "; ".join(
        f"{term}{' (' + table[term] + ')' if table and term in table else ''}: {n:,}"
        for term, n in counter.most_common()
    )


def _processing(p: Processing, s: Styles, controller: str) -> list[Flowable]:
    return [
        Paragraph("1. Record of processing", s.h1),
        Paragraph(
            "As kept for GDPR Art. 30: what is processed, why, about whom, for whom and for "
            f"how long. Counts are of the {p.active:,} consents in force now.",
            s.body,
        ),
        grid(
            [
                ["Controller", controller],
                ["Purposes", _counted(p.purposes, words.PURPOSES)],
                ["Categories of data", _counted(p.categories)],
                [
                    "Categories of data subjects",
                    f"gig workers recording themselves: {p.workers:,}; " + _counted(p.subjects),
                ],
                [
                    "Recipients agreed",
                    _counted(p.recipients)
                    + ("; parties: " + _counted(p.parties) if p.parties else ""),
                ],
                [
                    "Recipients that used data in the period",
                    "; ".join(f"{r}: {n:,} uses" for r, n in p.used_by) or "none",
                ],
                ["Retention terms", _counted(p.retention)],
                ["Jurisdictions", _counted(p.places)],
                [
                    "Terms published",
                    "; ".join(
                        f"{policy.version} ({words.day(policy.published_at)}): "
                        f"{', '.join(policy.purposes)}"
                        for policy in p.policies
                    )
                    or "none published through Custody",
                ],
                ["Safeguards", SAFEGUARDS],
            ],
            [WIDTH * 0.27, WIDTH * 0.73],
            s,
        ),
    ]


# --- consents -------------------------------------------------------------------------------


def _consents(c: ConsentActivity, s: Styles) -> list[Flowable]:
    out: list[Flowable] = [
        Paragraph("2. Consents", s.h1),
        Paragraph(
            f"In the period, <b>{sum(c.given.values()):,}</b> consents were given "
            f"({c.amendments:,} of them amendments) and <b>{sum(c.withdrawn.values()):,}</b> "
            f"withdrawals recorded ({c.withdrawn_in_full:,} of every purpose). Now: "
            + text(", ".join(f"{n:,} {k}" for k, n in sorted(c.status.items())) or "none")
            + ".",
            s.body,
        ),
    ]
    if c.given or c.withdrawn:
        keys = sorted(set(c.given) | set(c.withdrawn))
        out.append(
            vertical_bars(
                "Consents given and withdrawn",
                [k.strftime(c.bucket_format) for k in keys],
                [[c.given[k] for k in keys], [c.withdrawn[k] for k in keys]],
                ["given", "withdrawn"],
                width=WIDTH,
            )
        )
    purposes = sorted(set(c.given_for) | set(c.withdrawn_for))
    if purposes:
        out.append(Paragraph("By purpose, in the period", s.h2))
        out.append(
            grid(
                [
                    ["purpose", "consents given for it", "withdrawals of it"],
                    *[[p, f"{c.given_for[p]:,}", f"{c.withdrawn_for[p]:,}"] for p in purposes],
                ],
                [WIDTH * 0.5, WIDTH * 0.25, WIDTH * 0.25],
                s,
                align_right=[1, 2],
            )
        )
        out.append(
            horizontal_bars(
                "Consents given, by purpose",
                purposes,
                [[c.given_for[p] for p in purposes], [c.withdrawn_for[p] for p in purposes]],
                ["given", "withdrawn"],
                width=WIDTH,
            )
        )
    return out


# --- use decisions --------------------------------------------------------------------------


def _decisions(d: Decisions, s: Styles) -> list[Flowable]:
    out: list[Flowable] = [
        Paragraph("3. Use decisions", s.h1),
        Paragraph(
            f"In the period, <b>{d.allowed + d.denied:,}</b> use checks: <b>{d.allowed:,}</b> "
            f"allowed and <b>{d.denied:,}</b> denied. A denial can have several reasons; each "
            "is counted.",
            s.body,
        ),
    ]
    if d.purposes:
        out.append(
            grid(
                [
                    ["purpose", "allowed", "denied"],
                    *[
                        [
                            p,
                            f"{d.by_purpose.get((p, Verdict.ALLOW), 0):,}",
                            f"{d.by_purpose.get((p, Verdict.DENY), 0):,}",
                        ]
                        for p in d.purposes
                    ],
                ],
                [WIDTH * 0.5, WIDTH * 0.25, WIDTH * 0.25],
                s,
                align_right=[1, 2],
            )
        )
    if d.reasons:
        ordered = [r for r, _ in d.reasons.most_common()]
        out.append(Paragraph("Denials by reason", s.h2))
        out.append(
            grid(
                [["reason", "denials"], *[[r, f"{d.reasons[r]:,}"] for r in ordered]],
                [WIDTH * 0.6, WIDTH * 0.4],
                s,
                align_right=[1],
            )
        )
        out.append(
            horizontal_bars(
                "Denials by reason",
                ordered,
                [[d.reasons[r] for r in ordered]],
                ["denials"],
                width=WIDTH,
            )
        )
    return out


# --- retention ------------------------------------------------------------------------------


def _retention(f: AuditFacts, r: Retention, s: Styles) -> list[Flowable]:
    out: list[Flowable] = [
        Paragraph("4. Retention", s.h1),
        Paragraph(
            f"In the period, <b>{r.on_time + r.late:,}</b> erasures were carried out: "
            f"<b>{r.on_time:,}</b> by their deadline and <b>{r.late:,}</b> after it. Now, "
            f"<b>{r.overdue:,}</b> items are past their deletion date by more than "
            f"{r.overdue_after.days} day(s) and not erased"
            + (" (each listed below)" if r.overdue else "")
            + f"; {r.status.items['due_within_7_days']:,} fall due within 7 days; "
            f"{r.status.erasures['failing']:,} erasures are failing and being retried.",
            s.body,
        ),
    ]
    if r.by_reason:
        out.append(_erasures_by_reason(r, s))
    out += _platform_copies(r, s)
    if r.overdue:
        out += _overdue_items(f, r.overdue, s)
    return out


def _erasures_by_reason(r: Retention, s: Styles) -> Flowable:
    return grid(
        [
            ["why erased", "on time", "late"],
            *[
                [
                    reason,
                    f"{sum(n for why, ok, n in r.by_reason if why == reason and ok):,}",
                    f"{sum(n for why, ok, n in r.by_reason if why == reason and not ok):,}",
                ]
                for reason in sorted({why for why, _, _ in r.by_reason})
            ],
        ],
        [WIDTH * 0.5, WIDTH * 0.25, WIDTH * 0.25],
        s,
        align_right=[1, 2],
    )


def _platform_copies(r: Retention, s: Styles) -> list[Flowable]:
    """Whether the platform was told of each erasure and confirmed deleting its copies."""
    return [
        Paragraph("Copies held by the platform", s.h2),
        Paragraph(
            f"Erasures announced by webhook: {r.deliveries.get(DeliveryStatus.DELIVERED, 0):,} "
            f"delivered, {r.deliveries.get(DeliveryStatus.PENDING, 0):,} pending, "
            f"{r.deliveries.get(DeliveryStatus.FAILED, 0):,} "
            f"failed. The platform confirmed deleting its copies for "
            f"{r.status.confirmations['confirmed']:,} erasures; "
            f"<b>{len(r.unconfirmed):,}</b> are past their confirmation date unconfirmed"
            + (": " + text(", ".join(e.id for e in r.unconfirmed)) if r.unconfirmed else "")
            + ".",
            s.body,
        ),
    ]


def _overdue_items(f: AuditFacts, count: int, s: Styles) -> list[Flowable]:
    """Every overdue item, one line each, streamed from the database as the pages fill."""
    return [
        Paragraph(f"Overdue items ({count:,})", s.h2),
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
                    "claimed" if st == ItemStatus.ERASING else "not started",
                )
                for i, k, due, st in f.overdue_items()
            ),
            size=8,
        ),
    ]


def _erasure_requests(e: ErasureRequests, s: Styles) -> list[Flowable]:
    out: list[Flowable] = [
        Paragraph("5. Erasure requests", s.h1),
        Paragraph(
            f"<b>{e.received:,}</b> requests received in the period; "
            f"{e.completed:,} completed, {e.open:,} open; <b>{len(e.late):,}</b> "
            "completed after their deadline or still open past it.",
            s.body,
        ),
    ]
    if e.times:
        out.append(
            grid(
                [
                    ["time to completion", "hours"],
                    ["median", f"{e.times.median:,.1f}"],
                    ["95th percentile", f"{e.times.p95:,.1f}"],
                    ["longest", f"{e.times.longest:,.1f}"],
                    ["deadline allowed (median)", f"{e.times.allowed:,.1f}"],
                ],
                [WIDTH * 0.5, WIDTH * 0.25],
                s,
                align_right=[1],
            )
        )
    if e.late:
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
                        for r in e.late[:500]
                    ],
                ],
                [WIDTH * 0.28, WIDTH * 0.24, WIDTH * 0.24, WIDTH * 0.24],
                s,
            )
        )
    return out


# --- redactions, reports, integrity ---------------------------------------------------------


def _redactions(r: RedactionsAndReports, s: Styles) -> list[Flowable]:
    out: list[Flowable] = [Paragraph("6. Redactions and reports", s.h1)]
    if r.redactions:
        out.append(
            grid(
                [
                    ["mode", "why", "status", "jobs"],
                    *[[m, why, st, f"{n:,}"] for m, why, st, n in r.redactions],
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
            + (", ".join(f"{k}: {n:,}" for k, n in r.reports) or "none")
            + ".",
            s.body,
        )
    )
    return out


def _integrity(report: Any, keys: list[dict[str, Any]], s: Styles) -> list[Flowable]:
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
