"""Every background job, registered in one place under a stable id, in two kinds.

Scheduled jobs run on the clock and are led by one process (`custody scheduler`, whichever
holds the leadership lock); queued jobs work through rows claimed in the database and run in
as many job runners as wanted (`custody worker`). `custody serve` runs both kinds itself.
Every job is also safe to run twice at once (a lock of its own, or claimed rows), so a
leader that lost its lock without noticing yet does no harm.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence

from apscheduler.schedulers.background import BackgroundScheduler
from sqlalchemy.exc import InterfaceError, OperationalError

from api.container import Container
from ledger.log.appender import checkpoint_due

log = logging.getLogger("custody.jobs")
WEBHOOK_SECONDS = 5
REDACTION_SECONDS = 2
IDEMPOTENCY_SECONDS = 3600
LEADER_CHECK_SECONDS = 2.0
OUTAGES = (OperationalError, InterfaceError)  # the database went away; it comes back

Job = tuple[str, Callable[[], object], float]
Queued = tuple[str, Callable[[], int], float]  # a run answers how many rows it worked through


def scheduled_jobs(container: Container) -> list[Job]:
    settings = container.settings
    return [
        ("log.checkpoint", lambda: checkpoint_due(container.appender), settings.checkpoint_seconds),
        ("retention.sweep", container.retention.sweep, settings.sweep_seconds),
        ("manifests.watch", container.manifest_watch.run, WEBHOOK_SECONDS),
        ("idempotency.expire", container.idempotency.expire, IDEMPOTENCY_SECONDS),
    ]


def queued_jobs(container: Container) -> list[Queued]:
    return [
        ("webhooks.deliver", lambda: container.webhooks.deliver_due().attempted, WEBHOOK_SECONDS),
        ("redaction.run", container.redactions.run_due, REDACTION_SECONDS),
    ]


def build_scheduler(container: Container, jobs: Sequence[Job] | None = None) -> BackgroundScheduler:
    """An APScheduler running `jobs` (by default every job: the embedded layout)."""
    if jobs is None:
        jobs = scheduled_jobs(container) + queued_jobs(container)
    scheduler = BackgroundScheduler(timezone="UTC")
    for job_id, run, seconds in jobs:
        scheduler.add_job(
            run,
            "interval",
            seconds=seconds,
            id=job_id,
            max_instances=1,
            coalesce=True,
            replace_existing=True,
        )
    return scheduler


def lead(container: Container, stop: threading.Event, standby_seconds: float = 2.0) -> None:
    """Run the scheduled jobs while this process holds the leadership lock; otherwise stand
    by and try again. A leader whose lock went with its database connection (a restart of
    PostgreSQL) stops its jobs and stands for leadership again. Returns when `stop` is set."""
    while not stop.is_set():
        try:
            with container.db.leadership("custody.scheduler") as still_held:
                if still_held is None:
                    stop.wait(standby_seconds)
                    continue
                log.info("scheduler: leading")
                scheduler = build_scheduler(container, scheduled_jobs(container))
                scheduler.start()
                try:
                    while not stop.wait(LEADER_CHECK_SECONDS) and still_held():
                        pass
                finally:
                    scheduler.shutdown(wait=True)
                if not stop.is_set():
                    log.warning("scheduler: lost the leadership lock; standing again")
        except OUTAGES as exc:  # the database unreachable: wait and stand again
            log.warning("scheduler: cannot reach the database (%s)", type(exc).__name__)
            stop.wait(standby_seconds)


def work(container: Container, stop: threading.Event, idle_seconds: float = 1.0) -> None:
    """Run the queued jobs until `stop` is set: each takes what it claims, one batch at a
    time; the runner rests only when a round found nothing to do."""
    while not stop.is_set():
        busy = False
        for job_id, run, _ in queued_jobs(container):
            try:
                busy = bool(run()) or busy
            except OUTAGES as exc:
                log.warning("job %s: cannot reach the database (%s)", job_id, type(exc).__name__)
            except Exception:  # a bug or storage failing: say so, rest, go on
                log.exception("job %s failed", job_id)
        if not busy:
            stop.wait(idle_seconds)
