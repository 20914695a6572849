"""Every scheduled job, registered in one place under a stable id."""

from __future__ import annotations

import logging

from apscheduler.schedulers.background import BackgroundScheduler

from api.container import Container
from ledger.appender import checkpoint_due

log = logging.getLogger("custody.jobs")
WEBHOOK_SECONDS = 5
REDACTION_SECONDS = 2


def build_scheduler(container: Container) -> BackgroundScheduler:
    scheduler = BackgroundScheduler(timezone="UTC")
    scheduler.add_job(
        checkpoint_due,
        "interval",
        seconds=container.settings.checkpoint_seconds,
        args=[container.appender],
        id="log.checkpoint",
        max_instances=1,
        coalesce=True,
        replace_existing=True,
    )
    scheduler.add_job(
        container.retention.sweep,
        "interval",
        seconds=container.settings.sweep_seconds,
        id="retention.sweep",
        max_instances=1,
        coalesce=True,
        replace_existing=True,
    )
    scheduler.add_job(
        container.webhooks.deliver_due,
        "interval",
        seconds=WEBHOOK_SECONDS,
        id="webhooks.deliver",
        max_instances=1,
        coalesce=True,
        replace_existing=True,
    )
    scheduler.add_job(
        container.redactions.run_due,
        "interval",
        seconds=REDACTION_SECONDS,
        id="redaction.run",
        max_instances=1,
        coalesce=True,
        replace_existing=True,
    )
    return scheduler
