"""Every scheduled job, registered in one place under a stable id."""

from __future__ import annotations

import logging
from collections.abc import Callable

from apscheduler.schedulers.background import BackgroundScheduler

from api.container import Container
from ledger.appender import checkpoint_due

log = logging.getLogger("custody.jobs")
WEBHOOK_SECONDS = 5
REDACTION_SECONDS = 2
IDEMPOTENCY_SECONDS = 3600


def build_scheduler(container: Container) -> BackgroundScheduler:
    settings = container.settings
    jobs: list[tuple[str, Callable[[], object], float]] = [
        ("log.checkpoint", lambda: checkpoint_due(container.appender), settings.checkpoint_seconds),
        ("retention.sweep", container.retention.sweep, settings.sweep_seconds),
        ("manifests.watch", container.manifest_watch.run, WEBHOOK_SECONDS),
        ("webhooks.deliver", container.webhooks.deliver_due, WEBHOOK_SECONDS),
        ("redaction.run", container.redactions.run_due, REDACTION_SECONDS),
        ("idempotency.expire", container.idempotency.expire, IDEMPOTENCY_SECONDS),
    ]
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
