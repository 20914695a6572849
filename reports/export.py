"""The verifiable audit export: a zip of one tenant's log for a period, every entry with its
inclusion proof against a signed checkpoint, and the tenant's projections (format and
verifier: verify.bundle). Nothing personal: entries hold pseudonyms and commitments, and
projections are written from an allow-list of columns (no platform references, guardian
references, content hashes, receipts, capture details, webhook bodies or secrets).

The log part is read from entries, nodes and checkpoints, which never change once written;
the projections from one snapshot that the anchor checkpoint covers."""

from __future__ import annotations

import csv
import hashlib
import itertools
import json
import os
import string
import tempfile
import zipfile
from dataclasses import dataclass
from datetime import datetime
from importlib import resources
from pathlib import Path
from typing import Any, Self

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from ledger.clock import format_ts
from ledger.log.appender import Appender
from ledger.log.keys import KeyRing
from ledger.log.reader import LogReader, read_nodes
from ledger.models import (
    Checkpoint,
    Consent,
    ConsentEvent,
    Item,
    ItemParent,
    LogEntry,
    LogNode,
    Policy,
    UseDecision,
)
from redaction.models import Redaction
from reports.audit import period_of
from reports.issued import Anchor, Issued, ReportKind, Reports, new_report_id, snapshot
from reports.models import Report
from retention.models import Erasure, ErasureItem, ErasureRequest, WebhookDelivery
from verify import merkle
from verify.bundle import CHECKPOINTS, CONSISTENCY, ENTRIES, FORMAT, MANIFEST, b64, cell
from verify.note import key_hash, parse_note, parse_verifier_key

BLOCK = 10  # inclusion paths are read a block of 2**BLOCK leaves at a time
STREAM = 2000


@dataclass(frozen=True)
class Projection:
    name: str
    query: Select[*tuple[Any, ...]]
    cites: str | None  # the column whose value the entry at `log_index` holds


def projections(tenant_id: str, period: tuple[datetime, datetime]) -> list[Projection]:
    """What the bundle holds of the tenant's records, column by column: the state as it is
    (policies, consents, items, lineage, erasure requests, erasures, redactions), and the
    events of the period (consent events, use decisions, webhook deliveries, reports)."""
    return [
        *_consent_projections(tenant_id, period),
        *_item_projections(tenant_id, period),
        *_erasure_projections(tenant_id, period),
        *_redaction_and_report_projections(tenant_id, period),
    ]


def _consent_projections(tenant_id: str, period: tuple[datetime, datetime]) -> list[Projection]:
    """The terms published, the consents, and the consent events of the period."""
    since, until = period
    return [
        Projection(
            "policies",
            select(
                Policy.version, Policy.url, Policy.purposes, Policy.published_at, Policy.log_index
            ).where(Policy.tenant_id == tenant_id),
            "version",
        ),
        Projection(
            "consents",
            select(
                Consent.id,
                Consent.worker_id,
                Consent.amends,
                Consent.given_at,
                Consent.policy_url,
                Consent.policy_version,
                Consent.terms,
                Consent.status,
                Consent.withdrawn_purposes,
                Consent.superseded_by,
                Consent.log_index,
            ).where(Consent.tenant_id == tenant_id),
            "id",
        ),
        Projection(
            "consent_events",
            select(
                ConsentEvent.id,
                ConsentEvent.consent_id,
                ConsentEvent.kind,
                ConsentEvent.purposes,
                ConsentEvent.at,
                ConsentEvent.log_index,
            )
            .join(Consent, Consent.id == ConsentEvent.consent_id)
            .where(
                Consent.tenant_id == tenant_id, ConsentEvent.at >= since, ConsentEvent.at < until
            ),
            "consent_id",
        ),
    ]


def _item_projections(tenant_id: str, period: tuple[datetime, datetime]) -> list[Projection]:
    """The items, their lineage, and the use decisions of the period."""
    since, until = period
    return [
        Projection(
            "items",
            select(
                Item.id,
                Item.kind,
                Item.commitment,
                Item.worker_id,
                Item.consent_id,
                Item.data_categories,
                Item.delete_after,
                Item.status,
                Item.created_at,
                Item.content_size,
                Item.log_index,
            ).where(Item.tenant_id == tenant_id),
            "id",
        ),
        Projection(
            "item_parents",
            select(ItemParent.child_id, ItemParent.parent_id)
            .join(Item, Item.id == ItemParent.child_id)
            .where(Item.tenant_id == tenant_id),
            None,
        ),
        Projection(
            "use_decisions",
            select(
                UseDecision.id,
                UseDecision.item_id,
                UseDecision.purpose,
                UseDecision.recipient,
                UseDecision.decision,
                UseDecision.reasons,
                UseDecision.api_key_id,
                UseDecision.at,
                UseDecision.log_index,
            ).where(
                UseDecision.tenant_id == tenant_id, UseDecision.at >= since, UseDecision.at < until
            ),
            "item_id",
        ),
    ]


def _erasure_projections(tenant_id: str, period: tuple[datetime, datetime]) -> list[Projection]:
    """Erasure requests, erasures and what each erased, and the webhook deliveries of the
    period that announced them."""
    since, until = period
    return [
        Projection(
            "erasure_requests",
            select(
                ErasureRequest.id,
                ErasureRequest.worker_id,
                ErasureRequest.scope,
                ErasureRequest.target,
                ErasureRequest.status,
                ErasureRequest.received_at,
                ErasureRequest.deadline,
                ErasureRequest.completed_at,
                ErasureRequest.requested_by,
                ErasureRequest.log_index,
            ).where(ErasureRequest.tenant_id == tenant_id),
            "id",
        ),
        Projection(
            "erasures",
            select(
                Erasure.id,
                Erasure.worker_id,
                Erasure.reason,
                Erasure.request_id,
                Erasure.status,
                Erasure.planned_at,
                Erasure.deadline,
                Erasure.attempts,
                Erasure.erased_at,
                Erasure.key_destroyed,
                Erasure.certified_at,
                Erasure.confirm_by,
                Erasure.confirmed_at,
                Erasure.log_index,
            ).where(Erasure.tenant_id == tenant_id),
            "id",
        ),
        Projection(
            "erasure_items",
            select(
                ErasureItem.item_id, ErasureItem.erasure_id, ErasureItem.kind, ErasureItem.stored
            )
            .join(Erasure, Erasure.id == ErasureItem.erasure_id)
            .where(Erasure.tenant_id == tenant_id),
            None,
        ),
        Projection(
            "webhook_deliveries",
            select(
                WebhookDelivery.id,
                WebhookDelivery.endpoint_id,
                WebhookDelivery.erasure_id,
                WebhookDelivery.event,
                WebhookDelivery.status,
                WebhookDelivery.attempts,
                WebhookDelivery.last_status,
                WebhookDelivery.created_at,
                WebhookDelivery.delivered_at,
            ).where(
                WebhookDelivery.tenant_id == tenant_id,
                WebhookDelivery.created_at >= since,
                WebhookDelivery.created_at < until,
            ),
            None,
        ),
    ]


def _redaction_and_report_projections(
    tenant_id: str, period: tuple[datetime, datetime]
) -> list[Projection]:
    """The redactions, and the reports issued in the period."""
    since, until = period
    return [
        Projection(
            "redactions",
            select(
                Redaction.id,
                Redaction.source_id,
                Redaction.mode,
                Redaction.fill,
                Redaction.reason,
                Redaction.status,
                Redaction.requested_at,
                Redaction.requested_by,
                Redaction.finished_at,
                Redaction.item_id,
                Redaction.log_index,
            ).where(Redaction.tenant_id == tenant_id),
            "id",
        ),
        Projection(
            "reports",
            select(
                Report.id,
                Report.kind,
                Report.worker_id,
                Report.period_from,
                Report.period_to,
                Report.tree_size,
                Report.sha256,
                Report.size,
                Report.issued_by,
                Report.issued_at,
                Report.log_index,
            ).where(
                Report.tenant_id == tenant_id, Report.issued_at >= since, Report.issued_at < until
            ),
            "id",
        ),
    ]


def _value(value: Any) -> Any:
    if isinstance(value, datetime):
        return format_ts(value)
    if isinstance(value, bytes):
        return value.hex()
    return value


@dataclass(frozen=True)
class Span:
    """The period's entries [first, end) of a tree of `size` entries."""

    first: int
    end: int
    size: int

    @property
    def written(self) -> range:
        """The period's entries and the one on either side, where there is one."""
        return range(max(self.first - 1, 0), min(self.end + 1, self.size))


class _Hashed:
    """A file of the bundle, written as a stream and hashed for SHA256SUMS."""

    def __init__(
        self, bundle: zipfile.ZipFile, info: zipfile.ZipInfo, sums: dict[str, str]
    ) -> None:
        self.name, self.sums = info.filename, sums
        self.handle = bundle.open(info, "w", force_zip64=True)
        self.digest = hashlib.sha256()

    def write(self, data: bytes) -> None:
        self.digest.update(data)
        self.handle.write(data)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.handle.close()
        self.sums[self.name] = self.digest.hexdigest()


class AuditExport:
    def __init__(self, appender: Appender, reports: Reports, keys: KeyRing) -> None:
        self.appender, self.reports, self.keys = appender, reports, keys

    def write(
        self,
        tenant_id: str,
        out: Path,
        *,
        since: datetime | None,
        until: datetime | None,
        by: str | None,
    ) -> Issued:
        """Write the bundle for [since, until) to `out` and record it on the log."""
        now = self.appender.clock.now()
        period = period_of(since, until, now)
        report_id = new_report_id()
        partial = out.with_name(out.name + ".partial")
        try:
            with snapshot(self.appender, tenant_id) as (state, anchor):
                keys = self.keys.published(state)
                with (
                    self.appender.db.session() as log,
                    zipfile.ZipFile(partial, "w", compression=zipfile.ZIP_DEFLATED) as bundle,
                ):
                    _Writer(bundle, log, anchor, keys, now).write(
                        state, tenant_id, period, report_id
                    )
            os.replace(partial, out)
        finally:
            partial.unlink(missing_ok=True)
        digest = hashlib.sha256()
        with out.open("rb") as handle:
            while chunk := handle.read(1 << 20):
                digest.update(chunk)
        return self.reports.record(
            tenant_id,
            ReportKind.EXPORT,
            report_id=report_id,
            sha256=digest.digest(),
            size=out.stat().st_size,
            anchor=anchor,
            period=period,
            by=by,
        )


class _Writer:
    def __init__(
        self,
        bundle: zipfile.ZipFile,
        log: Session,
        anchor: Anchor,
        keys: list[dict[str, Any]],
        now: datetime,
    ) -> None:
        self.bundle, self.log, self.anchor, self.keys, self.now = bundle, log, anchor, keys, now
        self.sums: dict[str, str] = {}

    def info(self, name: str) -> zipfile.ZipInfo:
        info = zipfile.ZipInfo(name, date_time=self.now.timetuple()[:6])
        info.compress_type = zipfile.ZIP_DEFLATED
        return info

    def file(self, name: str) -> _Hashed:
        return _Hashed(self.bundle, self.info(name), self.sums)

    def put(self, name: str, data: str | bytes) -> None:
        with self.file(name) as handle:
            handle.write(data.encode() if isinstance(data, str) else data)

    def write(
        self,
        state: Session,
        tenant_id: str,
        period: tuple[datetime, datetime],
        report_id: str,
    ) -> None:
        anchor = self.anchor
        span = Span(
            self._first_at(format_ts(period[0])),
            self._first_at(format_ts(period[1])),
            anchor.tree_size,
        )
        tables = self._projections(state, tenant_id, period)
        sizes = self._checkpoints(span)
        self._entries(span)
        self._anchor()
        self.put("keys.json", json.dumps({"keys": self.keys}, indent=2))
        meta = {
            "format": FORMAT,
            "report": report_id,
            "tenant": tenant_id,
            "log": anchor.log_id,
            "origin": anchor.origin,
            "tree_size": anchor.tree_size,
            "root": b64(anchor.root),
            "period": {"from": format_ts(period[0]), "to": format_ts(period[1])},
            "entries": {"first": span.first, "end": span.end},
            "checkpoints": sizes,
            "projections": tables,
            "exported_at": format_ts(self.now),
        }
        self.put("bundle.json", json.dumps(meta, indent=2))
        self.put("README.txt", _readme(meta))
        self.bundle.writestr(
            self.info(MANIFEST),
            "".join(f"{digest}  {name}\n" for name, digest in sorted(self.sums.items())),
        )

    def _first_at(self, ts: str) -> int:
        """The first index of the anchored tree whose entry is stamped at or after `ts` (the
        tree's size if none). Bisection keeps its invariant whatever the order of stamps:
        the entry before the answer is earlier than `ts` and the answer is not."""
        lo, hi = 0, self.anchor.tree_size
        while lo < hi:
            mid = (lo + hi) // 2
            body = self.log.scalar(
                select(LogEntry.body).where(
                    LogEntry.log_id == self.anchor.log_id, LogEntry.idx == mid
                )
            )
            assert body is not None
            if json.loads(body)["ts"] >= ts:
                hi = mid
            else:
                lo = mid + 1
        return lo

    def _checkpoints(self, span: Span) -> list[int]:
        """The last checkpoint before the written entries, every one after up to the anchor,
        and consistency proofs between neighbours."""
        log_id, size = self.anchor.log_id, self.anchor.tree_size
        start = self.log.scalar(
            select(Checkpoint.tree_size)
            .where(Checkpoint.log_id == log_id, Checkpoint.tree_size <= span.written.start)
            .order_by(Checkpoint.tree_size.desc())
            .limit(1)
        )
        checkpoints = self.log.execute(
            select(Checkpoint.tree_size, Checkpoint.note)
            .where(
                Checkpoint.log_id == log_id,
                Checkpoint.tree_size >= (start or 0),
                Checkpoint.tree_size <= size,
            )
            .order_by(Checkpoint.tree_size)
        ).all()
        reader = LogReader(self.log)
        with self.file(CHECKPOINTS) as notes:
            for tree_size, note in checkpoints:
                notes.write(_line({"tree_size": tree_size, "note": note}))
        with self.file(CONSISTENCY) as proofs:
            for (first, _), (second, _) in itertools.pairwise(checkpoints):
                proof = reader.consistency(log_id, first, second).proof
                proofs.write(_line({"first": first, "second": second, "proof": _b64s(proof)}))
        return [row.tree_size for row in checkpoints]

    def _entries(self, span: Span) -> None:
        paths = _Paths(self.log, self.anchor.log_id, span.size)
        after = span.written.start - 1
        with self.file(ENTRIES) as handle:
            while after + 1 < span.written.stop:
                rows = self.log.execute(
                    select(LogEntry.idx, LogEntry.body, LogEntry.leaf_hash)
                    .where(
                        LogEntry.log_id == self.anchor.log_id,
                        LogEntry.idx > after,
                        LogEntry.idx < span.written.stop,
                    )
                    .order_by(LogEntry.idx)
                    .limit(STREAM)
                ).all()
                if not rows:
                    raise LookupError(f"entry {after + 1} of log {self.anchor.log_id} is missing")
                for row in rows:
                    # Base64 needs no JSON escaping: the line is written as it is.
                    proof = ",".join(f'"{h}"' for h in paths.path(row.idx))
                    handle.write(
                        f'{{"index":{row.idx},"leaf_hash":"{b64(row.leaf_hash)}",'
                        f'"entry":"{b64(row.body)}","proof":[{proof}]}}\n'.encode()
                    )
                after = rows[-1].idx

    def _anchor(self) -> None:
        """The anchor checkpoint split for `openssl pkeyutl`: its signed text, and per
        signature the raw signature and the signer's public key as PEM."""
        body, signatures = parse_note(self.anchor.note)
        self.put("anchor/checkpoint.txt", body)
        known = {}
        for key in self.keys:
            if key.get("verifier_key"):
                name, public = parse_verifier_key(key["verifier_key"])
                known[(name, key_hash(name, public))] = public
        for n, signature in enumerate(signatures, start=1):
            if (signature.name, signature.key_hash) not in known:
                continue
            public = known[(signature.name, signature.key_hash)]
            pem = Ed25519PublicKey.from_public_bytes(public).public_bytes(
                Encoding.PEM, PublicFormat.SubjectPublicKeyInfo
            )
            self.put(f"anchor/signature-{n}.sig", signature.signature)
            self.put(f"anchor/signature-{n}.pem", pem)

    def _projections(
        self, state: Session, tenant_id: str, period: tuple[datetime, datetime]
    ) -> list[dict[str, Any]]:
        described = []
        for projection in projections(tenant_id, period):
            query = projection.query
            columns = list(query.selected_columns.keys())
            if "log_index" in columns:
                index = query.selected_columns.log_index
                query = query.order_by(index.is_(None), index)
            query = query.order_by(query.selected_columns[0])
            count = 0
            name = f"projections/{projection.name}"
            with tempfile.TemporaryFile("w+", encoding="utf-8", newline="") as spool:
                table = csv.writer(spool, lineterminator="\r\n")
                table.writerow(columns)
                with self.file(f"{name}.jsonl") as lines:
                    for row in state.execute(query.execution_options(yield_per=STREAM)):
                        values = [_value(value) for value in row]
                        lines.write(_line(dict(zip(columns, values, strict=True))))
                        table.writerow([cell(value) for value in values])
                        count += 1
                spool.seek(0)
                with self.file(f"{name}.csv") as cells:
                    while chunk := spool.read(1 << 16):
                        cells.write(chunk.encode())
            described.append(
                {
                    "name": projection.name,
                    "columns": columns,
                    "cites": projection.cites,
                    "rows": count,
                }
            )
        return described


class _Paths:
    """Inclusion paths (base64) of consecutive leaves in one tree, from stored nodes: the
    nodes inside a block of leaves are read in one query per level, the few above it as
    needed; each subtree's hash is worked out once, since neighbours share most of a path."""

    def __init__(self, log: Session, log_id: str, size: int) -> None:
        self.log, self.log_id, self.size = log, log_id, size
        self.block = -1
        self.nodes: dict[merkle.NodeId, bytes] = {}
        self.subtrees: dict[tuple[int, int], str] = {}

    def path(self, index: int) -> list[str]:
        if index >> BLOCK != self.block:
            self._load(index >> BLOCK)
        ranges = merkle.inclusion_ranges(index, self.size)
        new = [r for r in ranges if r not in self.subtrees]
        if new:
            hashes = merkle.hashes_for_ranges(new, self._read)
            self.subtrees.update(zip(new, map(b64, hashes), strict=True))
        return [self.subtrees[r] for r in ranges]

    def _load(self, block: int) -> None:
        self.block = block
        self.nodes = {node: h for node, h in self.nodes.items() if node[0] >= BLOCK}
        self.subtrees = {r: h for r, h in self.subtrees.items() if r[1] - r[0] >= 1 << BLOCK}
        for level in range(BLOCK):
            rows = self.log.execute(
                select(LogNode.idx, LogNode.hash).where(
                    LogNode.log_id == self.log_id,
                    LogNode.level == level,
                    LogNode.idx >= (block << BLOCK) >> level,
                    LogNode.idx < ((block + 1) << BLOCK) >> level,
                )
            )
            self.nodes.update(((level, row.idx), row.hash) for row in rows)

    def _read(self, ids: Any) -> dict[merkle.NodeId, bytes]:
        missing = [node for node in ids if node not in self.nodes]
        if missing:
            self.nodes.update(read_nodes(self.log, self.log_id, missing))
        return self.nodes


def _b64s(hashes: list[bytes]) -> list[str]:
    return [b64(h) for h in hashes]


def _line(record: dict[str, Any]) -> bytes:
    return json.dumps(record, separators=(",", ":")).encode() + b"\n"


def _readme(meta: dict[str, Any]) -> str:
    template = resources.files("reports").joinpath("bundle_readme.txt").read_text("utf-8")
    first, end = meta["entries"]["first"], meta["entries"]["end"]
    return string.Template(template).substitute(
        format=FORMAT,
        origin=meta["origin"],
        log=meta["log"],
        tenant=meta["tenant"],
        size=meta["tree_size"],
        since=meta["period"]["from"],
        until=meta["period"]["to"],
        entries=f"log entries {first} to {end - 1}" if end > first else "none in the period",
        example=max(first - 1, 0),
    )
