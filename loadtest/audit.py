"""After a load run: did the service keep every promise it acknowledged?

`audit(env, records)` reads the run's records (`loadtest.records`) and the service's database
(through `api.container.build` on the service's own CUSTODY_* settings) and returns the
problems it found (none: the run passed) and its figures:

1. Every acknowledged write is in the database and on its tenant's log: the consent, clip,
   withdrawal (its consent event), stored content and use decision, each at the log index
   the answer gave, with the entry naming the same ids, purposes and decision.
2. Each tenant's log verifies (`ledger.verification.verify_database`, what `custody verify`
   runs: hashes, chain, tree, signed checkpoints, consistency, head).
3. No duplicate entries over the whole log (`loadtest.entries` defines them), and no write
   done twice: entries of the run's kinds that no acknowledged write accounts for are at
   most the operations left unsettled (no answer, or an error after which the service may
   have done it).
4. No acknowledged withdrawal missing from later checks: a check whose first attempt was
   sent after a withdrawal was acknowledged, of an item under that consent and for a purpose
   it withdrew, was denied; a check sent after an item's `delete_after` was denied; and a
   fresh check now of every such item and purpose is denied.
5. Redaction jobs asked for were made (or failed only because their clip was erased),
   requested and finished on the log once each.
6. No due deletion skipped: every item whose `delete_after` had passed, and every clip whose
   consent was withdrawn whole with everything derived from it, by the time the sweeps were
   done (`wait_until_settled`) is erased, in exactly one tombstone (`items.erased`) of a done
   erasure, and its vault bytes are gone; every item a tombstone names is erased; stored
   content of the living is there.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from api.container import Container, build
from api.settings import Settings
from ledger.consent.consents import ConsentEventKind, ConsentStatus
from ledger.items.decisions import Verdict
from ledger.items.items import ItemKind, ItemStatus, object_name
from ledger.log.reader import tenant_log_id
from ledger.log.verification import verify_database
from ledger.models import Consent, ConsentEvent, Item, ItemRoot, Tenant
from loadtest.entries import LogContents, read_log
from loadtest.records import ACKED, CHECKS, read
from redaction.jobs import Failure, RedactionStatus
from redaction.models import Redaction
from retention.erasure import ErasureStatus, withdrawn_clips
from retention.models import Erasure, ErasureItem

PURPOSES = ("motion_imitation", "benchmarking")
CLOCK_SLACK = 1.0  # seconds between the driver's clock and the database's, same host
BATCH = 10_000  # the service's largest batch check
_UNFINISHED = (RedactionStatus.QUEUED, RedactionStatus.RUNNING)


@dataclass
class AuditResult:
    problems: list[str] = field(default_factory=list)
    figures: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.problems


class _Problems:
    """Problems by kind: each kind's first few in full, then how many more."""

    def __init__(self, shown: int) -> None:
        self.shown = shown
        self.by_kind: dict[str, list[str]] = defaultdict(list)

    def add(self, kind: str, detail: str) -> None:
        self.by_kind[kind].append(detail)

    def listed(self) -> list[str]:
        out = []
        for kind, details in self.by_kind.items():
            out += [f"{kind}: {d}" for d in details[: self.shown]]
            if len(details) > self.shown:
                out.append(f"{kind}: ... {len(details) - self.shown} more ({len(details)} in all)")
        return out


def open_service(env: Mapping[str, str]) -> Container:
    """The service's container on its own settings (CUSTODY_* of `env`), not migrating."""
    return build(Settings.from_env(env), migrate=False)


def outstanding(container: Container) -> dict[str, Any]:
    """What the service still owes now, by its clock: due items not yet claimed, clips of
    consents withdrawn whole, items being erased, erasures pending, redaction jobs queued or
    running."""
    now = container.clock.now()
    with container.db.session() as session:
        due = session.scalar(
            select(func.count())
            .select_from(Item)
            .where(Item.status == ItemStatus.ACTIVE, Item.delete_after <= now)
        )
        erasing = session.scalar(
            select(func.count()).select_from(Item).where(Item.status == ItemStatus.ERASING)
        )
        pending = session.execute(
            select(func.count(), func.max(Erasure.next_attempt_at)).where(
                Erasure.status == ErasureStatus.PENDING
            )
        ).one()
        tenants = list(session.scalars(select(Tenant.id)))
        withdrawn = sum(len(withdrawn_clips(session, t, 1000)) for t in tenants)
        redactions = session.scalar(
            select(func.count()).select_from(Redaction).where(Redaction.status.in_(_UNFINISHED))
        )
    return {
        "now": now,
        "due": int(due or 0),
        "withdrawn": withdrawn,
        "erasing": int(erasing or 0),
        "pending_erasures": int(pending[0] or 0),
        "next_attempt_at": pending[1].isoformat() if pending[1] else None,
        "redactions": int(redactions or 0),
    }


def wait_until_settled(
    service: Container | Mapping[str, str],
    timeout: float = 180.0,
    *,
    poll: float = 1.0,
    sweep: bool = False,
) -> dict[str, Any]:
    """Wait until the service owes nothing (`outstanding`): the scheduler's sweeps and the
    job runners did it (with `sweep`, a sweep is also run from here each round). Returns
    `swept_at` (the service's time when nothing was owed, None on timeout), the seconds
    waited and what was still owed."""
    container = service if isinstance(service, Container) else open_service(service)
    try:
        started = time.monotonic()
        while True:
            if sweep:
                container.retention.sweep()
            owed = outstanding(container)
            clear = not any(
                owed[k] for k in ("due", "withdrawn", "erasing", "pending_erasures", "redactions")
            )
            waited = round(time.monotonic() - started, 1)
            if clear or waited >= timeout:
                return {
                    "swept_at": owed.pop("now") if clear else None,
                    "waited": waited,
                    "owed": {k: v for k, v in owed.items() if k != "now"},
                }
            time.sleep(poll)
    finally:
        if container is not service:
            container.close()


def audit(
    env: Mapping[str, str],
    records: Path | str,
    *,
    wait: float = 0.0,
    sweep: bool = False,
    due_by: datetime | None = None,
    fresh_checks: str | None = "database",
    url: str | None = None,
    api_keys: Mapping[str, str] | None = None,
    vault: bool = True,
    shown: int = 10,
) -> AuditResult:
    """Audit a run whose records are in the folder `records`, against the service that
    `env` (its CUSTODY_* settings) names.

    Deletions due by `due_by` must be done; when `wait` > 0 it is first waited (and with
    `sweep`, swept) until the service owes nothing, and `due_by` is that moment; otherwise
    `due_by` defaults to now. Fresh checks after the run go through the service's own check
    in this process (`fresh_checks="database"`), through HTTP batch checks at `url` with
    `api_keys` (tenant label as in the records -> key; `fresh_checks="http"`), or not at all
    (None): either way they are made last, after the log was read."""
    folder = Path(records)
    acked = list(read(folder / ACKED))
    checks = list(read(folder / CHECKS))
    problems = _Problems(shown)
    figures: dict[str, Any] = {}
    container = open_service(env)
    try:
        if wait > 0:
            swept = wait_until_settled(container, wait, sweep=sweep)
            figures["wait"] = {k: v for k, v in swept.items() if k != "swept_at"}
            if swept["swept_at"] is None:
                problems.add(
                    "deletions not done in time",
                    f"after {swept['waited']} s retention still owes {swept['owed']}",
                )
            due_by = swept["swept_at"]
        due_by = due_by or container.clock.now()
        figures["due_by"] = due_by.isoformat()
        run = _Run(container, acked, checks, problems, figures)
        run.resolve_tenants()
        run.verify_logs()
        run.read_logs()
        run.acknowledged_writes()
        run.duplicates()
        run.checks_after_withdrawals()
        run.deletions(due_by, vault)
        if fresh_checks == "database":
            run.fresh_checks(None)
        elif fresh_checks == "http":
            if url is None or api_keys is None:
                raise ValueError("fresh checks over HTTP need url and api_keys")
            run.fresh_checks((url, api_keys))
    finally:
        container.close()
    return AuditResult(problems.listed(), figures)


class _Run:
    def __init__(
        self,
        container: Container,
        acked: list[dict[str, Any]],
        checks: list[dict[str, Any]],
        problems: _Problems,
        figures: dict[str, Any],
    ) -> None:
        self.c, self.db = container, container.db
        self.acked, self.checks = acked, checks
        self.problems, self.figures = problems, figures
        self.by_kind: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for record in acked:
            self.by_kind[record["kind"]].append(record)
        self.tenant_of_label: dict[str, str] = {}
        self.logs: dict[str, LogContents] = {}  # tenant id -> its log read whole
        self.clip_consent = {r["id"]: r["consent"] for r in self.by_kind["clip"]}
        self.clip_due = {r["id"]: r["delete_after"] for r in self.by_kind["clip"]}
        figures["records"] = {k: len(v) for k, v in sorted(self.by_kind.items())}
        figures["records"]["checks"] = len(checks)
        unsettled = Counter(r["op"] for r in self.by_kind["unsettled"])
        figures["unsettled"] = dict(unsettled)

    # Tenants and logs --------------------------------------------------------------------

    def resolve_tenants(self) -> None:
        """Tenant labels of the records (ids, or `#n` when the driver knew only a key)."""
        labels = {r["tenant"] for r in self.acked} | {r["tenant"] for r in self.checks}
        self.tenant_of_label = {t: t for t in labels if not t.startswith("#")}
        with self.db.session() as session:
            for record in self.by_kind["consent"]:
                if record["tenant"] not in self.tenant_of_label:
                    row = session.get(Consent, record["id"])
                    if row is not None:
                        self.tenant_of_label[record["tenant"]] = row.tenant_id
        for label in sorted(labels - self.tenant_of_label.keys()):
            self.problems.add("records", f"tenant {label}: no acknowledged consent names it")
        self.figures["tenants"] = len(set(self.tenant_of_label.values()))

    def tenant(self, record: Mapping[str, Any]) -> str | None:
        return self.tenant_of_label.get(record["tenant"])

    def verify_logs(self) -> None:
        verified = 0
        for tenant in sorted(set(self.tenant_of_label.values())):
            for report in verify_database(self.db, tenant):
                verified += report.entries
                if not report.ok:
                    self.problems.add("log does not verify", report.summary())
        self.figures["entries_verified"] = verified

    def read_logs(self) -> None:
        for tenant in sorted(set(self.tenant_of_label.values())):
            log = self.logs[tenant] = read_log(self.db, tenant_log_id(self.db, tenant))
            for index in log.unreadable:
                self.problems.add("unreadable entry", f"log {log.log_id} index {index}")

    # 1. Acknowledged writes --------------------------------------------------------------

    def _entry(self, record: Mapping[str, Any], index: int, kind: str) -> tuple[Any, ...] | None:
        tenant = self.tenant(record)
        log = self.logs.get(tenant) if tenant else None
        entry = log.entries.get(index) if log else None
        if entry is None or entry.type != kind:
            what = f"a {entry.type} entry" if entry else "no entry"
            self.problems.add(
                f"{record.get('kind')} not on the log",
                f"{record.get('id') or record.get('item')}: {what} at index {index}, not {kind}",
            )
            return None
        return entry.fields

    def _differs(self, kind: str, what: str, found: Any, expected: Any) -> None:
        self.problems.add(f"{kind} recorded differently", f"{what}: {found!r}, not {expected!r}")

    def _erased_since(self, item_id: str) -> bool:
        with self.c.db.session() as session:
            return (
                session.scalar(select(Item.status).where(Item.id == item_id)) != ItemStatus.ACTIVE
            )

    def acknowledged_writes(self) -> None:
        with self.db.session() as session:
            for record in self.by_kind["consent"]:
                row = session.get(Consent, record["id"])
                if row is None or row.tenant_id != self.tenant(record):
                    self.problems.add("consent not in the database", record["id"])
                    continue
                if row.log_index != record["log_index"]:
                    self._differs("consent", record["id"], row.log_index, record["log_index"])
                fields = self._entry(record, record["log_index"], "consent.given")
                if fields is not None and fields[0] != record["id"]:
                    self._differs("consent", f"entry {record['log_index']}", fields, record["id"])
            for record in self.by_kind["clip"]:
                item = session.get(Item, record["id"])
                if (
                    item is None
                    or item.tenant_id != self.tenant(record)
                    or item.kind != ItemKind.CLIP
                ):
                    self.problems.add("clip not in the database", record["id"])
                    continue
                if item.consent_id != record["consent"] or item.log_index != record["log_index"]:
                    self._differs(
                        "clip",
                        record["id"],
                        (item.consent_id, item.log_index),
                        (record["consent"], record["log_index"]),
                    )
                if item.sha256 is not None and item.sha256.hex() != record["sha256"]:
                    self._differs("clip", f"{record['id']} content hash", "another", "the sent")
                fields = self._entry(record, record["log_index"], "clip.registered")
                if fields is not None and fields != (record["id"], record["consent"]):
                    self._differs("clip", f"entry {record['log_index']}", fields, record["id"])
            for record in self.by_kind["content"]:
                item = session.get(Item, record["item"])
                if item is None or item.content_size != record["size"]:
                    self.problems.add(
                        "stored content not in the database",
                        f"{record['item']}: size {item.content_size if item else None}",
                    )
                tenant = self.tenant(record)
                log = self.logs.get(tenant) if tenant else None
                if log is None or not log.once.get(("content.stored", record["item"])):
                    self.problems.add("content not on the log", record["item"])
            for record in self.by_kind["withdrawal"]:
                event = session.get(ConsentEvent, record["id"])
                if (
                    event is None
                    or event.consent_id != record["consent"]
                    or event.kind != ConsentEventKind.WITHDRAWN
                ):
                    self.problems.add("withdrawal not in the database", record["id"])
                    continue
                if sorted(event.purposes) != sorted(record["purposes"]):
                    self._differs("withdrawal", record["id"], event.purposes, record["purposes"])
                fields = self._entry(record, record["log_index"], "consent.withdrawn")
                expected = (record["consent"], tuple(sorted(record["purposes"])))
                if fields is not None and fields[:2] != expected:
                    self._differs(
                        "withdrawal", f"entry {record['log_index']}", fields[:2], expected
                    )
            self._redactions(session)
        answered: dict[tuple[str | None, int], int] = Counter()
        for record in self.checks:
            answered[(self.tenant(record), record["log_index"])] += 1
            fields = self._entry({**record, "kind": "check"}, record["log_index"], "use.decided")
            answer = (record["item"], record["purpose"], record["decision"])
            if fields is not None and fields[:3] != answer:
                self._differs("check", f"entry {record['log_index']}", fields[:3], answer)
        shared = [key for key, n in answered.items() if n > 1]
        for tenant, index in shared:
            self.problems.add(
                "two checks answered with one entry", f"tenant {tenant} index {index}"
            )
        self._unsettled_done()
        self.figures["acknowledged_writes_checked"] = sum(
            len(self.by_kind[k]) for k in ("consent", "clip", "content", "withdrawal", "redaction")
        ) + len(self.checks)

    def _redactions(self, session: Session) -> None:
        """Each acknowledged redaction job: requested on the log, and finished (done, or
        failed only because its clip was erased meanwhile), on the log once."""
        finished: Counter[str] = Counter()
        for record in self.by_kind["redaction"]:
            job = session.get(Redaction, record["id"])
            if job is None or job.source_id != record["item"]:
                self.problems.add("redaction not in the database", record["id"])
                continue
            tenant = self.tenant(record)
            log = self.logs.get(tenant) if tenant else None
            requested = log.once.get(("redaction.requested", job.id), []) if log else []
            if requested != [record["log_index"]]:
                self.problems.add("redaction not on the log", f"{job.id}: requested at {requested}")
            if job.status in _UNFINISHED:
                finished[job.status] += 1
                self.problems.add("redaction not finished", f"{job.id} is {job.status}")
                continue
            kind = (
                "redaction.completed" if job.status == RedactionStatus.DONE else "redaction.failed"
            )
            ended = log.once.get((kind, job.id), []) if log else []
            if log is None or len(ended) != 1:
                finished[job.status] += 1
                self.problems.add(
                    "redaction not on the log", f"{job.id} is {job.status}, no {kind} entry"
                )
                continue
            reason = (
                log.entries[ended[0]].fields[1] if job.status == RedactionStatus.FAILED else None
            )
            finished[f"failed: {reason}" if reason else job.status] += 1
            if reason is not None and reason != Failure.SOURCE_GONE:
                self.problems.add("redaction failed", f"{job.id} ({reason}): {job.error}")
        self.figures["redactions"] = dict(finished)

    def _unsettled_done(self) -> None:
        """How many operations left unsettled took effect after all, where that can be told:
        a clip by its content hash, a withdrawal by its consent's events."""
        acked_withdrawals = {r["id"] for r in self.by_kind["withdrawal"]}
        done: Counter[str] = Counter()
        with self.db.session() as session:
            for record in self.by_kind["unsettled"]:
                tenant = self.tenant(record)
                if record["op"] == "clip" and tenant:
                    found = session.scalar(
                        select(Item.id).where(
                            Item.tenant_id == tenant,
                            Item.sha256 == bytes.fromhex(record["sha256"]),
                        )
                    )
                    done["clip"] += found is not None
                elif record["op"] == "withdrawal":
                    events = session.scalars(
                        select(ConsentEvent.id).where(
                            ConsentEvent.consent_id == record["consent"],
                            ConsentEvent.kind == ConsentEventKind.WITHDRAWN,
                        )
                    )
                    done["withdrawal"] += any(e not in acked_withdrawals for e in events)
        self.figures["unsettled_took_effect"] = dict(done)

    # 3. Duplicates -----------------------------------------------------------------------

    def duplicates(self) -> None:
        found = 0
        for log in self.logs.values():
            for kind, key, indexes in log.duplicates():
                found += 1
                self.problems.add(
                    "duplicate log entries", f"log {log.log_id}: {kind} {key} at {indexes}"
                )
        self.figures["duplicates"] = found
        # Writes done twice under different ids: entries no acknowledgement accounts for,
        # beyond the operations that may have taken effect without an answer.
        unsettled = Counter(r["op"] for r in self.by_kind["unsettled"])
        accounted: dict[str, dict[str, set[int]]] = {
            "consent.given": self._indexes("consent"),
            "clip.registered": self._indexes("clip"),
            "consent.withdrawn": self._indexes("withdrawal"),
            "use.decided": self._check_indexes(),
        }
        ops = {
            "consent.given": "consent",
            "clip.registered": "clip",
            "consent.withdrawn": "withdrawal",
            "use.decided": "check",
        }
        extra_total: dict[str, int] = {}
        for kind, per_tenant in accounted.items():
            extra = 0
            for tenant, log in self.logs.items():
                mine = per_tenant.get(tenant, set())
                if not mine:
                    continue
                found_here = [
                    i
                    for i in log.of_type(kind, start=self._first_index(tenant))
                    # the run's checks carry their key; checks made by an audit do not
                    if kind != "use.decided" or log.entries[i].fields[3] is not None
                ]
                extra += len(set(found_here) - mine)
            extra_total[kind] = extra
            allowed = unsettled.get(ops[kind], 0)
            if extra > allowed:
                self.problems.add(
                    "writes done twice",
                    f"{extra} {kind} entries no acknowledged {ops[kind]} accounts for, "
                    f"and only {allowed} {ops[kind]} operations were left unsettled",
                )
        self.figures["unaccounted_entries"] = extra_total

    def _indexes(self, kind: str) -> dict[str, set[int]]:
        found: dict[str, set[int]] = defaultdict(set)
        for record in self.by_kind[kind]:
            tenant = self.tenant(record)
            if tenant:
                found[tenant].add(record["log_index"])
        return found

    def _check_indexes(self) -> dict[str, set[int]]:
        found: dict[str, set[int]] = defaultdict(set)
        for record in self.checks:
            tenant = self.tenant(record)
            if tenant:
                found[tenant].add(record["log_index"])
        return found

    def _first_index(self, tenant: str) -> int:
        """Where the run starts on a tenant's log: its first acknowledged write."""
        indexes = [
            r["log_index"]
            for r in self.acked
            if "log_index" in r and self.tenant(r) == tenant and r["kind"] != "unsettled"
        ]
        return min(indexes, default=0)

    # 4. Withdrawals and expiries in later checks -----------------------------------------

    def checks_after_withdrawals(self) -> None:
        withdrawals: dict[str, list[tuple[float, set[str], str]]] = defaultdict(list)
        for record in self.by_kind["withdrawal"]:
            withdrawals[record["consent"]].append(
                (record["at"], set(record["purposes"]), record["id"])
            )
        after_withdrawal = after_expiry = 0
        for check in self.checks:
            consent = self.clip_consent.get(check["item"])
            for at, purposes, withdrawal in withdrawals.get(consent or "", ()):
                if check["sent"] > at and check["purpose"] in purposes:
                    after_withdrawal += 1
                    if check["decision"] != Verdict.DENY:
                        self.problems.add(
                            "withdrawal missing from a later check",
                            f"{check['item']} for {check['purpose']} allowed (entry "
                            f"{check['log_index']}), sent {check['sent'] - at:.3f} s after "
                            f"withdrawal {withdrawal} was acknowledged",
                        )
            due = self.clip_due.get(check["item"])
            if due is not None and check["sent"] > _epoch(due) + CLOCK_SLACK:
                after_expiry += 1
                if check["decision"] != Verdict.DENY:
                    self.problems.add(
                        "retention missing from a later check",
                        f"{check['item']} allowed (entry {check['log_index']}) "
                        f"{check['sent'] - _epoch(due):.3f} s after its delete_after",
                    )
        self.figures["checks_after_withdrawal"] = after_withdrawal
        self.figures["checks_after_expiry"] = after_expiry

    def fresh_checks(self, http: tuple[str, Mapping[str, str]] | None) -> None:
        """Every item under a withdrawn consent, for each purpose withdrawn: denied now."""
        asked: dict[tuple[str, str], list[str]] = defaultdict(list)  # (label, purpose) -> items
        with self.db.session() as session:
            for record in self.by_kind["withdrawal"]:
                items = list(
                    session.scalars(select(Item.id).where(Item.consent_id == record["consent"]))
                )
                for purpose in record["purposes"]:
                    asked[(record["tenant"], purpose)] += items
        checked = 0
        for (label, purpose), items in sorted(asked.items()):
            tenant = self.tenant_of_label.get(label)
            if tenant is None:
                continue
            for start in range(0, len(items), BATCH):
                part = items[start : start + BATCH]
                decided = self._decide(http, label, tenant, part, purpose)
                checked += len(part)
                for item, decision in decided:
                    if decision != Verdict.DENY:
                        self.problems.add(
                            "withdrawal missing from a fresh check",
                            f"{item} for {purpose} is allowed after the run",
                        )
        self.figures["fresh_checks"] = checked

    def _decide(
        self,
        http: tuple[str, Mapping[str, str]] | None,
        label: str,
        tenant: str,
        items: list[str],
        purpose: str,
    ) -> Iterable[tuple[str, str]]:
        if http is None:
            decided = self.c.checks.check_batch(tenant, items, purpose, "platform", None)
            return [(d.asked, d.decision) for d in decided]
        url, keys = http
        answer = httpx.post(
            f"{url.rstrip('/')}/v1/checks/batch",
            json={"items": items, "purpose": purpose, "recipient": "platform"},
            headers={"Authorization": f"Bearer {keys[label]}"},
            timeout=60,
        )
        answer.raise_for_status()
        return [(r["asked"], r["decision"]) for r in answer.json()["results"]]

    # 5. Deletions ------------------------------------------------------------------------

    def deletions(self, due_by: datetime, vault: bool) -> None:
        tenants = sorted(set(self.tenant_of_label.values()))
        tombstones: dict[str, list[int]] = defaultdict(list)  # item -> tombstone indexes
        erasure_at: dict[str, int] = {}
        for tenant in tenants:
            log = self.logs[tenant]
            for index in log.of_type("items.erased"):
                erasure, items = log.entries[index].fields
                erasure_at[erasure] = index
                for item in items:
                    tombstones[item].append(index)
        due_count = erased_count = vault_checked = 0
        with self.db.session() as session:
            rows = session.execute(
                select(
                    Item.id,
                    Item.kind,
                    Item.status,
                    Item.delete_after,
                    Item.consent_id,
                    Item.content_size,
                    Item.tenant_id,
                    ErasureItem.erasure_id,
                    ErasureItem.stored,
                    Erasure.status.label("erasure_status"),
                    Erasure.log_index.label("tombstone_index"),
                )
                .outerjoin(ErasureItem, ErasureItem.item_id == Item.id)
                .outerjoin(Erasure, Erasure.id == ErasureItem.erasure_id)
                .where(Item.tenant_id.in_(tenants))
            ).all()
            withdrawn_whole = set(
                session.scalars(
                    select(Consent.id).where(
                        Consent.tenant_id.in_(tenants), Consent.status == ConsentStatus.WITHDRAWN
                    )
                )
            )
            withdrawn_at: dict[str, datetime] = {}
            for consent_id, at in session.execute(
                select(ConsentEvent.consent_id, ConsentEvent.at).where(
                    ConsentEvent.consent_id.in_(withdrawn_whole),
                    ConsentEvent.kind == ConsentEventKind.WITHDRAWN,
                )
            ):
                withdrawn_at[consent_id] = max(at, withdrawn_at.get(consent_id, at))
            roots: dict[str, set[str]] = defaultdict(set)  # derived item -> its clips
            for item_id, clip_id in session.execute(
                select(ItemRoot.item_id, ItemRoot.clip_id)
                .join(Item, Item.id == ItemRoot.item_id)
                .where(Item.tenant_id.in_(tenants), Item.kind != ItemKind.CLIP)
            ):
                roots[item_id].add(clip_id)
        # A clip whose consent was withdrawn whole is due; so is everything derived from it.
        withdrawn_clips_due = {
            row.id
            for row in rows
            if row.kind == ItemKind.CLIP
            and row.consent_id in withdrawn_whole
            and withdrawn_at.get(row.consent_id, due_by) <= due_by
        }
        for row in rows:
            expired = row.delete_after is not None and row.delete_after <= due_by
            withdrawn = row.id in withdrawn_clips_due or bool(
                roots.get(row.id, set()) & withdrawn_clips_due
            )
            marks = tombstones.get(row.id, [])
            if expired or withdrawn:
                due_count += 1
                if row.status != ItemStatus.ERASED:
                    why = "retention ended" if expired else "its consent was withdrawn"
                    self.problems.add(
                        "due deletion skipped",
                        f"{row.id} ({why}; delete_after "
                        f"{row.delete_after.isoformat() if row.delete_after else None}) is "
                        f"{row.status}",
                    )
            if row.status == ItemStatus.ERASED:
                erased_count += 1
                if len(marks) != 1:
                    self.problems.add(
                        "erasure tombstones", f"{row.id} is erased, in {len(marks)} tombstones"
                    )
                elif row.erasure_status != ErasureStatus.DONE or row.tombstone_index != marks[0]:
                    self.problems.add(
                        "erasure tombstones",
                        f"{row.id}: erasure {row.erasure_id} is {row.erasure_status} at "
                        f"{row.tombstone_index}, its tombstone at {marks[0]}",
                    )
            elif marks:
                self.problems.add(
                    "erasure tombstones", f"{row.id} is {row.status} but a tombstone names it"
                )
            bytes_erased = row.status == ItemStatus.ERASED and bool(row.stored)
            bytes_kept = row.status == ItemStatus.ACTIVE and row.content_size is not None
            if vault and (bytes_erased or bytes_kept):
                vault_checked += 1
                there = self.c.vault.backend.exists(object_name(row.tenant_id, row.id))
                if not there and row.status == ItemStatus.ACTIVE and self._erased_since(row.id):
                    continue  # fell due after the rows were read: the sweep erased it since
                if there != (row.status == ItemStatus.ACTIVE):
                    self.problems.add(
                        "vault",
                        f"{row.id} is {row.status} and its bytes are "
                        f"{'still there' if there else 'missing'} (erasure "
                        f"{row.erasure_id} {row.erasure_status}, delete_after "
                        f"{row.delete_after}, {row.content_size} bytes)",
                    )
        for record in self.by_kind["withdrawal"]:
            if record["complete"] and record["consent"] not in withdrawn_whole:
                self.problems.add(
                    "withdrawal not in the database",
                    f"{record['consent']} was withdrawn whole but is not withdrawn",
                )
        self.figures["deletions"] = {
            "due": due_count,
            "erased": erased_count,
            "tombstones": len(erasure_at),
            "vault_objects_checked": vault_checked,
        }


def _epoch(moment: str) -> float:
    return datetime.fromisoformat(moment.replace("Z", "+00:00")).timestamp()


# The command line ------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m loadtest.audit",
        description="Audit a load run's records against the service's database "
        "(CUSTODY_* settings from the environment).",
    )
    parser.add_argument("records", type=Path, help="the run's folder of records")
    parser.add_argument("--wait", type=float, default=0.0, help="seconds to wait for sweeps")
    parser.add_argument("--sweep", action="store_true", help="also sweep from here")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    result = audit(os.environ, args.records, wait=args.wait, sweep=args.sweep)
    if args.json:
        print(json.dumps({"problems": result.problems, "figures": result.figures}, indent=2))
    else:
        print(json.dumps(result.figures, indent=2))
        print("\n".join(result.problems) or "audit passed")
    return 0 if result.ok else 1


if __name__ == "__main__":
    sys.exit(main())
