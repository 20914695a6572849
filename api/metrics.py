"""Prometheus metrics (`GET /metrics`) and readiness (`GET /readyz`).

Counted as requests are served: latency by method, route template and status (never a
path, which can hold a worker's reference), and use-check decisions by reason. Read from
the database at each scrape: log entries and logs, the age of the oldest log growth no
signed checkpoint covers yet, deletions due, overdue and under way, and the depth of each
job queue. Nothing is labelled by tenant or worker.
"""

from __future__ import annotations

import collections
import os
import time
from collections.abc import Iterable, Iterator

from apiflask import APIFlask
from flask import Response, current_app, g, request
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector
from sqlalchemy import func, select, text

from api.container import Container
from api.errors import problem
from ledger.db import schema_is_current
from ledger.items.decisions import Decision
from ledger.models import Log
from redaction.jobs import RedactionStatus
from redaction.models import Redaction
from retention.erasure import ErasureStatus
from retention.models import Erasure, WebhookDelivery
from retention.status import retention_status
from retention.webhooks import DeliveryStatus

BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class StateCollector(Collector):
    """Gauges read from the database when scraped, so every process reports the same."""

    def __init__(self, container: Container) -> None:
        self.container = container

    def collect(self) -> Iterator[Metric]:
        db, now = self.container.db, self.container.clock.now()
        with db.session() as session:
            logs = session.execute(select(Log.size, Log.checkpoint_size, Log.checkpoint_at)).all()
            status = retention_status(session, now)
            queues = {
                "redaction": session.scalar(
                    select(func.count()).where(
                        Redaction.status.in_((RedactionStatus.QUEUED, RedactionStatus.RUNNING))
                    )
                ),
                "erasure": session.scalar(
                    select(func.count()).where(Erasure.status == ErasureStatus.PENDING)
                ),
                "webhook": session.scalar(
                    select(func.count()).where(WebhookDelivery.status == DeliveryStatus.PENDING)
                ),
            }
        yield GaugeMetricFamily("custody_logs", "Tenant logs", value=len(logs))
        yield GaugeMetricFamily(
            "custody_log_entries", "Entries in all logs", value=sum(size for size, _, _ in logs)
        )
        uncovered = [
            (now - at).total_seconds() if at else 0.0
            for size, covered, at in logs
            if size > covered
        ]
        yield GaugeMetricFamily(
            "custody_checkpoint_age_seconds",
            "Age of the last checkpoint of the log that has waited longest for one (0 when "
            "every log's growth is covered)",
            value=max(uncovered, default=0.0),
        )
        deletions = GaugeMetricFamily(
            "custody_deletions", "Items by deletion state", labels=["state"]
        )
        for state in ("due", "overdue", "being_erased", "due_within_7_days"):
            deletions.add_metric([state], status.items[state])
        deletions.add_metric(["erasures_overdue"], status.erasures["overdue"])
        deletions.add_metric(["requests_overdue"], status.requests["overdue"])
        yield deletions
        depth = GaugeMetricFamily(
            "custody_job_queue_depth", "Jobs waiting or running", labels=["queue"]
        )
        for queue, count in queues.items():
            depth.add_metric([queue], count or 0)
        yield depth


class Metrics:
    def __init__(self, container: Container) -> None:
        self.registry = CollectorRegistry()
        self.latency = Histogram(
            "custody_http_request_duration_seconds",
            "Time to answer a request, by route",
            ["method", "route", "status"],
            registry=self.registry,
            buckets=BUCKETS,
        )
        self.decisions = Counter(
            "custody_check_decisions",
            "Use decisions by outcome and reason (a denial counts once for each reason)",
            ["decision", "reason"],
            registry=self.registry,
        )
        self.registry.register(StateCollector(container))
        self.exposed = self.registry
        if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):  # several processes: add theirs up
            self.exposed = CollectorRegistry()
            MultiProcessCollector(self.exposed)  # type: ignore[no-untyped-call]
            self.exposed.register(StateCollector(container))

    def decided(self, decisions: Iterable[Decision]) -> None:
        none = ("none",)  # the reason label of an allowed use
        counted = collections.Counter(
            (d.decision, reason) for d in decisions for reason in (d.reasons or none)
        )
        for (decision, reason), n in counted.items():
            self.decisions.labels(decision, reason).inc(n)


def metrics() -> Metrics:
    """The app's metrics, from a view."""
    found: Metrics = current_app.extensions["custody_metrics"]
    return found


def install(app: APIFlask, container: Container) -> None:
    app.extensions["custody_metrics"] = recorder = Metrics(container)

    @app.before_request
    def _start() -> None:
        g.started = time.perf_counter()

    @app.after_request
    def _observe(response: Response) -> Response:
        started = g.get("started")
        if started is not None:
            route = request.url_rule.rule if request.url_rule else "unmatched"
            recorder.latency.labels(request.method, route, str(response.status_code)).observe(
                time.perf_counter() - started
            )
        return response

    @app.get("/metrics")
    @app.doc(hide=True)
    def scrape() -> Response:
        return Response(generate_latest(recorder.exposed), mimetype=CONTENT_TYPE_LATEST)

    @app.get("/readyz")
    @app.doc(hide=True)
    def ready() -> Response:
        """Ready when the database answers and is at the newest migration."""
        try:
            with container.db.session() as session:
                session.execute(text("SELECT 1"))
            current = schema_is_current(container.db.engine)
        except Exception as exc:  # any failure to reach the database means not ready
            return problem(503, f"The database cannot be reached: {type(exc).__name__}.")
        if not current:
            return problem(503, "The database is not at the newest migration: run migrations.")
        return Response('{"status":"ready"}', mimetype="application/json")
