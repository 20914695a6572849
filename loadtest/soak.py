"""A year of the retention scheduler on a fake clock, across N clips: every deletion on time,
exactly once.

Run from the repository root:

    .venv/bin/python -m loadtest.soak [--clips 100000] [--step-hours 6]
        [--backends sqlite,postgresql] [--out FILE]

Each backend gets a fresh database of its own: SQLite in a temporary folder; on PostgreSQL
a database `soak_<random>` created for the run and dropped after it. The vault is the local
folder on both, so the figures differ by the database alone.

Setup (not timed): T tenants and W workers, each worker with one consent whose retention
term is 1 to 365 days (a few longer than the year, a few with no fixed term); N clips
captured up to a day before the start, each with an object in the vault; half of them with
a derived label, some labels derived from two clips. The rows and log entries are the
service's own (consent.given through the consent service; clip.registered, content.stored
and derivation.recorded written as `ItemService` writes them, a few thousand per log
transaction instead of one request each); vault objects are written straight into the
folder, since an erasure deletes them without reading them.

The year: a fake clock (`PassClock`) jumps from the start to 365 days later in steps of the
sweep interval (`--step-hours`), and runs at real speed in between, while a pass works. A
step is one pass; at each step the scheduler's jobs for the interval run in its order, the
callables `api/scheduler.py` registers: `log.checkpoint` (`checkpoint_due`) then
`retention.sweep` (`Retention.sweep`). Between steps some workers withdraw their consent.
Faults, at a few steps each:

* two scheduler processes: a second container on the same database runs the same jobs in
  another thread at the same moment; the sweep's database lock must make one of them skip;
* a process dying mid-pass: the vault backend deletes an erasure's objects and then raises
  (a storage backend subclass, as a process killed before writing the tombstone would stop);
  the other process's pass at the same moment must finish what the dead one left.

Afterwards `check` reads the database, the logs and the vault folder (nothing from the run's
own bookkeeping but the instants of the passes): every item whose due time (its
delete_after, or the withdrawal of a consent it descends from) fell within the year is
erased by the first pass that starts at or after that time (by a later one: late), by
exactly one tombstone; nothing else is erased; every erasure is done, certified, and its certificate
verifies offline; erased clips' objects are gone and the others' kept; a worker with no clip
left has no data key; every log verifies.
"""

from __future__ import annotations

import argparse
import bisect
import hashlib
import json
import os
import platform
import random
import secrets
import shutil
import statistics
import sys
import tempfile
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, func, select, text
from sqlalchemy.engine import make_url

from api.container import Container, build
from api.scheduler import scheduled_jobs
from api.settings import Settings
from bench.bench_log import durability
from bench.bench_retention import START
from bench.percentiles import percentile
from ledger.clock import SystemClock, format_ts
from ledger.consent.consents import Actor, ActorKind, ConsentRequest
from ledger.ids import new_id
from ledger.items.items import ItemKind, ItemStatus, commitment, delete_after, object_name
from ledger.log.appender import LogWriter, checkpoint_due
from ledger.log.verification import verify_database
from ledger.models import Item, ItemParent, ItemRoot, Log, LogEntry, WorkerKey
from ledger.vault.vault import LocalBackend
from retention.erasure import ErasureReason, ErasureStatus
from retention.models import Erasure
from retention.sweep import SweepReport
from verify.certificates import CertificateError, verify_certificate

POSTGRES = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
CHUNK = 2000  # clips registered per log transaction in the setup
OBJECT_BYTES = 1024
LABELER = {"type": "annotation", "agent": "labeler-7", "started_at": None, "ended_at": None}


@dataclass(frozen=True)
class Config:
    clips: int = 100_000
    tenants: int = 3
    workers: int = 0  # 0: one per 20 clips
    step: timedelta = timedelta(hours=6)
    days: int = 365
    labels: float = 0.5  # share of clips with a derived label
    two_parents: float = 0.05  # share of labels derived from two clips
    beyond: float = 0.05  # workers whose term ends after the year
    open_ended: float = 0.02  # workers whose consent has no fixed term
    withdraw: float = 0.01  # workers who withdraw their consent during the year
    races: int = 6  # steps at which two scheduler processes sweep at once
    crashes: int = 3  # steps at which the sweeping process dies mid-pass
    seed: int = 2026

    @property
    def worker_count(self) -> int:
        return self.workers or max(self.tenants, self.clips // 20)


# Setup --------------------------------------------------------------------------------------


@dataclass
class Worker:
    tenant_id: str
    log_id: str
    ref: str
    retention: str
    withdraw_at: datetime | None
    worker_id: str = ""
    consent_id: str = ""


@dataclass
class Clip:
    worker: Worker
    captured_at: datetime
    label: bool
    second_parent: bool


def draw(config: Config, tenants: list[tuple[str, str]]) -> tuple[list[Worker], list[Clip]]:
    """Who consents to what and when they withdraw; which clips, captured when."""
    rng = random.Random(config.seed)
    year = config.days * 86400
    workers = []
    for w in range(config.worker_count):
        tenant_id, log_id = tenants[w % len(tenants)]
        kind = rng.random()
        if kind < config.open_ended:
            retention = "until_project_end"
        elif kind < config.open_ended + config.beyond:
            retention = f"P{rng.randint(config.days + 1, 2 * config.days)}D"
        else:
            retention = f"P{rng.randint(1, config.days)}D"
        withdraw_at = (
            START + timedelta(seconds=rng.randint(3600, year))
            if rng.random() < config.withdraw
            else None
        )
        workers.append(Worker(tenant_id, log_id, f"w-{w}", retention, withdraw_at))
    clips = [
        Clip(
            worker=workers[rng.randrange(len(workers))],
            captured_at=START - timedelta(seconds=rng.randint(0, 23 * 3600)),
            label=rng.random() < config.labels,
            second_parent=rng.random() < config.two_parents,
        )
        for _ in range(config.clips)
    ]
    return workers, clips


def give_consents(container: Container, workers: list[Worker]) -> None:
    """Through the consent service, from several threads so that the appender batches them."""

    def give(worker: Worker) -> None:
        given = container.consents.give(
            worker.tenant_id,
            ConsentRequest(
                worker=worker.ref,
                purposes=["motion_imitation"],
                data_categories=["body_motion"],
                recipients="platform_only",
                retention=worker.retention,
                jurisdiction="NG",
                collection_method="in_app",
                policy_url="https://platform.example/terms",
                policy_version="2026-04",
            ),
        )
        worker.worker_id, worker.consent_id = given.worker_id, given.consent.id

    with ThreadPoolExecutor(16) as pool:
        list(pool.map(give, workers))


def register(container: Container, clips: Sequence[Clip]) -> None:
    """Clips of one tenant as `register_clip`, `store_content` and `derive` leave them, in
    one log transaction: objects in the vault folder, rows, and their entries on the log."""
    tenant_id, log_id = clips[0].worker.tenant_id, clips[0].worker.log_id
    folder = container.settings.vault_folder
    (folder / tenant_id).mkdir(parents=True, exist_ok=True)
    contents = []
    for _ in clips:
        content, clip_id = os.urandom(OBJECT_BYTES), new_id("clp")
        (folder / object_name(tenant_id, clip_id)).write_bytes(content)
        contents.append((clip_id, hashlib.sha256(content).digest()))

    def work(writer: LogWriter) -> None:
        now = writer.now()
        items: list[dict[str, Any]] = []
        roots: list[dict[str, str]] = []
        parents: list[dict[str, str]] = []
        previous: tuple[str, datetime | None] | None = None
        for clip, (clip_id, sha256) in zip(clips, contents, strict=True):
            worker = clip.worker
            container.vault.ensure_key(writer.session, worker.worker_id, now)
            due = delete_after(clip.captured_at, worker.retention)
            salt = secrets.token_bytes(16)
            index = writer.append(
                log_id,
                "clip.registered",
                {
                    "clip": clip_id,
                    "consent": worker.consent_id,
                    "commitment": commitment(salt, sha256).hex(),
                    "data_categories": ["body_motion"],
                    "captured_at": format_ts(clip.captured_at),
                    "delete_after": format_ts(due) if due else None,
                },
                subject=worker.worker_id,
            ).index
            writer.append(
                log_id,
                "content.stored",
                {"item": clip_id, "size": OBJECT_BYTES},
                subject=worker.worker_id,
            )
            items.append(
                {
                    "id": clip_id,
                    "tenant_id": tenant_id,
                    "kind": ItemKind.CLIP,
                    "sha256": sha256,
                    "salt": salt,
                    "commitment": commitment(salt, sha256),
                    "worker_id": worker.worker_id,
                    "consent_id": worker.consent_id,
                    "data_categories": ["body_motion"],
                    "details": {
                        "captured_at": format_ts(clip.captured_at),
                        "duration_ms": None,
                        "device": None,
                        "location_granularity": "none",
                        "location": None,
                    },
                    "delete_after": due,
                    "status": ItemStatus.ACTIVE,
                    "created_at": now,
                    "log_index": index,
                    "content_size": OBJECT_BYTES,
                }
            )
            roots.append({"item_id": clip_id, "clip_id": clip_id})
            if clip.label:
                sources = [(clip_id, due)]
                if clip.second_parent and previous is not None:
                    sources.append(previous)
                dues = [d for _, d in sources if d is not None]
                label_due = min(dues) if dues else None
                label_id, label_sha, label_salt = new_id("itm"), os.urandom(32), os.urandom(16)
                proof = commitment(label_salt, label_sha)
                label_index = writer.append(
                    log_id,
                    "derivation.recorded",
                    {
                        "item": label_id,
                        "kind": ItemKind.LABEL,
                        "parents": sorted(p for p, _ in sources),
                        "activity": "annotation",
                        "commitment": proof.hex(),
                        "data_categories": ["body_motion"],
                        "delete_after": format_ts(label_due) if label_due else None,
                    },
                ).index
                items.append(
                    {
                        "id": label_id,
                        "tenant_id": tenant_id,
                        "kind": ItemKind.LABEL,
                        "sha256": label_sha,
                        "salt": label_salt,
                        "commitment": proof,
                        "worker_id": None,
                        "consent_id": None,
                        "data_categories": ["body_motion"],
                        "details": {"activities": [LABELER]},
                        "delete_after": label_due,
                        "status": ItemStatus.ACTIVE,
                        "created_at": now,
                        "log_index": label_index,
                        "content_size": None,
                    }
                )
                for parent, _ in sources:
                    roots.append({"item_id": label_id, "clip_id": parent})
                    parents.append({"child_id": label_id, "parent_id": parent})
            previous = (clip_id, due)
        writer.session.flush()
        writer.insert_later(Item, items)
        writer.insert_later(ItemRoot, roots)
        writer.insert_later(ItemParent, parents)

    container.appender.run([log_id], work)


def setup(container: Container, config: Config) -> list[Worker]:
    tenants = []
    for t in range(config.tenants):
        created = container.tenants.create(f"Soak platform {t}")
        tenants.append((created.tenant_id, created.log_id))
    workers, clips = draw(config, tenants)
    give_consents(container, workers)
    by_tenant: dict[str, list[Clip]] = defaultdict(list)
    for clip in clips:
        by_tenant[clip.worker.tenant_id].append(clip)
    for tenant_clips in by_tenant.values():
        for start in range(0, len(tenant_clips), CHUNK):
            register(container, tenant_clips[start : start + CHUNK])
    return workers


# The year -----------------------------------------------------------------------------------


class PassClock(SystemClock):  # sleeps for real
    """Fake time for the year: the soak moves it from pass to pass, and in between it runs at
    real speed, as the database's clock does while a pass works. A clock frozen for the
    whole pass would be wrong in one way that matters: the sweep waits out the checkpoint
    interval (one second) to sign a checkpoint covering its last tombstones, and on a frozen
    clock that second never comes, so the wait is lost and the next pass starts uncovered."""

    def __init__(self, start: datetime) -> None:
        self._lock = threading.Lock()
        self._at, self._since = start, time.monotonic()

    def _now(self) -> datetime:
        return self._at + timedelta(seconds=time.monotonic() - self._since)

    def now(self) -> datetime:
        with self._lock:
            return self._now()

    def move_to(self, moment: datetime) -> None:
        with self._lock:
            if moment < self._now():
                raise ValueError(f"the clock does not go back to {moment}")
            self._at, self._since = moment, time.monotonic()


class ProcessDied(Exception):
    """What a scheduler process killed in the middle of a pass would leave behind."""


class DyingBackend(LocalBackend):
    """The local vault folder; once armed, the `countdown`-th delete from then on removes
    its objects and then kills the pass, before the erasure's tombstone is written (the
    deletes of a batch of erasures all come before its tombstones)."""

    def __init__(self, root: Path) -> None:
        super().__init__(root)
        self.countdown: int | None = None

    def delete_many(self, names: list[str]) -> None:
        super().delete_many(names)
        if self.countdown is not None:
            self.countdown -= 1
            if self.countdown == 0:
                self.countdown = None
                raise ProcessDied("the sweeping process died after deleting vault objects")


def jobs(container: Container) -> list[tuple[str, Callable[[], object]]]:
    """The scheduler's jobs that run once per sweep interval, in its order (api/scheduler.py:
    `log.checkpoint` every second, which between sweeps has nothing new to sign, and
    `retention.sweep`)."""
    wanted = ("log.checkpoint", "retention.sweep")
    return [(name, run) for name, run, _ in scheduled_jobs(container) if name in wanted]


def run_jobs(
    container: Container,
    seconds: dict[str, float],
    before_sweep: Callable[[], object] | None = None,
) -> SweepReport:
    """One interval of one scheduler process: its jobs, in order, each timed."""
    report = SweepReport(ran=False)
    for name, job in jobs(container):
        if name == "retention.sweep" and before_sweep is not None:
            before_sweep()
        start = time.perf_counter()
        result = job()
        seconds[name] = seconds.get(name, 0.0) + time.perf_counter() - start
        if isinstance(result, SweepReport):
            report = result
    return report


def race(first: Container, second: Container) -> list[SweepReport]:
    """Both processes run the interval's jobs at the same moment, each in its own thread;
    their sweeps start together."""
    together = threading.Barrier(2, timeout=300)
    reports: list[SweepReport] = []
    errors: list[BaseException] = []

    def process(container: Container) -> None:
        try:
            reports.append(run_jobs(container, {}, together.wait))
        except BaseException as exc:  # handed to the caller
            errors.append(exc)

    threads = [threading.Thread(target=process, args=(c,)) for c in (first, second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]
    return reports


@dataclass
class Year:
    passes: list[datetime] = field(default_factory=list)  # the instant of each pass
    pass_seconds: list[float] = field(default_factory=list)  # wall time of each interval's jobs
    job_seconds: dict[str, float] = field(default_factory=dict)  # passes with one process
    wall_seconds: float = 0.0
    uncovered: int = 0  # passes that left tombstones no signed checkpoint covers yet
    withdrawals: int = 0
    races: int = 0
    race_skips: int = 0  # races in which exactly one of the two sweeps skipped
    crashes: int = 0
    left_by_crashes: int = 0  # erasures pending when the process died
    unfinished_after_crash: int = 0  # still pending after the other process's pass


def pending_erasures(container: Container) -> int:
    with container.db.session() as session:
        pending = (
            select(func.count()).select_from(Erasure).where(Erasure.status == ErasureStatus.PENDING)
        )
        return int(session.scalar(pending) or 0)


def uncovered(container: Container) -> bool:
    with container.db.session() as session:
        grown = select(Log.id).where(Log.size > Log.checkpoint_size).limit(1)
        return session.scalar(grown) is not None


def spread(count: int, among: int, shift: float) -> set[int]:
    """`count` step numbers spread evenly over `among` steps."""
    return {round(among * (i + shift) / (count + 1)) for i in range(1, count + 1)}


class Processes:
    """The scheduler processes: `main` runs every interval's jobs, on a vault that can be
    made to die mid-pass; `other` joins it for races and takes over when it dies."""

    def __init__(self, settings: Settings, clock: PassClock) -> None:
        self.settings, self.clock = settings, clock
        self.other = build(settings, clock=clock, migrate=False)
        self.main, self.vault = self._start()

    def _start(self) -> tuple[Container, DyingBackend]:
        container = build(self.settings, clock=self.clock, migrate=False)
        backend = DyingBackend(self.settings.vault_folder)
        container.vault.backend = backend
        return container, backend

    def restart(self) -> None:
        self.main.close()
        self.main, self.vault = self._start()

    def close(self) -> None:
        self.main.close()
        self.other.close()


def run_year(settings: Settings, clock: PassClock, config: Config, workers: list[Worker]) -> Year:
    year = Year()
    steps = int(timedelta(days=config.days) / config.step)
    races = spread(config.races, steps, 0.0)
    crashes = sorted(c + (c in races) for c in spread(config.crashes, steps, 0.5))
    withdrawals = sorted(
        (w for w in workers if w.withdraw_at), key=lambda w: w.withdraw_at or START
    )
    started = time.perf_counter()
    processes = Processes(settings, clock)
    try:
        for step in range(1, steps + 2):
            # The first pass is a step after the setup; the last is the scheduler's next tick,
            # a second after the year's last: it certifies what the year's last checkpoint
            # could not cover yet.
            at = START + config.step * step if step <= steps else clock.now() + timedelta(seconds=1)
            while withdrawals and (withdrawals[0].withdraw_at or at) <= at:
                worker = withdrawals.pop(0)
                assert worker.withdraw_at is not None
                clock.move_to(worker.withdraw_at)
                processes.main.consents.withdraw(
                    worker.tenant_id,
                    worker.consent_id,
                    None,
                    Actor(ActorKind.WORKER, worker.worker_id),
                )
                year.withdrawals += 1
            clock.move_to(at)
            year.passes.append(at)
            start = time.perf_counter()
            if step in races:
                armed, processes.vault.countdown = processes.vault.countdown, None
                reports = race(processes.main, processes.other)
                processes.vault.countdown = armed
                year.races += 1
                year.race_skips += sum(not r.ran for r in reports) == 1
            else:
                if crashes and crashes[0] <= step and processes.vault.countdown is None:
                    processes.vault.countdown = 2  # dies at the second delete from now on
                try:
                    run_jobs(processes.main, year.job_seconds)
                except ProcessDied:
                    # The dead process left planned erasures pending, some of their objects
                    # deleted; the other process's pass at this moment finishes them.
                    crashes.pop(0)
                    year.crashes += 1
                    year.left_by_crashes += pending_erasures(processes.main)
                    processes.restart()
                    run_jobs(processes.other, year.job_seconds)
                    year.unfinished_after_crash += pending_erasures(processes.main)
            year.pass_seconds.append(time.perf_counter() - start)
            year.uncovered += uncovered(processes.main)
    finally:
        processes.close()
    year.wall_seconds = time.perf_counter() - started
    return year


# The check ----------------------------------------------------------------------------------


def moment(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


@dataclass
class Findings:
    """What the database, the logs and the vault say after the year. Each field from `late`
    to `logs_failing` counts a broken invariant and must be 0."""

    items: int = 0
    due: int = 0  # items due by the start of the last pass
    erased: int = 0  # items with a tombstone
    clips_erased: int = 0
    kept: int = 0  # items not due, still active
    erasures: int = 0  # erasure rows
    certificates: int = 0  # certificates that verify
    keys_destroyed: int = 0
    passes_with_erasures: int = 0
    certified_late: int = 0  # certificates signed in a later pass than their tombstone
    max_lateness_s: float = 0.0  # tombstone time - due time, worst item
    late: int = 0  # erased after the first pass at or after their due time was over
    early: int = 0  # erased before their due time
    missing: int = 0  # due, and no tombstone
    duplicates: int = 0  # items (or erasures) with more than one tombstone
    unexpected: int = 0  # not due, yet a tombstone
    wrong_reason: int = 0  # clip tombstones whose reason is not the one that came first
    rows_wrong: int = 0  # item rows whose status or erased hashes disagree with the log
    erasures_unfinished: int = 0  # erasure rows not done, or not matching their tombstone
    uncertified: int = 0
    bad_certificates: int = 0
    objects_left: int = 0  # erased clips whose vault object is still there
    objects_lost: int = 0  # kept clips whose vault object is gone
    keys_left: int = 0  # workers with no clip left whose data key is not destroyed
    keys_lost: int = 0  # workers with clips left whose data key is destroyed
    logs_failing: int = 0
    check_seconds: float = 0.0

    def problems(self) -> list[str]:
        names = list(asdict(self))
        broken = names[names.index("late") : names.index("check_seconds")]
        return [f"{name}={getattr(self, name)}" for name in broken if getattr(self, name)]


def log_entries(container: Container) -> Iterator[tuple[str, dict[str, Any]]]:
    with container.db.session() as session:
        logs = list(session.scalars(select(Log.id).order_by(Log.id)))
        for log_id in logs:
            after = -1
            while True:
                rows = session.execute(
                    select(LogEntry.idx, LogEntry.body)
                    .where(LogEntry.log_id == log_id, LogEntry.idx > after)
                    .order_by(LogEntry.idx)
                    .limit(5000)
                ).all()
                if not rows:
                    break
                for row in rows:
                    yield log_id, json.loads(row.body)
                after = rows[-1].idx


def check(container: Container, passes: Sequence[datetime]) -> Findings:
    """The invariants, from the database, the logs and the vault folder."""
    started = time.perf_counter()
    found = Findings()
    passes = sorted(set(passes))
    last = passes[-1]
    never = len(passes)

    def first_pass(at: datetime | None) -> int:
        """The first pass that starts at or after `at`; `never` if none does."""
        return never if at is None else bisect.bisect_left(passes, at)

    def during(at: datetime) -> int:
        """The pass under way at `at`: each runs until the next one starts."""
        return bisect.bisect_right(passes, at) - 1

    # What the logs say: items, their due dates, withdrawals and tombstones.
    clips: dict[str, tuple[str, str, datetime | None]] = {}  # clip -> log, consent, delete_after
    derived: list[tuple[str, list[str], datetime | None]] = []  # in log order
    tenant_of: dict[str, str] = {}
    worker_of: dict[str, str] = {}
    withdrawn: dict[str, datetime] = {}
    tombstones: dict[str, list[tuple[datetime, str, str]]] = defaultdict(list)
    erasure_entries: dict[str, list[tuple[str, int, list[str]]]] = defaultdict(list)
    with container.db.session() as session:
        log_tenant = {r.id: r.tenant_id for r in session.execute(select(Log.id, Log.tenant_id))}
    for log_id, entry in log_entries(container):
        data, kind = entry["data"], entry["type"]
        if kind == "clip.registered":
            clips[data["clip"]] = (log_id, data["consent"], moment(data["delete_after"]))
            tenant_of[data["clip"]] = log_tenant[log_id]
            worker_of[data["clip"]] = entry["subject"]
        elif kind == "derivation.recorded":
            derived.append((data["item"], data["parents"], moment(data["delete_after"])))
            tenant_of[data["item"]] = log_tenant[log_id]
        elif kind == "consent.withdrawn" and data["complete"]:
            withdrawn[data["consent"]] = moment(entry["ts"]) or last
        elif kind == "items.erased":
            at = moment(entry["ts"]) or last
            for item in data["items"]:
                tombstones[item].append((at, data["reason"], data["erasure"]))
            erasure_entries[data["erasure"]].append((log_id, entry["seq"], data["items"]))

    def earliest(*times: datetime | None) -> datetime | None:
        known = [t for t in times if t is not None]
        return min(known) if known else None

    due: dict[str, datetime | None] = {}
    for clip, (_, consent, after) in clips.items():
        due[clip] = earliest(after, withdrawn.get(consent))
    for item, parents, after in derived:
        due[item] = earliest(due.get(item), after, *(due[p] for p in parents))

    # Each item: erased once, in the first pass at or after its due time, or kept.
    to_erase = set()
    for item, when in due.items():
        found.items += 1
        expected = first_pass(when)
        stones = tombstones.get(item, [])
        found.duplicates += len(stones) > 1
        if expected == never and not stones:  # due after the last pass began, or never
            found.kept += 1
            continue
        if when is None:
            found.unexpected += 1
            continue
        found.due += 1
        to_erase.add(item)
        if not stones:
            found.missing += 1
            continue
        found.erased += 1
        found.clips_erased += item in clips
        at, reason, _ = stones[0]
        found.max_lateness_s = max(found.max_lateness_s, (at - when).total_seconds())
        found.late += during(at) > expected
        found.early += at < when
        if item in clips:
            _, consent, after = clips[item]
            retention_first = first_pass(after) <= first_pass(withdrawn.get(consent))
            found.wrong_reason += reason != (
                ErasureReason.RETENTION_ENDED
                if retention_first
                else ErasureReason.CONSENT_WITHDRAWN
            )
    found.unexpected += len(set(tombstones) - set(due))
    found.passes_with_erasures = len(
        {during(at) for stones in tombstones.values() for at, _, _ in stones}
    )
    found.duplicates += sum(len(e) > 1 for e in erasure_entries.values())

    # The rows agree with the log.
    with container.db.session() as session:
        for item_id, status, sha256, salt in session.execute(
            select(Item.id, Item.status, Item.sha256, Item.salt)
        ):
            if item_id in to_erase:
                found.rows_wrong += (
                    status != ItemStatus.ERASED or sha256 is not None or salt is not None
                )
            else:
                found.rows_wrong += status != ItemStatus.ACTIVE or sha256 is None or salt is None
        document = {"keys": container.keys.published(session)}
        erasures = session.execute(
            select(
                Erasure.id,
                Erasure.status,
                Erasure.log_index,
                Erasure.certificate,
                Erasure.erased_at,
                Erasure.certified_at,
            )
        ).all()
        keys = {
            r.worker_id: r.wrapped
            for r in session.execute(select(WorkerKey.worker_id, WorkerKey.wrapped))
        }
    found.erasures = len(erasures)
    found.keys_destroyed = sum(wrapped is None for wrapped in keys.values())
    for erasure_id, status, log_index, certificate, erased_at, certified_at in erasures:
        logged = erasure_entries.get(erasure_id, [])
        if status != ErasureStatus.DONE or len(logged) != 1 or logged[0][1] != log_index:
            found.erasures_unfinished += 1
            continue
        if certificate is None or erased_at is None or certified_at is None:
            found.uncertified += 1
            continue
        found.certified_late += during(certified_at) > during(erased_at)
        try:
            claims = verify_certificate(certificate, document)
            matches = sorted(i["id"] for i in claims["items"]) == logged[0][2]
            found.certificates += matches
            found.bad_certificates += not matches
        except CertificateError:
            found.bad_certificates += 1
    found.erasures_unfinished += len(set(erasure_entries) - {e.id for e in erasures})

    # The vault: erased clips' objects gone, the others' kept; shredded keys.
    folder = container.settings.vault_folder
    stored: set[str] = set()
    for tenant in set(tenant_of.values()):
        if (folder / tenant).is_dir():
            stored |= {f"{tenant}/{name}" for name in os.listdir(folder / tenant)}
    holding: dict[str, bool] = {}
    for clip in clips:
        present = object_name(tenant_of[clip], clip) in stored
        if clip in to_erase:
            found.objects_left += present
        else:
            found.objects_lost += not present
        holding[worker_of[clip]] = holding.get(worker_of[clip], False) or clip not in to_erase
    for worker, holds in holding.items():
        live = keys.get(worker) is not None
        found.keys_left += live and not holds
        found.keys_lost += holds and not live

    found.logs_failing = sum(not report.ok for report in verify_database(container.db))
    found.check_seconds = time.perf_counter() - started
    return found


# A run ----------------------------------------------------------------------------------------


@dataclass
class Outcome:
    figures: dict[str, Any]
    findings: Findings
    passes: list[datetime]

    def problems(self) -> list[str]:
        """The findings' broken invariants, and the faults' own: in every race exactly one
        sweep skipped, and nothing a dead process left was still pending after the next pass."""
        problems = self.findings.problems()
        if self.figures["race_skips"] != self.figures["races"]:
            problems.append(
                f"races_without_one_skip={self.figures['races'] - self.figures['race_skips']}"
            )
        if self.figures["unfinished_after_crash"]:
            problems.append(f"unfinished_after_crash={self.figures['unfinished_after_crash']}")
        return problems


def soak(settings: Settings, config: Config) -> Outcome:
    """Set up, run the year, check; on the database `settings` names (fresh and empty)."""
    clock = PassClock(START)
    container = build(settings, clock=clock)
    try:
        t0 = time.perf_counter()
        workers = setup(container, config)
        setup_s = time.perf_counter() - t0
        # The checkpoint job, which runs every second, has covered the setup by the year's
        # first pass.
        clock.move_to(clock.now() + timedelta(seconds=1))
        checkpoint_due(container.appender)
        backend = container.db.engine.dialect.name
        kept = durability(container.db.engine)
    finally:
        container.close()
    load_before = os.getloadavg()[0]
    year = run_year(settings, clock, config, workers)
    load_after = os.getloadavg()[0]
    container = build(settings, clock=clock, migrate=False)
    try:
        findings = check(container, year.passes)
        with container.db.session() as session:
            items = int(session.scalar(select(func.count()).select_from(Item)) or 0)
    finally:
        container.close()
    pass_s = sorted(year.pass_seconds)
    month = max(1, int(timedelta(days=30) / config.step))
    sweep_s = sum(year.pass_seconds)
    figures: dict[str, Any] = {
        "backend": backend,
        "durability": kept,
        "clips": config.clips,
        "items": items,
        "tenants": config.tenants,
        "workers": config.worker_count,
        "step_hours": config.step / timedelta(hours=1),
        "days": config.days,
        "setup_seconds": round(setup_s, 1),
        "passes": len(year.passes),
        "passes_with_erasures": findings.passes_with_erasures,
        "withdrawals": year.withdrawals,
        "erasures": findings.erasures,
        "items_erased": findings.erased,
        "clips_erased": findings.clips_erased,
        "keys_destroyed": findings.keys_destroyed,
        "certificates": findings.certificates,
        "wall_seconds": round(year.wall_seconds, 1),
        "sweep_seconds": round(sweep_s, 1),
        "checkpoint_job_seconds": round(year.job_seconds.get("log.checkpoint", 0.0), 1),
        "clips_erased_per_second": round(findings.clips_erased / sweep_s) if sweep_s else 0,
        "items_erased_per_second": round(findings.erased / sweep_s) if sweep_s else 0,
        "pass_ms_median": round(1000 * statistics.median(pass_s), 1),
        "pass_ms_p99": round(1000 * percentile(pass_s, 99), 1),
        "pass_ms_max": round(1000 * pass_s[-1], 1),
        # Does a pass slow down as the year goes on (erased rows, tombstones, withdrawals)?
        "pass_ms_median_first_month": round(1000 * statistics.median(year.pass_seconds[:month]), 1),
        "pass_ms_median_last_month": round(1000 * statistics.median(year.pass_seconds[-month:]), 1),
        "passes_over_1s": sum(t >= 1 for t in pass_s),  # e.g. a sweep waiting for a checkpoint
        "passes_left_uncovered": year.uncovered,
        "certified_a_pass_late": findings.certified_late,
        "races": year.races,
        "race_skips": year.race_skips,
        "crashes": year.crashes,
        "erasures_left_by_crashes": year.left_by_crashes,
        "unfinished_after_crash": year.unfinished_after_crash,
        "due": findings.due,
        "erased": findings.erased,
        "kept": findings.kept,
        "max_lateness_hours": round(findings.max_lateness_s / 3600, 2),
        "late": findings.late,
        "duplicates": findings.duplicates,
        "missing": findings.missing,
        "check_seconds": round(findings.check_seconds, 1),
        "load_average_before_after": [round(load_before, 1), round(load_after, 1)],  # shared host
    }
    outcome = Outcome(figures, findings, year.passes)
    figures["problems"] = outcome.problems()
    return outcome


# Command line --------------------------------------------------------------------------------


@contextmanager
def scratch(backend: str, tmp: Path, postgres: str) -> Iterator[str]:
    """A fresh database for one run, removed after it."""
    if backend == "sqlite":
        yield f"sqlite:///{tmp / 'custody.db'}"
        return
    admin_url = make_url(postgres)
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    name = f"soak_{secrets.token_hex(4)}"
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        try:
            yield admin_url.set(database=name).render_as_string(hide_password=False)
        finally:
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        admin.dispose()


@contextmanager
def cleaned(folder: Path) -> Iterator[None]:
    try:
        yield
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    p.add_argument("--clips", type=int, default=100_000)
    p.add_argument("--step-hours", type=float, default=6.0, help="fake time between passes")
    p.add_argument("--backends", default="sqlite,postgresql")
    p.add_argument("--tenants", type=int, default=3)
    p.add_argument("--workers", type=int, default=0, help="default: one per 20 clips")
    p.add_argument("--days", type=int, default=365)
    p.add_argument("--seed", type=int, default=2026)
    p.add_argument(
        "--postgres-url", default=POSTGRES, help="a server where we may create a database"
    )
    p.add_argument("--out", type=Path, default=Path(__file__).with_name("results-soak.json"))
    return p.parse_args(argv)


ROWS = [
    ("clips", "clips"),
    ("items", "items (clips + labels)"),
    ("passes", "passes"),
    ("erasures", "erasures"),
    ("items_erased", "items erased"),
    ("setup_seconds", "setup s"),
    ("wall_seconds", "year wall s"),
    ("sweep_seconds", "sweep s (all passes)"),
    ("clips_erased_per_second", "clips erased / s"),
    ("pass_ms_median", "pass ms, median"),
    ("pass_ms_p99", "pass ms, p99"),
    ("pass_ms_max", "pass ms, max"),
    ("pass_ms_median_first_month", "pass ms, median, 1st month"),
    ("pass_ms_median_last_month", "pass ms, median, last month"),
    ("passes_over_1s", "passes taking over 1 s"),
    ("max_lateness_hours", "max lateness h"),
    ("late", "late"),
    ("duplicates", "duplicates"),
    ("missing", "missing"),
]


RATIOS = {
    "setup_seconds",
    "wall_seconds",
    "sweep_seconds",
    "clips_erased_per_second",
    "pass_ms_median",
    "pass_ms_p99",
    "pass_ms_max",
    "pass_ms_median_first_month",
    "pass_ms_median_last_month",
}


def table(results: dict[str, dict[str, Any]]) -> str:
    """The figures side by side; with two backends, the second's over the first's for times
    and rates."""
    names = list(results)
    compare = len(names) == 2
    lines = [f"{'':28}" + "".join(f"{n:>14}" for n in names)]
    if compare:
        lines[0] += f"{'ratio':>10}"
    for key, label in ROWS:
        values = [results[n][key] for n in names]
        line = f"{label:28}" + "".join(
            f"{v:>14,}" if isinstance(v, int) else f"{v:>14}" for v in values
        )
        if compare and key in RATIOS and values[0]:
            line += f"{values[1] / values[0]:>10.2f}"
        lines.append(line)
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    config = Config(
        clips=args.clips,
        tenants=args.tenants,
        workers=args.workers,
        step=timedelta(hours=args.step_hours),
        days=args.days,
        seed=args.seed,
    )
    results: dict[str, dict[str, Any]] = {}
    failed = False
    for backend in args.backends.split(","):
        tmp = Path(tempfile.mkdtemp(prefix=f"custody-soak-{backend}-"))
        with scratch(backend, tmp, args.postgres_url) as url, cleaned(tmp):
            print(
                f"{backend}: {config.clips:,} clips, a pass every {args.step_hours:g} h", flush=True
            )
            outcome = soak(Settings(data_dir=tmp / "data", database_url=url), config)
        results[backend] = outcome.figures
        failed |= bool(outcome.problems())
        print(json.dumps(outcome.figures, indent=2), flush=True)
    print(table(results))
    document = {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": f"{platform.machine()} {os.cpu_count()} cores, {platform.python_version()}",
        "command": " ".join(["python -m loadtest.soak", *(argv or sys.argv[1:])]),
        "results": results,
    }
    args.out.write_text(json.dumps(document, indent=2) + "\n")
    print("ALL INVARIANTS HOLD" if not failed else "INVARIANTS BROKEN (see problems above)")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
