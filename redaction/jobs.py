"""Redaction jobs: asked for over the API (or by a consent that does not let faces be kept),
run by the job runner, never in a request.

A runner claims a job with a lease it renews while it works; a runner that dies leaves the
lease to run out and the next claims the job again (at most `MAX_ATTEMPTS` times). The clip
is decrypted into a private temporary folder (which the next runner deletes should this one
die) and redacted; the copy and its audit record are encrypted into the vault under the
worker's key, named after the job, before one log transaction records the copy as a
derived item (`redacted_copy`, activity `redaction`) and the audit record's hash
(`redaction.completed`). A job that cannot finish deletes what it put in the vault and says
why (`redaction.failed`); nothing else of it reaches the log.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import os
import shutil
import tempfile
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import IO, Any

import rfc8785
from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from ledger.clock import Clock
from ledger.consent.consents import consent_in_force
from ledger.errors import Conflict, Gone, InvalidRequest, NotFound
from ledger.ids import new_id
from ledger.items.items import (
    Activity,
    DerivationRequest,
    ItemKind,
    ItemService,
    ItemStatus,
    Registered,
    StoredContent,
    audit_name,
    object_name,
    object_names,
)
from ledger.log.appender import Appender, LogWriter
from ledger.log.entries import ID, EntryType, obj, register
from ledger.log.reader import tenant_log_id
from ledger.models import Item
from ledger.vault.vault import Vault
from redaction.fill import FILLS
from redaction.media import BadMedia, probe
from redaction.models import Redaction
from redaction.redactor import MODES, Options, output_suffix, redact_path

log = logging.getLogger("custody.redaction")
LEASE = timedelta(minutes=5)
RENEW_AFTER = timedelta(seconds=30)
MAX_ATTEMPTS = 3
AGENT = "custody-redactor"
WORK_PREFIX = "custody-redaction-"  # + the runner's pid: a clip decrypted while it works


class RedactionStatus(StrEnum):
    """A job is `queued`, `running` under a runner's lease, then `done` or `failed`."""

    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"


class RedactionReason(StrEnum):
    """Why a redaction was asked for: over the API, or because the clip's consent does not
    let faces be kept."""

    REQUESTED = "requested"
    CONSENT_REQUIRES = "consent_requires"


class Failure(StrEnum):
    """Why a job failed: its media could not be read, its clip is gone, or it was
    interrupted too often."""

    BAD_MEDIA = "bad_media"
    SOURCE_GONE = "source_gone"
    FAILED_REPEATEDLY = "failed_repeatedly"


FAILURES = tuple(f.value for f in Failure)
_HEX64 = {"type": "string", "pattern": "^[0-9a-f]{64}$"}
_COUNT = {"type": "integer", "minimum": 0}

register(
    EntryType(
        "redaction.requested",
        1,
        obj(
            {
                "redaction": ID,
                "item": ID,
                "mode": {"enum": list(MODES)},
                "fill": {"enum": list(FILLS)},
                "reason": {"enum": [r.value for r in RedactionReason]},
            }
        ),
    )
)
register(
    EntryType(
        "redaction.completed",
        1,
        obj(
            {
                "redaction": ID,
                "item": ID,
                "output": ID,
                "audit": _HEX64,
                "frames": _COUNT,
                "frames_flagged": _COUNT,
            }
        ),
    )
)
register(
    EntryType(
        "redaction.failed",
        1,
        obj({"redaction": ID, "item": ID, "reason": {"enum": list(FAILURES)}}),
    )
)


class _TakenOver(Exception):
    """Another runner claimed the job after this one's lease ran out; it finishes it."""


class _Failed(Exception):
    def __init__(self, reason: Failure, message: str) -> None:
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True)
class Requested:
    job: Redaction
    created: bool  # False when the same redaction was asked for before


def remove_stale_work() -> int:
    """Delete the working folders of runners that died (killed, or the host lost power)
    mid-job: they hold a decrypted clip. How many were removed."""
    removed = 0
    for folder in Path(tempfile.gettempdir()).glob(f"{WORK_PREFIX}*-*"):
        pid = folder.name[len(WORK_PREFIX) :].split("-", 1)[0]
        if pid.isdigit() and not _alive(int(pid)):
            shutil.rmtree(folder, ignore_errors=True)
            removed += 1
    return removed


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def output_id(job_id: str) -> str:
    """The redacted copy's item id: fixed by the job, so a retry overwrites, never strays."""
    return "itm_" + job_id.split("_", 1)[1]


def required_mode(session: Session, clip: Item) -> str | None:
    """The redaction a clip's consent asks for before any use: faces, when it does not let
    faces be kept."""
    if clip.consent_id is None:
        return None
    categories = consent_in_force(session, clip.consent_id).terms["data_categories"]
    return None if "face" in categories else "faces"


class Redactions:
    def __init__(
        self,
        appender: Appender,
        vault: Vault,
        items: ItemService,
        clock: Clock,
        lease: timedelta = LEASE,
    ) -> None:
        self.appender, self.vault, self.items, self.clock = appender, vault, items, clock
        self.lease = lease
        self.renew_after = min(RENEW_AFTER, lease / 3)

    # Asking ------------------------------------------------------------------------------

    def request(
        self,
        tenant_id: str,
        item_id: str,
        mode: str = "faces",
        fill: str = "solid",
        by: str | None = None,
        reason: RedactionReason = RedactionReason.REQUESTED,
    ) -> Requested:
        if mode not in MODES:
            raise InvalidRequest(f"mode must be one of {', '.join(MODES)}", "mode")
        if fill not in FILLS:
            raise InvalidRequest(f"fill must be one of {', '.join(FILLS)}", "fill")
        log_id = tenant_log_id(self.appender.db, tenant_id)

        def work(writer: LogWriter) -> Requested:
            session = writer.session
            clip = session.get(Item, item_id)
            if clip is None or clip.tenant_id != tenant_id:
                raise NotFound("item", item_id)
            if clip.kind != ItemKind.CLIP:
                raise InvalidRequest(f"{item_id} is a {clip.kind}; only clips are redacted", "item")
            if clip.status != ItemStatus.ACTIVE:
                raise Gone(f"clip {item_id} is {clip.status}; its content is gone")
            if clip.content_size is None:
                raise Conflict(
                    f"clip {item_id} has no content in the vault; PUT /v1/clips/{item_id}/"
                    "content first"
                )
            same = session.scalar(
                select(Redaction).where(
                    Redaction.tenant_id == tenant_id,
                    Redaction.source_id == item_id,
                    Redaction.mode == mode,
                    Redaction.fill == fill,
                    Redaction.status != RedactionStatus.FAILED,
                )
            )
            if same is not None:
                return Requested(same, created=False)
            job = Redaction(
                id=new_id("red"),
                tenant_id=tenant_id,
                source_id=item_id,
                mode=mode,
                fill=fill,
                reason=reason,
                status=RedactionStatus.QUEUED,
                requested_at=writer.now(),
                requested_by=by,
                attempts=0,
            )
            job.log_index = writer.append(
                log_id,
                "redaction.requested",
                {
                    "redaction": job.id,
                    "item": item_id,
                    "mode": mode,
                    "fill": fill,
                    "reason": reason,
                },
                subject=clip.worker_id,
            ).index
            session.add(job)
            return Requested(job, created=True)

        return self.appender.run([log_id], work)

    def store_content(self, tenant_id: str, item_id: str, source: IO[bytes]) -> Item:
        """Store a clip's bytes; when its consent does not let faces be kept, queue the
        redaction that is the only way it can be used."""
        clip = self.items.store_content(tenant_id, item_id, source)
        with self.appender.db.session() as session:
            mode = required_mode(session, clip)
        if mode is not None:
            self.request(tenant_id, item_id, mode, reason=RedactionReason.CONSENT_REQUIRES)
        return clip

    # Reading -----------------------------------------------------------------------------

    @staticmethod
    def get(session: Session, tenant_id: str, redaction_id: str) -> Redaction:
        job = session.get(Redaction, redaction_id)
        if job is None or job.tenant_id != tenant_id:
            raise NotFound("redaction", redaction_id)
        return job

    def output(self, session: Session, tenant_id: str, redaction_id: str) -> Item:
        """The redacted copy, while its bytes are there."""
        job = self.get(session, tenant_id, redaction_id)
        if job.status != RedactionStatus.DONE or job.item_id is None:
            raise Conflict(f"redaction {redaction_id} is {job.status}; no copy to read yet")
        item = session.get(Item, job.item_id)
        assert item is not None
        if item.status != ItemStatus.ACTIVE:
            raise Gone(f"the redacted copy {item.id} is {item.status}")
        if item.content_size is None:
            raise NotFound("redacted content", item.id)
        return item

    def output_content(self, session: Session, tenant_id: str, redaction_id: str) -> StoredContent:
        """The redacted copy's stored bytes, to be released: encrypted under the key of the
        worker whose clip it was made from."""
        item = self.output(session, tenant_id, redaction_id)
        return StoredContent(
            item, lambda: self.items.read_content(session, item, self._owner(session, item))
        )

    def audit(self, session: Session, tenant_id: str, redaction_id: str) -> dict[str, Any]:
        """The full audit record, read back from the vault and checked against its hash."""
        item = self.output(session, tenant_id, redaction_id)
        job = self.get(session, tenant_id, redaction_id)  # already in the session: no query
        key = self.vault.data_key(session, self._owner(session, item))
        data = b"".join(
            self.vault.get(audit_name(tenant_id, item.id), key, job.audit_sha256 or b"")
        )
        record: dict[str, Any] = json.loads(data)
        return record

    @staticmethod
    def _owner(session: Session, item: Item) -> str:
        job = session.scalar(select(Redaction).where(Redaction.item_id == item.id))
        clip = session.get(Item, job.source_id) if job else None
        if clip is None or clip.worker_id is None:
            raise NotFound("redacted content", item.id)
        return clip.worker_id

    # Running -----------------------------------------------------------------------------

    def run_due(self, limit: int | None = None) -> int:
        """Claim and run jobs until none is due (or `limit` ran); how many ran."""
        remove_stale_work()
        ran = 0
        while limit is None or ran < limit:
            claimed = self.claim()
            if claimed is None:
                return ran
            self.run(*claimed)
            ran += 1
        return ran

    def claim(self) -> tuple[str, int] | None:
        """Take the oldest queued job, or one whose runner's lease ran out: (id, attempt)."""
        with self.appender.db.write() as session, session.begin():
            now = self.clock.now()
            candidates = session.scalars(
                select(Redaction)
                .where(
                    or_(
                        Redaction.status == RedactionStatus.QUEUED,
                        (Redaction.status == RedactionStatus.RUNNING)
                        & (Redaction.lease_until < now),
                    )
                )
                .order_by(Redaction.requested_at)
                .limit(5)
                .with_for_update(skip_locked=True)
            ).all()
            for job in candidates:
                taken = session.execute(
                    update(Redaction)
                    .where(Redaction.id == job.id, Redaction.attempts == job.attempts)
                    .values(
                        status=RedactionStatus.RUNNING,
                        attempts=job.attempts + 1,
                        lease_until=now + self.lease,
                    )
                    .execution_options(synchronize_session=False)
                )
                if taken.rowcount == 1:  # type: ignore[attr-defined]
                    return job.id, job.attempts + 1
        return None

    def _renew(self, job_id: str, attempt: int) -> None:
        with self.appender.db.write() as session, session.begin():
            session.execute(
                update(Redaction)
                .where(Redaction.id == job_id, Redaction.attempts == attempt)
                .values(lease_until=self.clock.now() + self.lease)
            )

    def run(self, job_id: str, attempt: int) -> None:
        with self.appender.db.session() as session:
            job = session.get(Redaction, job_id)
            assert job is not None
            tenant_id, source_id = job.tenant_id, job.source_id
        names = object_names(tenant_id, output_id(job_id), ItemKind.REDACTED_COPY)
        try:
            if attempt > MAX_ATTEMPTS:
                raise _Failed(
                    Failure.FAILED_REPEATEDLY,
                    f"the job was interrupted {attempt - 1} times; ask again to retry",
                )
            with tempfile.TemporaryDirectory(prefix=f"{WORK_PREFIX}{os.getpid()}-") as folder:
                self._redact(job_id, attempt, Path(folder))
        except _Failed as failure:
            self.vault.backend.delete_many(names)
            self._fail(job_id, attempt, tenant_id, source_id, failure)
        except Exception:
            # Left to its lease: the next claim retries it, up to MAX_ATTEMPTS.
            log.exception("redaction %s failed unexpectedly (attempt %d)", job_id, attempt)

    def _redact(self, job_id: str, attempt: int, folder: Path) -> None:
        with self.appender.db.session() as session:
            job = session.get(Redaction, job_id)
            assert job is not None
            try:
                clip = self.items.stored_clip(session, job.tenant_id, job.source_id)
            except (NotFound, Gone) as error:
                raise _Failed(Failure.SOURCE_GONE, str(error)) from error
            worker = clip.worker_id or ""
            key = self.vault.data_key(session, worker)
            source = folder / "input"
            with source.open("wb") as f:
                for chunk in self.items.read_content(session, clip):
                    f.write(chunk)
            tenant_id, source_id, mode, fill = job.tenant_id, job.source_id, job.mode, job.fill
            started = self.clock.now()
        renewed = [self.clock.now()]

        def progress(_: int) -> None:
            if self.clock.now() - renewed[0] >= self.renew_after:
                self._renew(job_id, attempt)
                renewed[0] = self.clock.now()

        try:
            output = folder / f"output{output_suffix(probe(source))}"
            record = redact_path(source, output, Options(mode=mode, fill=fill), progress)
        except BadMedia as error:
            raise _Failed(Failure.BAD_MEDIA, str(error)) from error
        audit = rfc8785.dumps(record)
        audit_sha256 = hashlib.sha256(audit).digest()
        item_id = output_id(job_id)
        with output.open("rb") as redacted:
            size = self.vault.put(
                object_name(tenant_id, item_id),
                key,
                redacted,
                bytes.fromhex(record["output"]["sha256"]),
            )
        self.vault.put(audit_name(tenant_id, item_id), key, io.BytesIO(audit), audit_sha256)
        self._complete(
            job_id, attempt, tenant_id, source_id, record, audit_sha256, size, started, worker
        )

    def _complete(
        self,
        job_id: str,
        attempt: int,
        tenant_id: str,
        source_id: str,
        record: dict[str, Any],
        audit_sha256: bytes,
        size: int,
        started: datetime,
        worker: str,
    ) -> None:
        log_id = tenant_log_id(self.appender.db, tenant_id)
        summary = _summary(record)

        def then(writer: LogWriter, registered: Registered) -> None:
            row = writer.session.get(Redaction, job_id, with_for_update=True)
            assert row is not None
            if row.status != RedactionStatus.RUNNING or row.attempts != attempt:
                raise _TakenOver(job_id)
            row.status, row.item_id = RedactionStatus.DONE, registered.item.id
            row.finished_at = writer.now()
            row.audit_sha256, row.summary, row.lease_until = audit_sha256, summary, None
            writer.append(
                log_id,
                "redaction.completed",
                {
                    "redaction": job_id,
                    "item": source_id,
                    "output": registered.item.id,
                    "audit": audit_sha256.hex(),
                    "frames": summary["frames"],
                    "frames_flagged": summary["frames_flagged"],
                },
                subject=worker,
            )

        request = DerivationRequest(
            parents=[source_id],
            kind=ItemKind.REDACTED_COPY,
            sha256=record["output"]["sha256"],
            activity=Activity("redaction", AGENT, started, self.clock.now()),
        )
        try:
            registered = self.items.derive(
                tenant_id, request, item_id=output_id(job_id), content_size=size, then=then
            )
        except _TakenOver:
            return
        except Conflict as error:  # the clip was erased, or began to be, while it ran
            with self.appender.db.session() as session:
                source = session.get(Item, source_id)
                if source is not None and source.status == ItemStatus.ACTIVE:
                    raise
            raise _Failed(Failure.SOURCE_GONE, str(error)) from error
        if not registered.created:  # the same bytes were registered before, under their id
            names = object_names(tenant_id, output_id(job_id), ItemKind.REDACTED_COPY)
            self.vault.backend.delete_many(names)

    def _fail(
        self, job_id: str, attempt: int, tenant_id: str, source_id: str, failure: _Failed
    ) -> None:
        log_id = tenant_log_id(self.appender.db, tenant_id)

        def work(writer: LogWriter) -> None:
            job = writer.session.get(Redaction, job_id, with_for_update=True)
            assert job is not None
            if job.status != RedactionStatus.RUNNING or job.attempts != attempt:
                return
            clip = writer.session.get(Item, source_id)
            job.status, job.error = RedactionStatus.FAILED, str(failure)
            job.finished_at = writer.now()
            job.lease_until = None
            writer.append(
                log_id,
                "redaction.failed",
                {"redaction": job_id, "item": source_id, "reason": failure.reason},
                subject=clip.worker_id if clip else None,
            )

        self.appender.run([log_id], work)


def _summary(record: dict[str, Any]) -> dict[str, Any]:
    """What the job row keeps of the audit record: counts, versions and timing, no hashes."""
    source = record["input"]
    return {
        "input": {k: source[k] for k in ("kind", "width", "height", "fps")},
        "frames": record["frames_total"],
        **record["summary"],
        "tools": record["tools"],
        "model": {"name": record["model"]["name"], "sha256": record["model"]["sha256"]},
        "parameters": record["parameters"],
        "timing": record["timing"],
    }
